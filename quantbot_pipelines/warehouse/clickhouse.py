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
(key chain, address, interval, open_ts) are ordered by the key plus the asset-partition columns and
partitioned by `toYYYYMM(open_ts)`; other tables are ordered by (partition columns, natural key). Every table
is a plain `MergeTree`: merges never drop or replace a row, so which rows count is decided by the commit
records alone. (Candle tables created as `ReplacingMergeTree(_qb_version)` by earlier versions, whose merges
could collapse committed rows into same-key rows of a write not committed, are migrated on first use: see
`ClickHouseWarehouse._migrate`.) A new nullable column in the spec is added with `ALTER TABLE ... ADD
COLUMN` on first use; older rows read null. Names starting `_` are avoided for data because MergeTree
reserves virtual columns such as `_part`.

Atomic, idempotent partition replace. ClickHouse has no atomic multi-part insert (outside experimental
transactions: a big insert is written as several parts, each visible as soon as it is written), so a
commit record decides what readers see:

1. insert the new rows with a fresh write id (monotonic nanosecond clock) - invisible to readers so far;
2. commit: one row (table, partition, write id, row count) into `_qb_partitions`, timestamped by the
   server - a single-row insert is atomic;
3. clean up, deferred: a lightweight `DELETE` of rows no reader can still be reading (below).

A read first resolves the committed (partition, write id, row count) of the table, then selects exactly those
pairs and checks that each partition came back with its committed row count. Rows of a committed write are
all stored before its commit record exists and nothing adds to them later, so the count proves the read
whole. A read filtered on other columns cannot count what it returns: it counts the pairs' stored rows right
after it instead (they can only have gone since), and skips that scan for pairs it has already counted whole
while the table's mutations stayed the same and none was running (nothing can have removed rows then: every
`DELETE` is a mutation). On a mismatch the read resolves again and reads again, a few times, then raises
`WarehouseError`: it never returns part of a partition.

Clean-up. After a write or delete (at most every quarter grace period per table and process), the table's
rows are deleted where their write id is superseded by a commit at least `cleanup_grace_s` old (default
60 s), or was never committed and belongs to a writer that is gone (its write id is an hour old - write ids
are the writers' clocks, assumed to agree within minutes; with chDB, which allows one process per folder,
any write id from before this process opened the folder). So the version a reader resolved just before a
commit keeps its rows for the grace period after it; only a read slower than that can find rows gone, and
it reads again. `optimize()` reclaims every superseded version at once (no grace), waits for the deletions,
then merges.

Guarantees. For every partition a read covers, it returns all the rows of one committed write (the latest
when it resolved), or raises `WarehouseError`; never a mix, a part or duplicates, whatever merges,
clean-ups, concurrent writers (the higher write id wins) and writers killed at any point do. A killed
writer leaves the previous committed version whole and its own rows invisible until a clean-up removes them.
An error instead of rows happens only when committed rows vanish for good (an outside `DELETE`, a lost part,
rows collapsed before the migration: that partition then fails to read until it is rewritten), or when
clean-ups keep removing what a reader resolves (reads slower than the grace period during rewrites, or
`optimize()` with readers running, attempt after attempt). Not covered: rows removed without a mutation
(`DROP PARTITION`, `TRUNCATE`, a part lost on disk) after a filtered read of this process counted them:
unfiltered reads, and filtered reads after the next mutation or in a new process, still catch those.

The password (in the DSN or given apart, e.g. from an environment variable) never appears in `repr`, logs
or errors: driver exceptions are re-raised as `WarehouseError` with the secret scrubbed and no chained
cause. Values in predicates are bound as server-side parameters, never interpolated into SQL.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
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
    partition_matches,
    partition_value,
    spec_of,
    to_arrow,
)

log = logging.getLogger(__name__)

