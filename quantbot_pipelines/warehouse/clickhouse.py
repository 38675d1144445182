"""The production warehouse: ClickHouse through clickhouse-connect, a server or the in-process chDB engine.

    ClickHouseWarehouse("http://user@clickhouse:8123/quantbot", password=os.environ["CLICKHOUSE_PASSWORD"])
    ClickHouseWarehouse("chdb:///var/lib/quantbot/chdb")   # the same engine in process, no server

One code path for both: `clickhouse_connect.get_client(dsn=...)` picks the HTTP or the chDB backend from the
DSN scheme. Note: the Debian ClickHouse server package is 18.16 (from 2018), too old for
clickhouse-connect, so the tests run the chDB engine. chDB allows one process
per data folder at a time (a second process fails with `Error initializing EmbeddedServer`); threads of one
process share it.

Layout. Each table is created on first use from its `TableSpec`, with two hidden columns: `_qb_partition`
(the asset partition as `day=2025-03-02/interval=1m`) and `_qb_version` (the write id). Candle tables
(key chain, address, interval, open_ts) are `ReplacingMergeTree(_qb_version)` ordered by the key plus the
asset-partition columns (so replacement never collapses the rows of two asset partitions) and partitioned by
`toYYYYMM(open_ts)`; other tables are `MergeTree` ordered by (partition columns, natural key). A new
nullable column in the spec is added with `ALTER TABLE ... ADD COLUMN` on first use; older rows read null.
Names starting `_` are avoided for data because MergeTree reserves virtual columns such as `_part`.

Atomic, idempotent partition replace. ClickHouse has no atomic multi-part insert (outside experimental
transactions), so a commit record decides what readers see:

1. insert the new rows with a fresh write id (monotonic nanosecond clock) - invisible to readers so far;
2. commit: one row (table, partition, write id) into `_qb_partitions` - a single-row insert is atomic;
3. clean up: lightweight `DELETE` of the partition's rows with an older write id (asynchronous by default).

Every read keeps only `(_qb_partition, _qb_version)` pairs committed in `_qb_partitions`, so readers see
the old rows or the new, never a mix, never duplicates, whatever the state of merges and of the clean-up
mutation; the commit record also carries empty partitions (written, no rows) and deletions (a later
record with `deleted`). Concurrent writers of one partition: the higher write id wins, and each clean-up
only removes ids below its own. A writer that dies between 1 and 2 leaves invisible rows that the next
write of that partition removes. Residual window, candles only: a background merge may collapse a committed
row into a same-key row of a write whose commit has not landed yet (milliseconds), hiding it from a reader
in that instant or, if that writer then dies, until the partition is rewritten.

The password (in the DSN or given apart, e.g. from an environment variable) never appears in `repr`, logs
or errors: driver exceptions are re-raised as `WarehouseError` with the secret scrubbed and no chained
cause. Values in predicates are bound as server-side parameters, never interpolated into SQL.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from quantbot_pipelines.schemas import TableSpec
from quantbot_pipelines.warehouse.base import (
    Partition,
    Predicate,
    Warehouse,
    check_partition,
    check_predicates,
    partition_value,
    spec_of,
    to_arrow,
)

PART_COL = "_qb_partition"
VERSION_COL = "_qb_version"
REGISTRY = "_qb_partitions"
CANDLE_KEY = ("chain", "address", "interval", "open_ts")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SQL_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class WarehouseError(RuntimeError):
    """A ClickHouse failure, with any credential scrubbed from its message."""


class _Scrubbed(WarehouseError):
    """Raised inside a method; still chained to the driver's exception until `_public` re-raises it bare."""


