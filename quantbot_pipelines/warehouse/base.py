"""The warehouse interface: the one storage contract every stage writes and reads through.

Small on purpose, so that a Parquet folder and a ClickHouse server both fit it:

- a table is a `TableSpec` (schemas.py) whose `partition_by` columns name its partitions;
- `write_partition` replaces one partition atomically (readers see the old rows or the new, never a mix),
  which makes every re-run idempotent;
- `read` returns a polars DataFrame filtered by partition values and simple column predicates.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
import pyarrow as pa

from quantbot_pipelines.schemas import ALL_TABLES, TableSpec

# A predicate: (column, op, value). op is one of = != < <= > >= in.
Predicate = tuple[str, str, Any]
Partition = Mapping[str, Any]
OPS = ("=", "!=", "<", "<=", ">", ">=", "in")


def spec_of(table: str | TableSpec) -> TableSpec:
    if isinstance(table, TableSpec):
        return table
    try:
        return ALL_TABLES[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; known: {sorted(ALL_TABLES)}") from None


def partition_value(spec: TableSpec, column: str, value: Any) -> Any:
    """Normalise a partition value: date columns accept 'YYYY-MM-DD' strings (Dagster partition keys)."""
    if pa.types.is_date32(spec.schema.field(column).type) and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def check_partition(spec: TableSpec, partition: Partition) -> dict[str, Any]:
    if set(partition) != set(spec.partition_by):
        raise ValueError(f"{spec.name}: partition needs exactly {spec.partition_by}, got {tuple(partition)}")
    return {c: partition_value(spec, c, partition[c]) for c in spec.partition_by}


def _match(value: Any, op: str, target: Any) -> bool:
    if op == "in":
        return value in target
    if value is None:
        return False
    return {"=": value == target, "!=": value != target, "<": value < target, "<=": value <= target,
            ">": value > target, ">=": value >= target}[op]


def partition_matches(spec: TableSpec, partition: Mapping[str, Any], preds: Iterable[Predicate]) -> bool:
    """Whether a partition's values satisfy predicates on partition columns (values normalised as keys are)."""
    for col, op, value in preds:
        target = [partition_value(spec, col, v) for v in value] if op == "in" else partition_value(spec, col, value)
        if not _match(partition[col], op, target):
            return False
    return True


def check_predicates(where: Iterable[Predicate] | None) -> list[Predicate]:
    out = []
    for col, op, value in where or ():
        if op not in OPS:
            raise ValueError(f"unsupported operator {op!r} in predicate on {col!r}; use one of {OPS}")
        out.append((col, op, value))
    return out


class Warehouse(ABC):
    """Partitioned tables with atomic partition replace."""

    @abstractmethod
    def write_partition(self, table: str | TableSpec, partition: Partition, data: pa.Table | pl.DataFrame) -> int:
        """Replace the rows of one partition with `data` (conformed to the schema); returns rows written.

        Rows of `data` must carry the partition's values in the partition columns (or leave them null,
        and they are filled in). An empty `data` leaves an empty partition (materialized, no rows).
        """

    @abstractmethod
    def read(
        self,
        table: str | TableSpec,
        where: Sequence[Predicate] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Rows of all partitions matching `where` (predicates on any column, partition columns included)."""

    @abstractmethod
    def partitions(self, table: str | TableSpec) -> list[dict[str, Any]]:
        """The partitions that exist (written at least once, possibly empty)."""

    @abstractmethod
    def delete_partition(self, table: str | TableSpec, partition: Partition) -> None:
        """Drop one partition; a missing partition is not an error."""

    def read_partitions(self, table: str | TableSpec, partitions: Iterable[Partition],
                        columns: Sequence[str] | None = None) -> pl.DataFrame:
        """Rows of the given partitions (of a single-column partitioning)."""
        spec = spec_of(table)
        if len(spec.partition_by) != 1:
            raise ValueError(f"{spec.name}: read_partitions needs a single partition column; use read(where=...)")
        col = spec.partition_by[0]
        values = [partition_value(spec, col, p[col]) for p in partitions]
        return self.read(spec, where=[(col, "in", values)], columns=columns)

    def close(self) -> None:  # optional hook
        """Release connections; a no-op where there are none."""


def to_arrow(spec: TableSpec, data: pa.Table | pl.DataFrame, partition: dict[str, Any]) -> pa.Table:
    """Conform `data` to the schema and check/fill its partition columns."""
    table = data.to_arrow() if isinstance(data, pl.DataFrame) else data
    for col, value in partition.items():
        if col in table.column_names:
            column = table.column(col)
            if column.null_count == len(column) and len(column):
                table = table.set_column(table.column_names.index(col), col,
                                         pa.array([value] * table.num_rows, spec.schema.field(col).type))
            elif len(column):
                distinct = pl.from_arrow(column.unique()).to_list()
                bad = [v for v in distinct if v != value]
                if bad:
                    raise ValueError(f"{spec.name}: rows for partition {partition} carry {col}={bad[0]!r}")
        else:
            table = table.append_column(col, pa.array([value] * table.num_rows, spec.schema.field(col).type))
    return spec.conform(table)