PART_COL = "_qb_partition"
VERSION_COL = "_qb_version"
REGISTRY = "_qb_partitions"
CANDLE_KEY = ("chain", "address", "interval", "open_ts")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SQL_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
PAIRS = "{qb_pairs:Array(Tuple(String, UInt64))}"  # bound (partition, write id) pairs
CLEANUP_GRACE_S = 60.0  # a superseded write stays readable this long after the commit that superseded it
DEAD_WRITE_S = 3600  # an uncommitted write id this old belongs to a writer that died
READ_ATTEMPTS = 5  # resolve-and-read rounds before a read that keeps coming back short fails
MIGRATION_WAIT_S = 600  # how long a migration of another process is waited for before it counts as dead
MIGRATING = "__qb_migrating"  # suffix of the table a migration builds (its creation is the migration's lock)


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
        extra = "PARTITION BY toYYYYMM(open_ts) "
    else:
        # partition columns first: reading or cleaning one asset partition prunes by the primary index
        order = list(dict.fromkeys(list(spec.partition_by) + list(spec.key)))
        extra = ""
    nullable_key = any(spec.schema.field(c).nullable for c in order)
    settings = " SETTINGS allow_nullable_key = 1" if nullable_key else ""
    order_sql = ", ".join(_ident(c) for c in order) or "tuple()"
    # plain MergeTree: a merge never drops or replaces a row, only the commit records decide what is read
    return (f"CREATE TABLE IF NOT EXISTS {_ident(spec.name)} ({', '.join(cols)}) ENGINE = MergeTree "
            f"{extra}ORDER BY ({order_sql}){settings}")


