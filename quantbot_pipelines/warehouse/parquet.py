"""The embedded warehouse: one Parquet file per table partition, in hive-style folders.

    <root>/<table>/day=2025-03-02/data.parquet
    <root>/<table>/day=2025-03-02/strategy=tp2x/data.parquet

One file per partition makes replace atomic with a single rename: the new file is written beside the old
under a unique temporary name and `os.replace`d over it. A reader opens each partition file once and reads
its footer and its pages through that one handle, which stays on the file it opened even when a writer
replaces the name a moment later; so readers (threads, other processes of Dagster's multiprocess executor,
concurrent runs) see either the old rows or the new, whole, never an error. A partition deleted between
listing and opening is simply not read. A writer killed at any point leaves the committed file as it was
and at most a temporary file, which a later write of the partition sweeps away (once it is an hour old: a
younger one may be a concurrent writer's). Durability against power loss (fsync) is not attempted.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from quantbot_pipelines.schemas import TableSpec
from quantbot_pipelines.warehouse.base import (
    Partition,
    Predicate,
    Warehouse,
    check_partition,
    check_predicates,
    partition_matches,
    partition_value,
    spec_of,
    to_arrow,
)

DATA_FILE = "data.parquet"
STALE_TMP_S = 3600  # a temporary file this old belongs to a crashed writer


def _fmt(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return quote(str(value), safe="")


class ParquetWarehouse(Warehouse):
    """Tables under `root`; safe for many processes writing different partitions at once."""

    def __init__(self, root: str | os.PathLike[str], *, compression: str = "zstd", row_group_size: int = 1_000_000):
        self.root = Path(root)
        self.compression = compression
        self.row_group_size = row_group_size

    def __repr__(self) -> str:
        return f"ParquetWarehouse({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------------------------------------
    def _table_dir(self, spec: TableSpec) -> Path:
        return self.root / spec.name

    def _partition_dir(self, spec: TableSpec, partition: dict[str, Any]) -> Path:
        d = self._table_dir(spec)
        for col in spec.partition_by:
            d = d / f"{col}={_fmt(partition[col])}"
        return d

    def _parse_dir(self, spec: TableSpec, rel: Path) -> dict[str, Any]:
        out = {}
        for col, part in zip(spec.partition_by, rel.parts, strict=True):
            name, _, raw = part.partition("=")
            if name != col:
                raise ValueError(f"unexpected folder {part!r} under {self._table_dir(spec)}")
            out[col] = partition_value(spec, col, unquote(raw))
        return out

    # -- interface -----------------------------------------------------------------------------------------
    def write_partition(self, table, partition: Partition, data) -> int:
        spec = spec_of(table)
        part = check_partition(spec, partition)
        arrow = to_arrow(spec, data, part)
        target_dir = self._partition_dir(spec, part)
        target_dir.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - STALE_TMP_S
        for stale in target_dir.glob(f".{DATA_FILE}.*.tmp"):
            # a crashed writer's leftovers; a younger file may be a concurrent writer's, still being written
            try:
                if stale.stat().st_mtime < cutoff:
                    stale.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
        tmp = target_dir / f".{DATA_FILE}.{uuid.uuid4().hex}.tmp"
        for attempt in range(3):
            try:
                if spec.transient:  # lives until its day is written: the write's cost matters, not its size
                    pq.write_table(arrow, tmp, compression="lz4", write_statistics=False)
                else:
                    pq.write_table(arrow, tmp, compression=self.compression, row_group_size=self.row_group_size)
                break
            except FileNotFoundError:
                # a concurrent delete of a sibling partition removed the (then empty) folder: make it again
                if attempt == 2:
                    raise
                target_dir.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target_dir / DATA_FILE)
        return arrow.num_rows

    def partitions(self, table) -> list[dict[str, Any]]:
        spec = spec_of(table)
        base = self._table_dir(spec)
        if not base.exists():
            return []
        if not spec.partition_by:
            return [{}] if (base / DATA_FILE).exists() else []
        pattern = "/".join(["*"] * len(spec.partition_by)) + "/" + DATA_FILE
        found = [self._parse_dir(spec, f.parent.relative_to(base)) for f in base.glob(pattern)]
        return sorted(found, key=lambda p: tuple(str(p[c]) for c in spec.partition_by))

    def _matching_files(self, spec: TableSpec, preds: list[Predicate]) -> list[Path]:
        """The data files of the partitions matching `preds`, in partition order. A level with an = or in
        predicate is looked up by name; only other levels are listed, so a read of one day costs the same
        whether the table holds ten days or ten thousand."""
        if not spec.partition_by:
            f = self._table_dir(spec) / DATA_FILE
            return [f] if f.exists() else []
        level: list[tuple[Path, dict[str, Any]]] = [(self._table_dir(spec), {})]
        for col in spec.partition_by:
            named = [p for p in preds if p[0] == col and p[1] in ("=", "in")]
            nxt = []
            for folder, part in level:
                if named:
                    _, op, value = named[0]
                    values = value if op == "in" else [value]
                    wanted = sorted({partition_value(spec, col, v) for v in values}, key=str)
                    for v in wanted:
                        child = folder / f"{col}={_fmt(v)}"
                        if child.is_dir():
                            nxt.append((child, {**part, col: v}))
                    continue
                try:
                    entries = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
                except FileNotFoundError:
                    continue
                for name in entries:
                    key, sep, raw = name.partition("=")
                    if key == col and sep:
                        nxt.append((folder / name, {**part, col: partition_value(spec, col, unquote(raw))}))
            level = nxt
        found = sorted((tuple(str(part[c]) for c in spec.partition_by), folder) for folder, part in level
                       if partition_matches(spec, part, preds))
        return [folder / DATA_FILE for _, folder in found]

    def delete_partition(self, table, partition: Partition) -> None:
        spec = spec_of(table)
        part = check_partition(spec, partition)
        folder = self._partition_dir(spec, part)
        (folder / DATA_FILE).unlink(missing_ok=True)
        # short-lived partitions (one per journaled answer) would otherwise leave one empty folder each;
        # rmdir refuses a folder that is not empty (a writer's temporary file, a deeper partition)
        base = self._table_dir(spec)
        while folder != base:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent

    def read(self, table, where: Sequence[Predicate] | None = None, columns: Sequence[str] | None = None):
        spec = spec_of(table)
        preds = check_predicates(where)
        part_preds = [p for p in preds if p[0] in spec.partition_by]
        row_preds = [p for p in preds if p[0] not in spec.partition_by]
        files = self._matching_files(spec, part_preds)
        cols = list(columns) if columns else spec.columns
        filt = pq.filters_to_expression(_arrow_filter(spec, row_preds)) if row_preds else None
        filt_cols = {c for c, _, _ in row_preds}
        tables = []
        for f in files:
            try:
                source = pa.OSFile(str(f))
            except FileNotFoundError:
                continue  # deleted since it was listed
            # footer, schema and pages through this one handle: a replace of the name cannot come in between
            with source:
                fragment = ds.ParquetFileFormat().make_fragment(source)
                physical = set(fragment.physical_schema.names)
                if filt_cols <= physical:
                    # only the asked columns are decoded; row groups pruned by their statistics
                    t = _project(spec, fragment.to_table(filter=filt, columns=[c for c in cols if c in physical]),
                                 cols)
                else:
                    # a file older than a filtered column: add it (null) first, then filter in memory
                    t = _evolve(spec, fragment.to_table())
                    t = (t if filt is None else t.filter(filt)).select(cols)
            tables.append(t)
        if not tables:
            return pl.from_arrow(spec.empty().select(cols))
        return pl.from_arrow(pa.concat_tables(tables))


def _project(spec: TableSpec, table: pa.Table, cols: list[str]) -> pa.Table:
    """`cols` of the schema from a file's columns: cast to the schema's types, a nullable column the file
    predates as nulls (as _evolve does for whole rows)."""
    out = []
    for name in cols:
        field = spec.schema.field(name)
        if name in table.column_names:
            out.append(table.column(name).cast(field.type))
        elif field.nullable:
            out.append(pa.nulls(table.num_rows, field.type))
        else:
            raise ValueError(f"{spec.name}: required column {name!r} is missing")
    return pa.Table.from_arrays(out, schema=pa.schema([spec.schema.field(c) for c in cols]))


def _evolve(spec: TableSpec, table: pa.Table) -> pa.Table:
    """Files written before a nullable column was added read back with that column null."""
    if table.schema.equals(spec.schema):
        return table
    return spec.conform(table)


def _arrow_filter(spec: TableSpec, preds: list[Predicate]):
    """Row predicates as a pyarrow DNF filter (pushed down to row groups)."""
    if not preds:
        return None
    out = []
    for col, op, value in preds:
        type_ = spec.schema.field(col).type
        if op == "in":
            # typed, so that an empty list is a string (date, ...) array rather than a null one
            value = pa.array([_scalar(type_, v) for v in value], type_)
            out.append((col, "in", value))
        else:
            out.append((col, "==" if op == "=" else op, _scalar(type_, value)))
    return out


def _scalar(type_: pa.DataType, value: Any) -> Any:
    if pa.types.is_date32(type_) and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if pa.types.is_timestamp(type_) and isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return value
