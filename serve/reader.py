"""The read model: what the API answers, as polars frames and dicts, over any warehouse (no web framework).

    from serve.reader import Reader
    r = Reader("parquet://data/warehouse")
    r.callers(window="30d").head()        # caller_boards rows of one board
    r.call("1876543210", 5004)            # one call: its row, analytics, candles and trades

The small and medium tables (boards, calls with their analytics, the strategy board, books, exports) are kept
in memory and read again only when the warehouse changed: at most every `refresh_s` seconds the reader looks
at a cheap fingerprint of them (the Parquet files' stat; ClickHouse's commit registry). Per-call data
(candles of one token around one call, the trades of one call) is read on demand with predicates the
warehouse pushes down (the day partition, then chain and address or chat and message).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
import pyarrow as pa

from quantbot_pipelines.schemas import ALL_TABLES
from quantbot_pipelines.warehouse import ParquetWarehouse, Warehouse, open_warehouse

log = logging.getLogger(__name__)

# chains DEX Screener names the way telegram_calls.chain writes them
DEX_CHAINS = ("solana", "ethereum", "base", "bsc", "arbitrum", "polygon", "avalanche", "optimism")
WINDOWS_RE = r"^(all|[1-9][0-9]{0,3}d)$"
INTERVALS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14_400, "1d": 86_400}
# the candles fetched around a call (docs/semantics.md#candles): pre_window 1 h, horizon 48 h, entry slack 15 min
PRE_WINDOW = dt.timedelta(hours=1)
POST_WINDOW = dt.timedelta(hours=48, minutes=15)
# token_analytics.x_from_call buckets of a caller's page: [low, high)
X_BUCKETS = [("<0.5x", 0.0, 0.5), ("0.5-1x", 0.5, 1.0), ("1-2x", 1.0, 2.0), ("2-5x", 2.0, 5.0),
             ("5-10x", 5.0, 10.0), ("10-100x", 10.0, 100.0), ("100x+", 100.0, None)]
QUARANTINE_RAW_CHARS = 2000
BEST_EXITS = 50  # a caller's best strategies shown
STRATEGY_CALLERS = 200  # callers shown on a strategy's page
COMPARE_MIN, COMPARE_MAX = 2, 6
EQUITY_CURVES_KEPT = 256
# tables kept in memory (and fingerprinted); portfolio_equity only for its fingerprint (curves read per strategy)
CACHED = ("telegram_calls", "token_analytics", "caller_boards", "caller_leaderboard", "caller_strategy_leaderboard",
          "strategy_leaderboard", "portfolio_books", "token_leaderboard", "walk_forward", "walk_forward_summary",
          "telegram_staged_calls", "telegram_quarantine", "portfolio_equity")
CALL_LIST_COLUMNS = ["day", "chat_id", "chat_name", "message_id", "call_ts", "caller_id", "caller_name", "chain",
                     "address", "card_ticker", "card_name", "card_mcap_usd", "first_call", "repeat", "text", "status",
                     "ath_multiple", "x_from_call", "time_to_2x_s", "dex_url", "call_url"]
ANALYTICS_KEY = ["chat_id", "message_id", "chain", "address"]


class BadRequest(ValueError):
    """A parameter out of range or of the wrong kind (the message says which, never a secret)."""


class NotFound(LookupError):
    """Nothing under that id."""


class Unavailable(RuntimeError):
    """The warehouse cannot be read now."""


# -- values --------------------------------------------------------------------------------------------------

def iso_time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def plain(value: Any) -> Any:
    """A Python value as the API writes it: ISO days and UTC times, null for NaN and infinities."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        return iso_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _json_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Times and days as text, non-finite floats as null: done column-wise, before rows are made."""
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            exprs.append(col.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                         if dtype.time_zone else col.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        elif dtype == pl.Date:
            exprs.append(col.dt.strftime("%Y-%m-%d"))
        elif dtype.is_float():
            exprs.append(pl.when(col.is_finite()).then(col).otherwise(None).alias(name))
        else:
            exprs.append(col)
    return frame.select(exprs)


def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The rows of `frame` as JSON-ready dicts."""
    return _json_ready(frame).to_dicts()


def record(frame: pl.DataFrame) -> dict[str, Any] | None:
    rows = records(frame.head(1))
    return rows[0] if rows else None


def url_part(text: str) -> str:
    return quote(str(text), safe="")


def _with_url(frame: pl.DataFrame, name: str, prefix: str, *cols: str) -> pl.DataFrame:
    """Add `name` = prefix + the URL-quoted values of `cols` joined by '/' (quoted once per distinct value)."""
    parts = []
    for c in cols:
        values = frame.get_column(c).cast(pl.String)
        mapping = {v: url_part(v) for v in values.unique().drop_nulls().to_list()}
        parts.append(pl.col(c).cast(pl.String).replace_strict(mapping, default=None, return_dtype=pl.String))
    expr = pl.lit(prefix)
    for i, p in enumerate(parts):
        expr = expr + (p if i == 0 else pl.lit("/") + p)
    return frame.with_columns(expr.alias(name))


def dex_url_expr(chain: str = "chain", address: str = "address") -> pl.Expr:
    """https://dexscreener.com/<chain>/<address> for the chains DEX Screener names so, else null."""
    return (pl.when(pl.col(chain).is_in(DEX_CHAINS))
            .then(pl.lit("https://dexscreener.com/") + pl.col(chain) + pl.lit("/") + pl.col(address))
            .otherwise(None).alias("dex_url"))


def dex_url(chain: str | None, address: str | None) -> str | None:
    return f"https://dexscreener.com/{chain}/{address}" if chain in DEX_CHAINS and address else None


def parse_fills(text: str | None) -> list[dict[str, Any]]:
    """simulation_results.fills ([[ts, price, fraction, reason], ...]) as [{"ts", "price", "share", "reason"}]."""
    if not text:
        return []
    try:
        fills = json.loads(text)
    except ValueError:
        return []
    return [{"ts": f[0], "price": plain(f[1]), "share": plain(f[2]), "reason": f[3] if len(f) > 3 else None}
            for f in fills if isinstance(f, list) and len(f) >= 3]


def split_names(values: Iterable[str]) -> list[str]:
    """Strategy names from `a,b` (or repeated parameters): commas inside [...] belong to a sweep variant's name."""
    out: list[str] = []
    for value in values:
        depth, current = 0, []
        for ch in value:
            if ch == "[":
                depth += 1
            elif ch == "]":
                depth = max(0, depth - 1)
            if ch == "," and depth == 0:
                out.append("".join(current).strip())
                current = []
            else:
                current.append(ch)
        out.append("".join(current).strip())
    return [n for n in out if n]


def page(frame: pl.DataFrame, *, sort: str | None, order: str | None, default_sort: Sequence[str],
         default_desc: bool | Sequence[bool] = False, limit: int, offset: int) -> tuple[pl.DataFrame, int]:
    """Sort (nulls last, either order), then cut one page; `total` counts the rows before the cut."""
    if order not in (None, "asc", "desc"):
        raise BadRequest(f"order must be asc or desc, not {order!r}")
    if sort is not None:
        if sort not in frame.columns:
            raise BadRequest(f"unknown sort field {sort!r}; one of: {', '.join(frame.columns)}")
        if frame.schema[sort] in (pl.List, pl.Struct, pl.Object):
            raise BadRequest(f"cannot sort by {sort!r}")
        frame = frame.sort(sort, descending=order == "desc", nulls_last=True, maintain_order=True)
    elif default_sort:
        desc = default_desc if isinstance(default_desc, bool) else list(default_desc)
        if order is not None:  # the default field, in the order asked
            desc = order == "desc"
        frame = frame.sort(list(default_sort), descending=desc, nulls_last=True, maintain_order=True)
    return frame.slice(offset, limit), frame.height


# -- per-call reads -------------------------------------------------------------------------------------------

_POLARS_OPS = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}


