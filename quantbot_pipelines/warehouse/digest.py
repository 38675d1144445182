"""Row count and content hash of every table: proof that two warehouses hold the same answers (a refactor, an
engine switch, a re-run).

The hash is of the rows sorted on every column, so it depends neither on partition order nor on file layout.
Wall-clock columns (when a row was fetched or failed) are left out, and file paths count from the inbox, so
the same inputs give the same digest on any machine and in any folder.
"""

from __future__ import annotations

import hashlib

import polars as pl

from quantbot_pipelines.schemas import ALL_TABLES
from quantbot_pipelines.warehouse.base import Warehouse

CLOCK_COLUMNS = ("fetched_at", "failed_at")


def table_digest(df: pl.DataFrame) -> str:
    df = df.drop(CLOCK_COLUMNS, strict=False)
    if "source_file" in df.columns:  # an absolute path: keep the export's own part (folder / file)
        df = df.with_columns(pl.col("source_file").str.split("/").list.slice(-2).list.join("/"))
    df = df.select(sorted(df.columns))
    df = df.sort(df.columns, nulls_last=True) if df.height else df
    h = hashlib.sha256()
    for batch in df.iter_slices(50_000):
        h.update(batch.write_csv(include_header=False).encode())
    return h.hexdigest()[:16]


def warehouse_digest(warehouse: Warehouse) -> dict[str, dict]:
    """{table: {rows, columns, hash}} for every table the pipeline writes."""
    out = {}
    for name in sorted(ALL_TABLES):
        df = warehouse.read(name)
        out[name] = {"rows": df.height, "columns": len(df.columns), "hash": table_digest(df)}
    return out