REGISTRY_SQL = (
    f"CREATE TABLE IF NOT EXISTS {REGISTRY} (tbl String, part String, version UInt64, deleted Bool, "
    "rows UInt64, written_at DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree(version) ORDER BY (tbl, part)"
)
# the committed (partition, write id, rows) of a table: the latest record per partition, unless a deletion
COMMITTED_SQL = (
    f"SELECT part, max(version) AS committed, argMax(rows, version) AS n FROM {REGISTRY} "
    "WHERE tbl = {tbl:String} GROUP BY part HAVING argMax(deleted, version) = 0"
)
# timestamped by the server, so that the clean-up's grace period is measured on one clock
COMMIT_SQL = (
    f"INSERT INTO {REGISTRY} (tbl, part, version, deleted, rows, written_at) SELECT {{tbl:String}}, "
    "{part:String}, {version:UInt64}, {deleted:Bool}, {rows:UInt64}, now64(3, 'UTC')"
)
# per partition: the latest write id recorded, and the latest recorded at least `grace_ms` ago
SETTLED_SQL = (
    f"SELECT part, max(version), maxIf(version, written_at <= now64(3, 'UTC') - "
    f"toIntervalMillisecond({{grace_ms:UInt64}})) FROM {REGISTRY} WHERE tbl = {{tbl:String}} GROUP BY part"
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
# chDB folder -> [instances of this process that have it open, since when (ns)]. chDB allows one process per
# folder, so an uncommitted write id from before this process opened it is a previous process's, now gone
_chdb_open: dict[str, list[int]] = {}
_chdb_lock = threading.Lock()
_migration_lock = threading.Lock()  # one migration at a time in the process, whatever the instance


class ClickHouseWarehouse(Warehouse):
    """Tables in one ClickHouse database; safe for threads, and for processes on a server."""

    def __init__(self, dsn: str, password: str | None = None, *, sync_cleanup: bool = False,
                 cleanup_grace_s: float = CLEANUP_GRACE_S, settings: dict[str, Any] | None = None):
        parts = urlsplit(dsn)
        if parts.scheme not in ("chdb", "http", "https"):
            raise ValueError(f"ClickHouse DSN must start with chdb://, http:// or https:// (got {parts.scheme}://)")
        self._dsn = dsn
        self._password = password
        self._secrets = [s for s in (password, parts.password) if s]
        self._secrets += [quote(s, safe="") for s in self._secrets]
        self.sync_cleanup = sync_cleanup
        self.cleanup_grace_s = cleanup_grace_s
        self._chdb_folder = os.path.realpath(parts.netloc + parts.path) if parts.scheme == "chdb" else None
        self._holds_folder = False
        self._swept: dict[str, float] = {}  # table -> when a write last cleaned it up (monotonic)
        # table -> (its mutations, all finished; the pairs counted whole since): see `_whole_after_filter`
        self._counted: dict[str, tuple[frozenset, frozenset]] = {}
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
            self._hold_folder()
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

    def _hold_folder(self) -> None:
        if self._chdb_folder is None:
            return
        with _chdb_lock:
            if not self._holds_folder:
                held = _chdb_open.setdefault(self._chdb_folder, [0, 0])
                if not held[0]:
                    held[1] = time.time_ns()
                held[0] += 1
                self._holds_folder = True

    def close(self) -> None:
        if self._chdb_folder is not None:
            with _chdb_lock:
                if self._holds_folder:
                    _chdb_open[self._chdb_folder][0] -= 1
                    self._holds_folder = False
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
            if is_candles(spec):
                with _migration_lock:
                    self._migrate(spec)
            have = {r[0] for r in c.query(
                "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String}",
                parameters={"t": spec.name}).result_rows}
            for f in spec.schema:
                if f.name not in have:
                    c.command(f"ALTER TABLE {_ident(spec.name)} ADD COLUMN IF NOT EXISTS "
                              f"{_ident(f.name)} {column_type(f)}")
            self._ensured.add(token)

    def _table(self, name: str) -> tuple[str, str, str] | None:
        """(engine, create query, comment) of a table of the database, None if there is none."""
        rows = self.client.query(
            "SELECT engine, create_table_query, comment FROM system.tables "
            "WHERE database = currentDatabase() AND name = {n:String}", parameters={"n": name}).result_rows
        return tuple(rows[0]) if rows else None

    def _migrate(self, spec: TableSpec) -> None:
        """Turn a candle table created as `ReplacingMergeTree` into a `MergeTree` of the same name and rows.

        A `MergeTree` table is created beside it with the same columns, partitioning and order; the old
        table's parts are attached to it (hard links: rows as stored, deletions kept, nothing copied); the
        two are swapped with `EXCHANGE TABLES` (atomic); rows a writer inserted into the old table in the
        meantime are copied over; the old table is dropped. Creating the new table is the lock: another
        process finding it waits for the migration to end, or takes over once the migration is
        MIGRATION_WAIT_S old (with chDB at once: no other process can have the folder open).

        Writers of the older code must not run during the migration: an insert still running into the old
        table when it is swapped out is lost, and rows the old engine had already collapsed cannot be
        recovered; reads of such a partition fail with `WarehouseError` (never return a part) until it is
        rewritten.
        """
        c = self.client
        name, new = spec.name, spec.name + MIGRATING
        deadline = time.monotonic() + MIGRATION_WAIT_S
        while True:
            info = self._table(name)
            if info is None or info[0] != "ReplacingMergeTree":
                return
            ddl, found = re.subn(r"^CREATE TABLE \S+ ", f"CREATE TABLE {_ident(new)} ", info[1], count=1)
            ddl, engines = re.subn(r"ENGINE = ReplacingMergeTree\([^)]*\)", "ENGINE = MergeTree", ddl, count=1)
            if not (found and engines):
                raise _Scrubbed(f"cannot migrate {name}: unexpected definition {info[1]!r}")
            try:
                c.command(f"{ddl} COMMENT 'migration started {time.time_ns()}'")
                break
            except Exception as e:
                if "TABLE_ALREADY_EXISTS" not in str(e):
                    raise
            other = self._table(new)
            started = re.search(r"migration started (\d+)", other[2] if other else "")
            if other is None:
                continue  # it ended just now
            if (self._chdb_folder is not None or started is None
                    or time.time_ns() - int(started[1]) > MIGRATION_WAIT_S * 10**9):
                log.warning("%s: dropping %s, left by a migration that did not finish", name, new)
                c.command(f"DROP TABLE IF EXISTS {_ident(new)} SYNC")
            elif time.monotonic() > deadline:
                raise _Scrubbed(f"{name}: another process has been migrating it into {new} for "
                                f"{MIGRATION_WAIT_S}s; drop {new} if that process is gone")
            else:
                time.sleep(0.5)
        log.warning("%s: migrating from ReplacingMergeTree to MergeTree", name)
        exchanged = False
        try:
            ids = c.query("SELECT DISTINCT partition_id FROM system.parts WHERE database = currentDatabase() "
                          "AND table = {t:String} AND active", parameters={"t": name}).result_rows
            for (pid,) in ids:
                if not re.fullmatch(r"[A-Za-z0-9_-]+", pid):
                    raise _Scrubbed(f"cannot migrate {name}: unexpected partition id {pid!r}")
                c.command(f"ALTER TABLE {_ident(new)} ATTACH PARTITION ID '{pid}' FROM {_ident(name)}")
            c.command(f"EXCHANGE TABLES {_ident(name)} AND {_ident(new)}")
            exchanged = True
            pairs = f"SELECT DISTINCT {PART_COL}, {VERSION_COL} FROM "
            late = set(c.query(pairs + _ident(new)).result_rows) - set(c.query(pairs + _ident(name)).result_rows)
            if late:
                c.command(f"INSERT INTO {_ident(name)} SELECT * FROM {_ident(new)} "
                          f"WHERE ({PART_COL}, {VERSION_COL}) IN {PAIRS}", parameters={"qb_pairs": sorted(late)})
            c.command(f"DROP TABLE {_ident(new)} SYNC")
        except Exception:
            if not exchanged:
                c.command(f"DROP TABLE IF EXISTS {_ident(new)} SYNC")
            raise

    def _commit(self, spec: TableSpec, part: str, version: int, rows: int, deleted: bool) -> None:
        self.client.command(COMMIT_SQL, parameters={
            "tbl": spec.name, "part": part, "version": version, "deleted": deleted, "rows": rows})

    def _sweep(self, spec: TableSpec, grace_s: float) -> None:
        """Delete the rows no reader can be reading (invisible already; this frees the space).

        Those of a write id superseded by a commit at least `grace_s` old, and those never committed whose
        writer is gone; a superseded version younger than that may still be being read.
        """
        table = _ident(spec.name)
        stored = self.client.query(f"SELECT DISTINCT {PART_COL}, {VERSION_COL} FROM {table}").result_rows
        if not stored:
            return
        records = {part: (latest, settled) for part, latest, settled in self.client.query(
            SETTLED_SQL, parameters={"tbl": spec.name, "grace_ms": max(0, int(grace_s * 1000))}).result_rows}
        gone = time.time_ns() - DEAD_WRITE_S * 10**9  # uncommitted write ids below this are a dead writer's
        if self._chdb_folder is not None:
            with _chdb_lock:
                gone = max(gone, _chdb_open[self._chdb_folder][1])
        stale = []
        for part, version in stored:
            latest, settled = records.get(part, (0, 0))
            if version < settled or (version > latest and version < gone):
                stale.append((part, version))
        if stale:
            # skipped when nothing is stale (most writes): a mutation costs seconds on big tables
            self.client.command(f"DELETE FROM {table} WHERE ({PART_COL}, {VERSION_COL}) IN {PAIRS}",
                                parameters={"qb_pairs": sorted(stale)},
                                settings={"lightweight_deletes_sync": 2 if self.sync_cleanup else 0})

    def _tidy(self, spec: TableSpec) -> None:
        """The deferred clean-up after a commit: a failure is logged, not raised, as the write has committed.

        At most every quarter grace period per table (it scans the table's write ids; nothing becomes
        removable faster than the grace period anyway)."""
        now = time.monotonic()
        if now - self._swept.get(spec.name, -np.inf) < self.cleanup_grace_s / 4:
            return
        self._swept[spec.name] = now
        try:
            with self._errors(f"cleaning up {spec.name}"):
                self._sweep(spec, self.cleanup_grace_s)
        except _Scrubbed as e:
            log.warning("%s (the next write or optimize() cleans up)", e)

    def _mutations(self, spec: TableSpec) -> frozenset | None:
        """The table's mutations (ids), or None while one is running (rows may go as it runs)."""
        rows = self.client.query("SELECT mutation_id, is_done FROM system.mutations WHERE database = "
                                 "currentDatabase() AND table = {t:String}", parameters={"t": spec.name}).result_rows
        return None if any(not done for _, done in rows) else frozenset(m for m, _ in rows)

    def _whole_after_filter(self, spec: TableSpec, pairs: dict) -> list[str]:
        """For a read filtered on other columns, just done: the pairs whose rows were not all there.

        Counting the pairs' rows right after the read proves it whole (rows of a committed write only ever
        go). The count scans the pairs' partitions, so it is skipped for pairs already counted whole while
        the table's mutations (every DELETE, the clean-ups' included) have not changed and none was running:
        nothing removed rows since.
        """
        mutations = self._mutations(spec)
        before, counted = self._counted.get(spec.name, (None, frozenset()))
        if mutations is not None and mutations == before and pairs.keys() <= counted:
            return []
        short = self._short(pairs, self._counts(spec, pairs))
        if not short and mutations is not None:
            counted = counted if mutations == before and len(counted) < 100_000 else frozenset()
            self._counted[spec.name] = (mutations, counted | pairs.keys())
        return short

    def _resolve(self, spec: TableSpec, part_preds: list[Predicate]) -> dict[tuple[str, int], tuple[int, dict]]:
        """The committed (partition, write id) pairs matching `part_preds`: their committed rows and values."""
        out = {}
        for part, version, rows in self.client.query(COMMITTED_SQL, parameters={"tbl": spec.name}).result_rows:
            values = parse_partition_string(spec, part)
            if partition_matches(spec, values, part_preds):
                out[(part, int(version))] = (int(rows), values)
        return out

    def _pair_conditions(self, spec: TableSpec, pairs: dict, params: dict[str, Any]) -> list[str]:
        params["qb_pairs"] = sorted(pairs)
        conds = [f"({PART_COL}, {VERSION_COL}) IN {PAIRS}"]
        for i, col in enumerate(spec.partition_by):
            # the pairs' own partition values (true of all their rows): the primary index of tables ordered by them
            values = sorted({v[col] for _, v in pairs.values()}, key=str)
            if None not in values:
                conds.append(_condition(spec, col, "in", values, f"q{i}", params))
        return conds

    def _counts(self, spec: TableSpec, pairs: dict) -> dict[tuple[str, int], int]:
        params: dict[str, Any] = {}
        where = " AND ".join(self._pair_conditions(spec, pairs, params))
        rows = self.client.query(f"SELECT {PART_COL}, {VERSION_COL}, count() FROM {_ident(spec.name)} "
                                 f"WHERE {where} GROUP BY {PART_COL}, {VERSION_COL}", parameters=params).result_rows
        return {(part, int(version)): int(n) for part, version, n in rows}

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
        self._tidy(spec)
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
        self._tidy(spec)

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
        part_preds = [p for p in preds if p[0] in spec.partition_by]
        row_preds = [p for p in preds if p[0] not in spec.partition_by]
        schema = pa.schema(fields)
        with self._errors(f"reading {spec.name}"):
            for attempt in range(READ_ATTEMPTS):
                pairs = self._resolve(spec, part_preds)
                if not pairs:
                    return pl.from_arrow(schema.empty_table())
                params: dict[str, Any] = {}
                conds = self._pair_conditions(spec, pairs, params)
                conds += [_condition(spec, c, op, v, f"p{i}", params) for i, (c, op, v) in enumerate(row_preds)]
                result = self.client.query_arrow(f"SELECT {', '.join(_ident(c) for c in cols)} FROM "
                                                 f"{_ident(spec.name)} WHERE {' AND '.join(conds)}",
                                                 parameters=params)
                # whole: every pair's committed rows came back (filtered: were all still stored just after)
                if row_preds:
                    short = self._whole_after_filter(spec, pairs)
                elif result.num_rows != sum(n for n, _ in pairs.values()):
                    short = self._short(pairs, self._counts(spec, pairs)) or [f"{result.num_rows:,} rows in all"]
                else:
                    short = []
                if not short:
                    arrays = [result.column(f.name).cast(f.type) for f in fields]
                    return pl.from_arrow(pa.Table.from_arrays(arrays, schema=schema))
                log.info("%s: rows changed during the read (%s); reading again", spec.name, short[0])
                time.sleep(0.02 * (attempt + 1))
            raise _Scrubbed(
                f"reading {spec.name}: still short after {READ_ATTEMPTS} attempts: {'; '.join(short[:3])}. Rows of "
                "committed writes went missing (removed outside the warehouse, lost, or collapsed before the "
                "migration to MergeTree), or clean-ups kept removing what the read resolved: rewrite the "
                "partition if it persists")

    @staticmethod
    def _short(pairs: dict, counts: dict[tuple[str, int], int]) -> list[str]:
        return [f"partition {part} has {counts.get((part, version), 0):,} of the {rows:,} rows of its committed "
                f"write {version}" for (part, version), (rows, _) in sorted(pairs.items())
                if counts.get((part, version), 0) != rows]

    # -- maintenance ---------------------------------------------------------------------------------------
    @_public
    def optimize(self, table, timeout_s: float = 60.0, grace_s: float = 0.0) -> None:
        """Reclaim space now: delete every version superseded (`grace_s` ago or more, by default any), wait for
        the deletions, then merge every part (`OPTIMIZE FINAL`). Not needed to read; a read still running on a
        version deleted here reads again the version that superseded it."""
        spec = spec_of(table)
        self._ensure(spec)
        deadline = time.monotonic() + timeout_s
        with self._errors(f"optimizing {spec.name}"):
            self._sweep(spec, grace_s)
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
