"""Row count and content hash of every table in a warehouse: proof that a change left the results alone.

    python scripts/table_digest.py [parquet-folder] > digest.json

The hash is of the rows sorted on every column, so it does not depend on partition order or file layout.
Columns that record when something ran (wall-clock times) are left out; they differ on every run.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import polars as pl

from quantbot_pipelines.schemas import ALL_TABLES
from quantbot_pipelines.warehouse import ParquetWarehouse

# wall-clock columns: when a row was fetched, staged or failed, not what it says
CLOCK_COLUMNS = {"fetched_at", "failed_at"}


def digest(df: pl.DataFrame) -> str:
    df = df.select(sorted(c for c in df.columns if c not in CLOCK_COLUMNS))
    df = df.sort(df.columns, nulls_last=True) if df.height else df
    h = hashlib.sha256()
    for batch in df.iter_slices(50_000):
        h.update(batch.write_csv(include_header=False).encode())
    return h.hexdigest()[:16]


def table_digests(folder: str) -> dict[str, dict]:
    wh = ParquetWarehouse(folder)
    out = {}
    for name in sorted(ALL_TABLES):
        df = wh.read(name)
        out[name] = {"rows": df.height, "columns": len(df.columns), "hash": digest(df)}
    return out


if __name__ == "__main__":
    print(json.dumps(table_digests(sys.argv[1] if len(sys.argv) > 1 else "data/warehouse"), indent=1))