def _public(method):
    """Re-raise scrubbed failures outside any `except`, so not even `__context__` keeps the driver's message."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except _Scrubbed as e:
            message = str(e)
        raise WarehouseError(message)
    return wrapper


def ch_type(type_: pa.DataType) -> str:
    """The ClickHouse type of an Arrow type (not-null form)."""
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "String"
    if pa.types.is_timestamp(type_):
        # DateTime64 rather than DateTime: chDB drops the zone of DateTime('UTC') in its Arrow output
        precision = {"s": 0, "ms": 3, "us": 6, "ns": 9}[type_.unit]
        return f"DateTime64({precision}, '{type_.tz or 'UTC'}')"
    if pa.types.is_date32(type_):
        return "Date32"
    if pa.types.is_boolean(type_):
        return "Bool"
    simple = {pa.float64(): "Float64", pa.float32(): "Float32", pa.int64(): "Int64", pa.int32(): "Int32",
              pa.int16(): "Int16", pa.int8(): "Int8", pa.uint64(): "UInt64", pa.uint32(): "UInt32"}
    if type_ in simple:
        return simple[type_]
    raise TypeError(f"no ClickHouse mapping for Arrow type {type_}")


def column_type(field: pa.Field) -> str:
    t = ch_type(field.type)
    return f"Nullable({t})" if field.nullable else t


def is_candles(spec: TableSpec) -> bool:
    return spec.key == CANDLE_KEY


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return f"`{name}`"


def partition_string(spec: TableSpec, part: dict[str, Any]) -> str:
    """The asset partition as stored in `_qb_partition`: hive-style, values URL-quoted."""
    def fmt(v: Any) -> str:
        return v.isoformat() if isinstance(v, dt.date) else quote(str(v), safe="")
    return "/".join(f"{c}={fmt(part[c])}" for c in spec.partition_by)


def parse_partition_string(spec: TableSpec, text: str) -> dict[str, Any]:
    if not spec.partition_by:
        return {}
    out: dict[str, Any] = {}
    for col, piece in zip(spec.partition_by, text.split("/"), strict=True):
        name, _, raw = piece.partition("=")
        if name != col:
            raise ValueError(f"{spec.name}: unexpected partition {text!r}")
        type_ = spec.schema.field(col).type
        value: Any = unquote(raw)
        if pa.types.is_integer(type_):
            value = int(value)
        out[col] = partition_value(spec, col, value)
    return out


def create_table_sql(spec: TableSpec) -> str:
    cols = [f"{_ident(f.name)} {column_type(f)}" for f in spec.schema]
    cols += [f"{PART_COL} LowCardinality(String)", f"{VERSION_COL} UInt64"]
    if is_candles(spec):
        order = list(CANDLE_KEY) + [c for c in spec.partition_by if c not in CANDLE_KEY]
        engine = f"ReplacingMergeTree({VERSION_COL})"
        extra = "PARTITION BY toYYYYMM(open_ts) "
    else:
        # partition columns first: reading or cleaning one asset partition prunes by the primary index
        order = list(dict.fromkeys(list(spec.partition_by) + list(spec.key)))
        engine = "MergeTree"
        extra = ""
    nullable_key = any(spec.schema.field(c).nullable for c in order)
    settings = " SETTINGS allow_nullable_key = 1" if nullable_key else ""
    order_sql = ", ".join(_ident(c) for c in order) or "tuple()"
    return (f"CREATE TABLE IF NOT EXISTS {_ident(spec.name)} ({', '.join(cols)}) ENGINE = {engine} "
            f"{extra}ORDER BY ({order_sql}){settings}")


REGISTRY_SQL = (
    f"CREATE TABLE IF NOT EXISTS {REGISTRY} (tbl String, part String, version UInt64, deleted Bool, "
    "rows UInt64, written_at DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree(version) ORDER BY (tbl, part)"
)
# the committed (partition, write id) pairs of a table: the latest record per partition, unless a deletion
COMMITTED_SQL = (
    f"SELECT part, max(version) AS committed FROM {REGISTRY} WHERE tbl = {{tbl:String}} "
    "GROUP BY part HAVING argMax(deleted, version) = 0"
)


class _WriteIds:
    """Monotonic write ids: nanoseconds since the epoch, strictly increasing within the process."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(time.time_ns(), self._last + 1)
            return self._last


_write_ids = _WriteIds()