def _parquet_files(root: Path, table: str, partition: dict[str, Any]) -> list[Path] | None:
    """The data files of the partitions of `table` whose leading partition columns equal `partition`
    (the remaining levels listed); None when a level in between is not given."""
    spec = ALL_TABLES[table]
    folders = [root / table]
    listing = False
    for col in spec.partition_by:
        if col in partition and not listing:
            value = partition[col]
            name = value.isoformat() if isinstance(value, dt.date) else quote(str(value), safe="")
            folders = [f / f"{col}={name}" for f in folders]
        elif col in partition:
            return None
        else:
            listing = True
            nxt = []
            for f in folders:
                try:
                    nxt.extend(Path(e.path) for e in os.scandir(f)
                               if e.is_dir() and e.name.startswith(f"{col}=") and not e.name.startswith("."))
                except (FileNotFoundError, NotADirectoryError):
                    continue
            folders = sorted(nxt)
    return [f / "data.parquet" for f in folders if (f / "data.parquet").is_file()]


# -- change detection ----------------------------------------------------------------------------------------

def _parquet_fingerprint(root: Path, table: str) -> tuple:
    """(path, mtime, size, inode) of every data file of `table`: a replace or a new partition changes it."""
    spec = ALL_TABLES[table]
    base = root / table
    found: list[tuple] = []
    folders = [base]
    for _ in spec.partition_by:
        nxt = []
        for folder in folders:
            try:
                nxt.extend(Path(e.path) for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
            except (FileNotFoundError, NotADirectoryError):
                continue
        folders = nxt
    for folder in folders:
        try:
            st = os.stat(folder / "data.parquet")
        except (FileNotFoundError, NotADirectoryError):
            continue
        found.append((str(folder), st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(sorted(found))


class _Fingerprints:
    """A cheap token per table that changes when the table's contents may have changed."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse

    def __call__(self, tables: Sequence[str]) -> dict[str, Any]:
        wh = self.warehouse
        if isinstance(wh, ParquetWarehouse):
            return {t: _parquet_fingerprint(wh.root, t) for t in tables}
        try:
            from quantbot_pipelines.warehouse.clickhouse import REGISTRY, ClickHouseWarehouse
        except ImportError:  # pragma: no cover - chDB/clickhouse-connect not installed
            ClickHouseWarehouse = None
        if ClickHouseWarehouse is not None and isinstance(wh, ClickHouseWarehouse):
            # every write and delete commits a row with a fresh, increasing write id
            rows = wh.client.query(f"SELECT tbl, max(version), count() FROM {REGISTRY} WHERE tbl IN "
                                   "{t:Array(String)} GROUP BY tbl", parameters={"t": list(tables)}).result_rows
            seen = {r[0]: (int(r[1]), int(r[2])) for r in rows}
            return {t: seen.get(t) for t in tables}
        # another warehouse: its partition listing, and at least once a minute anyway
        minute = int(time.time() // 60)
        return {t: (minute, tuple(tuple(sorted(p.items())) for p in wh.partitions(t))) for t in tables}


# -- the reader ----------------------------------------------------------------------------------------------

class Reader:
    """The read model over one warehouse: frames kept in memory while the warehouse stays the same."""

    def __init__(self, warehouse: Warehouse | str, *, password: str | None = None, refresh_s: float = 2.0):
        self.warehouse = open_warehouse(warehouse, password=password) if isinstance(warehouse, str) else warehouse
        self.refresh_s = refresh_s
        self._fingerprint = _Fingerprints(self.warehouse)
        self._fp: dict[str, Any] | None = None
        self._checked = -math.inf
        self._check_lock = threading.Lock()
        self._build_locks: dict[str, threading.Lock] = {}
        self._frames: dict[str, tuple[tuple, Any]] = {}
        self._lock = threading.Lock()
        self.loads = 0  # frames built since start (for metrics and tests)

    @property
    def kind(self) -> str:
        name = type(self.warehouse).__name__
        if isinstance(self.warehouse, ParquetWarehouse):
            return "parquet"
        if name == "ClickHouseWarehouse":
            dsn = getattr(self.warehouse, "redacted_dsn", "")
            return "chdb" if dsn.startswith("chdb:") else "clickhouse"
        return name

    # -- cache -------------------------------------------------------------------------------------------
    def _read(self, table: str, where=None, columns=None) -> pl.DataFrame:
        try:
            return self.warehouse.read(table, where=where, columns=columns)
        except (OSError, pa.ArrowException, RuntimeError) as e:
            # storage failures (a file that cannot be read, a server that does not answer: ClickHouse's
            # WarehouseError is a RuntimeError); the cause stays in the log, by type only
            log.warning("reading %s failed: %s", table, type(e).__name__)
            raise Unavailable("the warehouse cannot be read now") from e

    def _read_one(self, table: str, partition: dict[str, Any], where: list, columns: list[str]) -> pl.DataFrame:
        """Rows of the partitions `partition` names (and those below it), filtered by `where`.

        Parquet: polars scans the partition files itself, reading the pages of the filter columns first and
        the other columns only for the rows kept; that is what makes one token's candles in a day of
        millions of them cheap. Any surprise there (a file replaced or gone, an older file without a column)
        and the warehouse's own read answers instead. Other warehouses push the predicates to their server."""
        preds = [(c, "=", v) for c, v in partition.items()] + list(where)
        if isinstance(self.warehouse, ParquetWarehouse):
            files = _parquet_files(self.warehouse.root, table, partition)
            if files:
                try:
                    expr = pl.all_horizontal([getattr(pl.col(c), _POLARS_OPS[op])(v) for c, op, v in where])
                    frame = pl.scan_parquet(files).filter(expr).select(columns).collect()
                    schema = self._polars_schema(table, columns)
                    return frame.cast(schema) if frame.schema != schema else frame
                except Exception as e:  # noqa: BLE001 - the warehouse's read is the reference
                    log.info("scanning %s directly failed (%s); reading through the warehouse", table,
                             type(e).__name__)
        return self._read(table, where=preds, columns=columns)

    def _polars_schema(self, table: str, columns: list[str]) -> pl.Schema:
        key = f"schema:{table}:{','.join(columns)}"
        hit = self._frames.get(key)
        if hit is None:
            empty = pl.from_arrow(ALL_TABLES[table].empty().select(columns))
            hit = ((), empty.schema)
            self._frames[key] = hit
        return hit[1]

    def fingerprints(self) -> dict[str, Any]:
        """The tables' fingerprints, looked at again when `refresh_s` has passed since the last look."""
        now = time.monotonic()
        if self._fp is not None and now - self._checked < self.refresh_s:
            return self._fp
        with self._check_lock:
            if self._fp is None or time.monotonic() - self._checked >= self.refresh_s:
                try:
                    self._fp = self._fingerprint(CACHED)
                except Exception as e:
                    log.warning("looking for warehouse changes failed: %s", type(e).__name__)
                    if self._fp is None:
                        raise Unavailable("the warehouse cannot be read now") from e
                self._checked = time.monotonic()
        return self._fp

    def _cached(self, name: str, deps: Sequence[str], build: Callable[[], Any]) -> Any:
        fps = self.fingerprints()
        key = tuple(fps.get(d) for d in deps)
        hit = self._frames.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        with self._lock:
            lock = self._build_locks.setdefault(name, threading.Lock())
        with lock:  # one build per frame at a time; the others wait for it
            hit = self._frames.get(name)
            if hit is not None and hit[0] == key:
                return hit[1]
            value = build()
            if name.startswith("equity:"):  # one per strategy asked for: a sweep has thousands, keep the last few
                old = [k for k in self._frames if k.startswith("equity:")]
                for k in old[:max(0, len(old) - EQUITY_CURVES_KEPT + 1)]:
                    self._frames.pop(k, None)
            self._frames[name] = (key, value)
            self.loads += 1
            return value

    def _table(self, table: str) -> pl.DataFrame:
        return self._cached(table, (table,), lambda: self._read(table))

    def warm(self) -> None:
        """Build the frames the busiest endpoints need (at startup, so the first requests do not wait)."""
        self.calls_frame()
        self.callers()
        self.strategies()
        self.tokens()

    def close(self) -> None:
        self.warehouse.close()

    # -- frames ------------------------------------------------------------------------------------------
    def analytics_frame(self) -> pl.DataFrame:
        return self._table("token_analytics")

    def calls_frame(self) -> pl.DataFrame:
        """telegram_calls with the call's analytics (status, ath_multiple, x_from_call, time_to_2x_s), its DEX
        link and its dashboard URL; newest first."""
        def build() -> pl.DataFrame:
            calls = self._read("telegram_calls")
            analytics = self._read("token_analytics", columns=[*ANALYTICS_KEY, "status", "ath_multiple",
                                                               "x_from_call", "time_to_2x_s"])
            joined = calls.join(analytics.unique(ANALYTICS_KEY, keep="first"), on=ANALYTICS_KEY, how="left")
            joined = joined.with_columns(dex_url_expr())
            joined = _with_url(joined, "call_url", "/calls/", "chat_id", "message_id")
            return joined.sort(["call_ts", "chat_id", "message_id", "chain", "address"],
                               descending=[True, False, False, False, False])
        return self._cached("calls", ("telegram_calls", "token_analytics"), build)

    # -- answers -----------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        calls = self.calls_frame()
        newest = calls.get_column("call_ts").max() if calls.height else None
        return {"warehouse": self.kind, "calls": calls.height, "data_as_of": newest}

    def chats(self) -> pl.DataFrame:
        def build() -> pl.DataFrame:
            calls = self.calls_frame()
            return (calls.sort("call_ts").group_by("chat_id", maintain_order=True)
                    .agg(pl.col("chat_name").drop_nulls().last(), pl.len().cast(pl.Int64).alias("calls"),
                         pl.col("caller_id").drop_nulls().n_unique().cast(pl.Int64).alias("callers"),
                         pl.col("day").min().alias("first_day"), pl.col("day").max().alias("last_day"))
                    .sort(["calls", "chat_id"], descending=[True, False]))
        return self._cached("chats", ("telegram_calls", "token_analytics"), build)

    def boards(self) -> pl.DataFrame:
        """caller_boards with each row's caller_url."""
        def build() -> pl.DataFrame:
            boards = self._read("caller_boards")
            return _with_url(boards, "caller_url", "/callers/", "caller_id")
        return self._cached("boards", ("caller_boards",), build)

    def callers(self, window: str = "all", chat: str | None = None, min_calls: int | None = None) -> pl.DataFrame:
        """One caller board (docs/semantics.md#caller-stats): `window` and the scope (`chat`, or every chat)."""
        boards = self.boards()
        rows = boards.filter((pl.col("window") == window) & (pl.col("scope") == (chat if chat else "all")))
        if min_calls is not None:
            rows = rows.filter(pl.col("calls") >= min_calls)
        return rows.sort("rank", nulls_last=True, maintain_order=True)

    def caller(self, caller_id: str) -> dict[str, Any] | None:
        """A caller's page: identity and chats, every board row, the leaderboard row, best exits, X buckets."""
        calls = self.calls_frame().filter(pl.col("caller_id") == caller_id)
        boards = self.boards().filter(pl.col("caller_id") == caller_id)
        leader = self._table("caller_leaderboard").filter(pl.col("caller_id") == caller_id)
        if calls.is_empty() and boards.is_empty() and leader.is_empty():
            return None
        by_time = calls.sort("call_ts")
        names = by_time.get_column("caller_name").drop_nulls()
        name = names[-1] if len(names) else (boards.get_column("caller_name").drop_nulls().head(1).to_list()
                                             or [None])[0]
        chats = (by_time.group_by("chat_id", maintain_order=True)
                 .agg(pl.col("chat_name").drop_nulls().last(), pl.len().cast(pl.Int64).alias("calls"))
                 .sort(["calls", "chat_id"], descending=[True, False]))
        window_order = pl.col("window").replace_strict({"all": 0}, default=1, return_dtype=pl.Int32)
        boards = boards.sort([window_order, pl.col("window"), pl.col("scope") != "all", pl.col("scope")])
        # best first by the score (docs/semantics.md#which-exit-suits-a-caller): rank is the caller's place
        # among all callers under one strategy, not an order of the caller's strategies
        exits = (self._table("caller_strategy_leaderboard").filter(pl.col("caller_id") == caller_id)
                 .sort(["score", "mean_return", "strategy"], descending=[True, True, False], nulls_last=True)
                 .head(BEST_EXITS))
        # the calls a board counts: ok, not a repeat, with X from the call (docs/semantics.md#caller-stats)
        xs = (self.analytics_frame()
              .filter((pl.col("caller_id") == caller_id) & (pl.col("status") == "ok") & ~pl.col("repeat").fill_null(False)
                      & pl.col("x_from_call").is_not_null())
              .get_column("x_from_call"))
        buckets = []
        for label, low, high in X_BUCKETS:
            # the first bucket also holds anything below 0 (none is expected: X is a ratio of prices)
            inside = (xs >= low) if high is None else ((xs < high) if low == 0.0 else ((xs >= low) & (xs < high)))
            buckets.append({"bucket": label, "low": low, "high": high, "calls": int(inside.sum())})
        return {"caller": {"caller_id": caller_id, "caller_name": name, "chats": records(chats)},
                "boards": records(boards), "leaderboard": record(leader),
                "best_exits": records(_with_url(exits, "caller_url", "/callers/", "caller_id")),
                "x_distribution": buckets, "calls": calls.height}

    def calls(self, *, chat: str | None = None, caller: str | None = None, token: str | None = None,
              chain: str | None = None, day_from: dt.date | None = None, day_to: dt.date | None = None) -> pl.DataFrame:
        """The calls list (newest first), filtered."""
        frame = self.calls_frame()
        conds = []
        if chat:
            conds.append(pl.col("chat_id") == chat)
        if caller:
            conds.append(pl.col("caller_id") == caller)
        if token:
            conds.append(pl.col("address") == token)
        if chain:
            conds.append(pl.col("chain") == chain)
        if day_from:
            conds.append(pl.col("day") >= day_from)
        if day_to:
            conds.append(pl.col("day") <= day_to)
        if conds:
            frame = frame.filter(pl.all_horizontal(conds))
        return frame.select(CALL_LIST_COLUMNS)

    def call(self, chat_id: str, message_id: int, interval: str = "5m",
             address: str | None = None) -> dict[str, Any] | None:
        """One call: its telegram_calls row (+ dex_url), analytics, candles around it, and its trades.

        A message naming several tokens holds one call per token: `address` picks one, else the first by
        chain and address."""
        if interval not in INTERVALS:
            raise BadRequest(f"interval must be one of {', '.join(INTERVALS)}, not {interval!r}")
        rows = self.calls_frame().filter((pl.col("chat_id") == chat_id) & (pl.col("message_id") == message_id))
        if address:
            rows = rows.filter(pl.col("address") == address)
        if rows.is_empty():
            return None
        rows = rows.sort(["chain", "address"])
        head = rows.head(1)
        raw = head.row(0, named=True)
        call = record(head.select([*ALL_TABLES["telegram_calls"].columns, "dex_url"]))
        key = (pl.col("chat_id") == chat_id) & (pl.col("message_id") == message_id) & \
            (pl.col("chain") == raw["chain"]) & (pl.col("address") == raw["address"])
        analytics = record(self.analytics_frame().filter(key))
        candles = self.candles(raw["chain"], raw["address"], raw["day"], raw["call_ts"], interval)
        trades = self.trades(raw["day"], chat_id, message_id, raw["chain"], raw["address"])
        others = [{"chain": c, "address": a} for c, a in rows.select("chain", "address").iter_rows()][1:]
        return {"call": call, "analytics": analytics,
                "candles": {"interval": interval, "rows": candles}, "trades": trades, "other_tokens": others}

    def candles(self, chain: str, address: str, day: dt.date, call_ts: dt.datetime,
                interval: str) -> list[dict[str, Any]]:
        """The candles of the window fetched around a call (docs/semantics.md#candles), from its day's partition:
        raw 1m candles, or the aggregated interval (rolled up from the raw ones where it is not stored)."""
        start, end = call_ts - PRE_WINDOW, call_ts + POST_WINDOW
        where = [("chain", "=", chain), ("address", "=", address), ("open_ts", ">=", start), ("open_ts", "<", end)]
        cols = ["open_ts", "open", "high", "low", "close", "volume_usd"]
        raw_where = [*where, ("interval", "=", "1m")]
        if interval == "1m":
            frame = self._read_one("raw_candles", {"day": day}, raw_where, cols)
        else:
            frame = self._read_one("aggregated_candles", {"day": day, "interval": interval}, where, cols)
            if frame.is_empty():
                frame = roll_up(self._read_one("raw_candles", {"day": day}, raw_where, cols), INTERVALS[interval])
        frame = frame.sort("open_ts").unique("open_ts", keep="first", maintain_order=True)
        out = frame.select(pl.col("open_ts").dt.epoch("s").alias("t"), pl.col("open").alias("o"),
                           pl.col("high").alias("h"), pl.col("low").alias("l"), pl.col("close").alias("c"),
                           pl.col("volume_usd").alias("v"))
        return records(out)

    def trades(self, day: dt.date, chat_id: str, message_id: int, chain: str, address: str) -> list[dict[str, Any]]:
        """The call's simulated trades, one per strategy, best net return first (fills parsed)."""
        frame = self._read_one("simulation_results", {"day": day},
                               [("chat_id", "=", chat_id), ("message_id", "=", message_id), ("chain", "=", chain),
                                ("address", "=", address)], ALL_TABLES["simulation_results"].columns)
        frame = frame.sort(["net_return", "strategy"], descending=[True, False], nulls_last=True)
        out = records(frame)
        for row in out:
            row["fills"] = parse_fills(row["fills"])
        return out

    def strategies(self) -> pl.DataFrame:
        """strategy_leaderboard, every strategy, with its dashboard URL; by rank."""
        def build() -> pl.DataFrame:
            board = self._read("strategy_leaderboard")
            board = _with_url(board, "strategy_url", "/strategies/", "strategy")
            return board.sort(["rank", "strategy"], nulls_last=True)
        return self._cached("strategies", ("strategy_leaderboard",), build)

    def strategy(self, name: str, *, with_callers: bool = True) -> dict[str, Any] | None:
        """A strategy's page: board row, book, equity curve, exit reasons, its callers, skips."""
        board = self.strategies().filter(pl.col("strategy") == name)
        if board.is_empty():
            return None
        row = record(board)
        books = self._table("portfolio_books").filter(pl.col("strategy") == name)
        book = record(books)
        shares = _exit_shares(row.get("exit_reason_shares"))
        trades = row.get("trades") or 0
        out = {"strategy": row, "book": book, "equity": self.equity(name, book),
               "exit_reasons": [{"reason": r, "share": s, "trades": round(s * trades)} for r, s in shares],
               "skips": {"no_cash": book.get("skipped_no_cash") if book else None,
                         "max_open": book.get("skipped_max_open") if book else None,
                         "holding_token": book.get("skipped_holding_token") if book else None}}
        if with_callers:
            callers = (self._table("caller_strategy_leaderboard").filter(pl.col("strategy") == name)
                       .sort(["rank", "caller_id"], nulls_last=True).head(STRATEGY_CALLERS))
            out["callers"] = records(_with_url(callers, "caller_url", "/callers/", "caller_id"))
        return out

    def equity(self, name: str, book: dict[str, Any] | None) -> list[dict[str, Any]]:
        """The book's equity curve as the pipeline keeps it (portfolio_equity, docs/semantics.md#book-equity-curve):
        the curve its drawdown is measured on, from the first entry."""
        if book is None:
            return []

        def build() -> list[dict[str, Any]]:
            curve = self._read("portfolio_equity",
                               where=[("strategy_file", "=", book["strategy_file"]), ("strategy", "=", name)],
                               columns=["ts", "equity_usd"])
            return records(curve.sort("ts").select(pl.col("ts").dt.epoch("s").alias("t"), "equity_usd"))
        return self._cached(f"equity:{name}", ("portfolio_equity", "portfolio_books"), build)

    def compare(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """Two to six strategies side by side (each as on its page, without its callers)."""
        names = list(names)
        if not COMPARE_MIN <= len(names) <= COMPARE_MAX:
            raise BadRequest(f"compare takes {COMPARE_MIN} to {COMPARE_MAX} strategies, got {len(names)}")
        if len(set(names)) != len(names):
            raise BadRequest("a strategy is named twice")
        out = []
        for n in names:
            one = self.strategy(n, with_callers=False)
            if one is None:
                raise NotFound(f"no strategy {n!r}")
            out.append(one)
        return out

    def tokens(self, chain: str | None = None) -> pl.DataFrame:
        def build() -> pl.DataFrame:
            return self._read("token_leaderboard").with_columns(dex_url_expr()).sort(["rank", "chain", "address"],
                                                                                     nulls_last=True)
        frame = self._cached("tokens", ("token_leaderboard",), build)
        return frame.filter(pl.col("chain") == chain) if chain else frame

    def exports(self) -> pl.DataFrame:
        """Per export: calls staged from it, their days, and the messages quarantined."""
        def build() -> pl.DataFrame:
            staged = (self._read("telegram_staged_calls", columns=["export_id", "day"])
                      .group_by("export_id").agg(pl.len().cast(pl.Int64).alias("calls"),
                                                 pl.col("day").n_unique().cast(pl.Int64).alias("days"),
                                                 pl.col("day").min().alias("first_day"),
                                                 pl.col("day").max().alias("last_day")))
            quarantined = (self._read("telegram_quarantine", columns=["export_id"])
                           .group_by("export_id").agg(pl.len().cast(pl.Int64).alias("quarantined")))
            both = staged.join(quarantined, on="export_id", how="full", coalesce=True)
            return (both.with_columns(pl.col("calls").fill_null(0), pl.col("days").fill_null(0),
                                      pl.col("quarantined").fill_null(0))
                    .select("export_id", "calls", "days", "first_day", "last_day", "quarantined")
                    .sort(["last_day", "export_id"], descending=[True, False], nulls_last=True))
        return self._cached("exports", ("telegram_staged_calls", "telegram_quarantine"), build)

    def quarantine(self, export: str | None = None, reason: str | None = None) -> pl.DataFrame:
        """telegram_quarantine rows, raw cut at 2,000 characters, raw_bytes left out."""
        def build() -> pl.DataFrame:
            rows = self._read("telegram_quarantine")
            return (rows.drop("raw_bytes").with_columns(pl.col("raw").str.slice(0, QUARANTINE_RAW_CHARS))
                    .sort(["export_id", "seq"]))
        frame = self._cached("quarantine", ("telegram_quarantine",), build)
        if export:
            frame = frame.filter(pl.col("export_id") == export)
        if reason:
            frame = frame.filter(pl.col("reason") == reason)
        return frame

    def walk_forward(self) -> dict[str, pl.DataFrame]:
        """walk_forward_summary and the folds (docs/semantics.md#walk-forward), without the random draws' sums."""
        summary = self._table("walk_forward_summary").sort("policy")
        folds = (self._table("walk_forward").drop("random_sums", "random_counts")
                 .sort(["fold_index", "policy"]))
        return {"summary": summary, "folds": folds}


def roll_up(raw: pl.DataFrame, seconds: int) -> pl.DataFrame:
    """1m candles rolled up to buckets of `seconds`, aligned to UTC epoch multiples (as aggregated_candles)."""
    if raw.is_empty():
        return raw
    bucket = (pl.col("open_ts").dt.epoch("s") // seconds * seconds)
    return (raw.sort("open_ts").with_columns(bucket.alias("_b"))
            .group_by("_b", maintain_order=True)
            .agg(pl.col("open").first(), pl.col("high").max(), pl.col("low").min(), pl.col("close").last(),
                 pl.col("volume_usd").sum())
            .with_columns(pl.from_epoch("_b", time_unit="s").dt.replace_time_zone("UTC").alias("open_ts"))
            .select("open_ts", "open", "high", "low", "close", "volume_usd"))


def _exit_shares(text: str | None) -> list[tuple[str, float]]:
    if not text:
        return []
    try:
        shares = json.loads(text)
    except ValueError:
        return []
    pairs = [(str(k), float(v)) for k, v in shares.items() if isinstance(v, int | float)]
    return sorted(pairs, key=lambda p: (-p[1], p[0]))