class ClickHouseWarehouse(Warehouse):
    """Tables in one ClickHouse database; safe for threads, and for processes on a server."""

    def __init__(self, dsn: str, password: str | None = None, *, sync_cleanup: bool = False,
                 settings: dict[str, Any] | None = None):
        parts = urlsplit(dsn)
        if parts.scheme not in ("chdb", "http", "https"):
            raise ValueError(f"ClickHouse DSN must start with chdb://, http:// or https:// (got {parts.scheme}://)")
        self._dsn = dsn
        self._password = password
        self._secrets = [s for s in (password, parts.password) if s]
        self._secrets += [quote(s, safe="") for s in self._secrets]
        self.sync_cleanup = sync_cleanup
        self._settings = dict(settings or {})
        self._local = threading.local()
        self._clients: list[Any] = []
        self._lock = threading.Lock()  # guards the client list
        self._ddl_lock = threading.Lock()  # one CREATE/ALTER at a time within the process
        self._ensured: set[tuple] = set()
        self._registry_ready = False
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        if parts.username:
            netloc = f"{parts.username}{':***' if parts.password else ''}@{netloc}"
        self.redacted_dsn = f"{parts.scheme}://{netloc}{parts.path}"

    def __repr__(self) -> str:
        return f"ClickHouseWarehouse({self.redacted_dsn!r})"

    # -- connection and errors -----------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        for s in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(s, "***")
        return text

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except WarehouseError:
            raise
        except Exception as e:  # noqa: BLE001 - every driver failure is re-raised scrubbed
            # the original exception (and its chain) may quote the DSN or the server's reply
            raise _Scrubbed(self._scrub(f"{what}: {type(e).__name__}: {e}")) from None

    @property
    def client(self):
        """One client per thread: an HTTP session or chDB handle serves one query at a time."""
        c = getattr(self._local, "client", None)
        if c is None:
            import clickhouse_connect

            kwargs: dict[str, Any] = {"dsn": self._dsn}
            if self._password is not None and not self._dsn.startswith("chdb:"):
                kwargs["password"] = self._password
            if self._settings:
                kwargs["settings"] = self._settings
            with self._errors(f"connecting to {self.redacted_dsn}"):
                c = clickhouse_connect.get_client(**kwargs)
            self._local.client = c
            with self._lock:
                self._clients.append(c)
        if not self._registry_ready:
            with self._errors("creating the partition registry"):
                c.command(REGISTRY_SQL)
            self._registry_ready = True
        return c

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for c in clients:
            try:
                c.close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort
                pass
        self._local = threading.local()

    # -- tables --------------------------------------------------------------------------------------------
    def _ensure(self, spec: TableSpec) -> None:
        """Create the table on first use; add columns the spec gained since (nullable: old rows read null)."""
        token = (spec.name, tuple((f.name, str(f.type), f.nullable) for f in spec.schema))
        if token in self._ensured:
            return
        with self._ddl_lock, self._errors(f"preparing table {spec.name}"):
            if token in self._ensured:
                return
            c = self.client
            c.command(create_table_sql(spec))
            have = {r[0] for r in c.query(
                "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String}",
                parameters={"t": spec.name}).result_rows}
            for f in spec.schema:
                if f.name not in have:
                    c.command(f"ALTER TABLE {_ident(spec.name)} ADD COLUMN IF NOT EXISTS "
                              f"{_ident(f.name)} {column_type(f)}")
            self._ensured.add(token)

    def _commit(self, spec: TableSpec, part: str, version: int, rows: int, deleted: bool) -> None:
        record = pa.table({
            "tbl": [spec.name], "part": [part], "version": pa.array([version], pa.uint64()),
            "deleted": [deleted], "rows": pa.array([rows], pa.uint64()),
            "written_at": pa.array([dt.datetime.now(dt.UTC)], pa.timestamp("ms", tz="UTC")),
        })
        self.client.insert_arrow(REGISTRY, record)

    def _cleanup(self, spec: TableSpec, part: str, version: int) -> None:
        """Remove the partition's rows older than `version` (invisible already; this frees the space)."""
        params = {"p": part, "v": version}
        where = f"{PART_COL} = {{p:String}} AND {VERSION_COL} < {{v:UInt64}}"
        table = _ident(spec.name)
        # skip the mutation when nothing is stale (first writes): a mutation costs seconds on big tables
        if not self.client.query(f"SELECT 1 FROM {table} WHERE {where} LIMIT 1", parameters=params).result_rows:
            return
        self.client.command(f"DELETE FROM {table} WHERE {where}", parameters=params,
                            settings={"lightweight_deletes_sync": 2 if self.sync_cleanup else 0})

    # -- interface -----------------------------------------------------------------------------------------
    @_public
    def write_partition(self, table, partition: Partition, data) -> int:
        spec = spec_of(table)
        part = check_partition(spec, partition)
        arrow = to_arrow(spec, data, part)
        self._ensure(spec)
        key = partition_string(spec, part)
        version = _write_ids.next()
        with self._errors(f"writing {spec.name} partition {key}"):
            if arrow.num_rows:
                n = arrow.num_rows
                arrow = arrow.append_column(PART_COL, pc.fill_null(pa.nulls(n, pa.string()), key))
                arrow = arrow.append_column(VERSION_COL, pa.array(np.full(n, version, dtype=np.uint64)))
                self.client.insert_arrow(spec.name, arrow)
            self._commit(spec, key, version, arrow.num_rows, deleted=False)
            self._cleanup(spec, key, version)
        return arrow.num_rows

    @_public
    def delete_partition(self, table, partition: Partition) -> None:
        spec = spec_of(table)
        part = check_partition(spec, partition)
        self._ensure(spec)
        key = partition_string(spec, part)
        version = _write_ids.next()
        with self._errors(f"deleting {spec.name} partition {key}"):
            self._commit(spec, key, version, 0, deleted=True)
            self._cleanup(spec, key, version)

    @_public
    def partitions(self, table) -> list[dict[str, Any]]:
        spec = spec_of(table)
        with self._errors(f"listing partitions of {spec.name}"):
            rows = self.client.query(f"SELECT part FROM ({COMMITTED_SQL}) ORDER BY part",
                                     parameters={"tbl": spec.name}).result_rows
        found = [parse_partition_string(spec, r[0]) for r in rows]
        return sorted(found, key=lambda p: tuple(str(p[c]) for c in spec.partition_by))

    @_public
    def read(self, table, where: Sequence[Predicate] | None = None, columns: Sequence[str] | None = None):
        spec = spec_of(table)
        preds = check_predicates(where)
        cols = list(columns) if columns else spec.columns
        fields = [spec.schema.field(c) for c in cols]  # KeyError on unknown columns, like the Parquet side
        self._ensure(spec)
        params: dict[str, Any] = {"tbl": spec.name}
        conds = [f"({PART_COL}, {VERSION_COL}) IN ({COMMITTED_SQL})"]
        for i, (col, op, value) in enumerate(preds):
            conds.append(_condition(spec, col, op, value, f"p{i}", params))
        sql = (f"SELECT {', '.join(_ident(c) for c in cols)} FROM {_ident(spec.name)} "
               f"WHERE {' AND '.join(conds)}")
        with self._errors(f"reading {spec.name}"):
            result = self.client.query_arrow(sql, parameters=params)
        arrays = [result.column(f.name).cast(f.type) for f in fields]
        return pl.from_arrow(pa.Table.from_arrays(arrays, schema=pa.schema(fields)))

    # -- maintenance ---------------------------------------------------------------------------------------
    @_public
    def optimize(self, table, timeout_s: float = 60.0) -> None:
        """Wait for pending clean-ups, then merge every part (`OPTIMIZE FINAL`): frees space, not needed to read."""
        spec = spec_of(table)
        self._ensure(spec)
        deadline = time.monotonic() + timeout_s
        with self._errors(f"optimizing {spec.name}"):
            while self.client.query(
                    "SELECT count() FROM system.mutations WHERE database = currentDatabase() "
                    "AND table = {t:String} AND NOT is_done", parameters={"t": spec.name}).result_rows[0][0]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"clean-up mutations of {spec.name} still running after {timeout_s}s")
                time.sleep(0.05)
            self.client.command(f"OPTIMIZE TABLE {_ident(spec.name)} FINAL")

    @_public
    def stored_rows(self, table) -> int:
        """Physical rows, committed or not (what merges and clean-ups leave behind)."""
        spec = spec_of(table)
        self._ensure(spec)
        with self._errors(f"counting {spec.name}"):
            return int(self.client.query(f"SELECT count() FROM {_ident(spec.name)}").result_rows[0][0])


def _condition(spec: TableSpec, col: str, op: str, value: Any, name: str, params: dict[str, Any]) -> str:
    """One predicate as SQL with its value bound as a typed server-side parameter."""
    field = spec.schema.field(col)
    type_ = ch_type(field.type)
    ident = _ident(col)
    if op == "in":
        values = [_bind_value(field.type, v) for v in value]
        if not values:
            return "0"
        params[name] = values
        return f"{ident} IN {{{name}:Array({type_})}}"
    if value is None:
        return "0"  # like the Parquet side: comparisons with null match nothing
    params[name] = _bind_value(field.type, value)
    return f"{ident} {_SQL_OPS[op]} {{{name}:{type_}}}"


def _bind_value(type_: pa.DataType, value: Any) -> Any:
    if pa.types.is_date32(type_):
        if isinstance(value, dt.datetime):
            return value.date()
        return dt.date.fromisoformat(value) if isinstance(value, str) else value
    if pa.types.is_timestamp(type_):
        if isinstance(value, int | float):
            value = dt.datetime.fromtimestamp(value, dt.UTC)
        elif isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if isinstance(value, dt.datetime):
            # naive means UTC; sent as wall-clock UTC text for the DateTime64(.., 'UTC') parameter
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value
