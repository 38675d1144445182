"""A loopback HTTP server that answers as Birdeye and GeckoTerminal do (docs/formats.md#candle-apis),
with scripted faults, an optional per-key rate limit and latency. Used by the tests and benchmarks/bench_fetch.py.
It also answers pair look-ups as DexScreener (`/latest/dex/pairs/<chain>/<pair>`) and GeckoTerminal
(`/api/v2/networks/<network>/pools/<pool>`) do, for the pairs in `pairs`; scripted faults are keyed by the pair.

Candles are a pure function of (address, open time), so tests can compute what must come back. Minutes where
`(t // 60 + h) % 11 == 0` have no trades (Birdeye without padding leaves them out).

Hostile answers (scripted per address in `faults`, and for GeckoTerminal's OHLCV pages in `ohlcv_faults`):
`429:<Retry-After as sent>`, 5xx, `timeout`, `hang` (held until `release` is set), `drip:<bytes>` (a body one
byte every `drip_every` s), `truncated` (a Content-Length the body never reaches), `html` (a 200 page that is not
JSON), `malformed`, `badshape`, and `candles:<kind>` (a real answer whose first candle is spoiled: see CORRUPT).
`revoke_after = n` refuses every key (401) once n OHLCV requests were answered; `hold_after = n` holds every
OHLCV request after the n-th until `release` is set.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import numpy as np
import orjson

from tests.support.loopback import LoopbackServer

STEP = {"1m": 60, "5m": 300, "15m": 900, "1H": 3600, "4H": 14400, "1D": 86400}

# candles:<kind>: how the first candle of an answer is spoiled (Birdeye item fields; GeckoTerminal rows alike)
CORRUPT = {
    "nan": {"o": "NaN"},               # a string that reads as NaN
    "nan_literal": {"o": "@NaN"},      # the bare NaN token some JSON writers emit
    "inf": {"h": "@1e999"},            # a number too large for a double: Infinity
    "zero": {"o": 0.0},
    "negative": {"l": -1e-5},
    "negvol": {"v_usd": -5.0},
    "negvol_tokens": {"v": -5.0},      # Birdeye only: the volume in tokens (GeckoTerminal derives it)
    "garbage_tokens": {"v": "abc"},    # Birdeye only
    "highlow": {"h": 1e-9},            # high below low (and below open and close)
    "offgrid": {"unix_time": 7},       # 7 s past its minute
    "null": {"c": None},
    "string": {"c": "abc"},
    "numstring": {"c": "=str"},        # the close spelled as a string: read as the number
    "bool": {"o": True},
}


def _h(address: str) -> int:
    return int.from_bytes(hashlib.blake2b(address.encode(), digest_size=4).digest(), "little") % 1000


def expected_open_times(address: str, start: int, end: int, step: int = 60) -> list[int]:
    """Open times the fake market has for `address` in [start, end)."""
    ts = np.arange(start - start % step + (step if start % step else 0), end, step, dtype=np.int64)
    return ts[((ts // 60 + _h(address)) % 11) != 0].tolist()


def candle_rows(address: str, start: int, end: int, step: int = 60) -> list[tuple]:
    ts = np.asarray(expected_open_times(address, start, end, step), dtype=np.int64)
    h = _h(address)
    close = 1e-5 * (1.5 + np.sin(ts / 3600.0 + h))
    open_ = 1e-5 * (1.5 + np.sin((ts - step) / 3600.0 + h))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    vol = 100.0 + (ts % 977)
    return list(zip(ts.tolist(), open_.tolist(), high.tolist(), low.tolist(), close.tolist(), vol.tolist(),
                    strict=True))


class FakeMarket(LoopbackServer):
    def __init__(self, *, keys: tuple[str, ...] = ("test-key-SECRET-123",), rate_limit: float | None = None,
                 latency: float = 0.0, timeout_sleep: float = 1.0):
        self.keys = set(keys)
        self.rate_limit = rate_limit
        self.latency = latency
        self.timeout_sleep = timeout_sleep
        self.faults: dict[str, list[str]] = defaultdict(list)   # address -> scripted answers, used up in order
        self.token_chain: dict[str, str] = {}                    # address -> the only chain that knows it
        self.dead: set[str] = set()                              # known, never traded: empty items
        self.bad: set[str] = set()                               # 400
        self.gecko_unknown: set[str] = set()                     # no pools (404)
        self.pairs: dict[str, tuple[str, str | None]] = {}       # pair address -> (base token, quote token)
        self.pairs_empty_list: set[str] = set()                  # unknown to DexScreener as [] (else null)
        self.requests: list[dict] = []
        self.history_from = 0                                    # GeckoTerminal: no candles before
        self.status_counts: dict[int, int] = defaultdict(int)
        self.ohlcv_faults: dict[str, list[str]] = defaultdict(list)  # GeckoTerminal pages, by token address
        self.drip_every = 0.2
        self.revoke_after: int | None = None
        self.hold_after: int | None = None
        self.release = threading.Event()
        self.answered = 0                                         # OHLCV requests answered 200
        self.paid: dict[str, int] = defaultdict(int)              # readable 200 answers (pages) per address
        self._lock = threading.Lock()
        self._windows: dict[str, deque] = defaultdict(deque)     # key -> times of accepted requests
        market = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                market._handle(self)

            def log_message(self, *args):
                pass

        super().__init__(Handler)
        self.server.handle_error = lambda *a: None  # clients that timed out close early: not our concern
        # shut down within 20 ms rather than serve_forever's default half second: a test each
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def ohlcv_requests(self, address: str | None = None) -> list[dict]:
        return [r for r in self.requests if "ohlcv" in r["path"] and (address is None or
                                                                   r["params"].get("address") == address)]

    # -- answering ---------------------------------------------------------------------------------------
    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes | dict, headers: dict | None = None) -> None:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        with self._lock:
            self.status_counts[status] += 1
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlparse(h.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        rec = {"path": url.path, "params": params, "headers": {k.lower(): v for k, v in h.headers.items()},
               "t": time.monotonic()}
        with self._lock:
            self.requests.append(rec)
        if self.latency:
            time.sleep(self.latency)
        if url.path.startswith("/api/v2/"):
            return self._gecko(h, url.path, params)
        if url.path.startswith("/latest/dex/pairs/"):
            return self._dex_pair(h, url.path)
        if url.path != "/defi/v3/ohlcv":
            return self._send(h, 404, {"success": False, "message": "Not found"})
        key = rec["headers"].get("x-api-key")
        with self._lock:
            if self.revoke_after is not None and self.answered >= self.revoke_after:
                self.keys.clear()
            hold = self.hold_after is not None and len(self.ohlcv_requests()) > self.hold_after
        if hold:
            self.release.wait()
        if key not in self.keys:
            return self._send(h, 401, {"success": False, "message": "Unauthorized"})
        if self.rate_limit and not self._admit(key):
            return self._send(h, 429, {"success": False, "message": "Too many requests"})
        address = params.get("address", "")
        fault = self._next_fault(address)
        if fault and not fault.startswith("candles:"):
            return self._fault(h, fault)
        for p, want in (("currency", "usd"), ("mode", "range"), ("padding", "false"), ("ui_amount_mode", "raw")):
            if params.get(p) != want:
                return self._send(h, 400, {"success": False, "message": f"{p} must be {want}"})
        step = STEP.get(params.get("type", ""))
        if step is None or address in self.bad:
            return self._send(h, 400, {"success": False, "message": "invalid address or type"})
        start, end = int(params["time_from"]), int(params["time_to"])
        if (end - start) // step + 1 > 5000:
            return self._send(h, 400, {"success": False, "message": "time range exceeds 5000 candles"})
        chain = rec["headers"].get("x-chain")
        known = self.token_chain.get(address, chain) == chain and address not in self.dead
        rows = candle_rows(address, start, end + 1, step) if known else []
        items = [{"unix_time": t, "o": o, "h": hi, "l": lo, "c": c, "v": v * 1000, "v_usd": v, "address": address,
                  "type": params["type"], "currency": "usd"} for t, o, hi, lo, c, v in rows]
        with self._lock:
            self.answered += 1
            self.paid[address] += 1
        if fault:  # candles:<kind>
            return self._send(h, 200, _spoiled({"success": True, "data": {"items": items}}, items[:1],
                                               fault.partition(":")[2]))
        self._send(h, 200, {"success": True, "data": {"items": items}})

    def _admit(self, key: str) -> bool:
        """A sliding one-second window per key: more than `rate_limit` requests in it are refused."""
        now = time.monotonic()
        with self._lock:
            q = self._windows[key]
            while q and q[0] <= now - 1.0:
                q.popleft()
            if len(q) >= self.rate_limit:
                return False
            q.append(now)
            return True

    def _next_fault(self, address: str) -> str | None:
        with self._lock:
            script = self.faults.get(address)
            return script.pop(0) if script else None

    def _fault(self, h: BaseHTTPRequestHandler, fault: str) -> None:
        if fault.startswith("429"):
            ra = fault.partition(":")[2]
            return self._send(h, 429, {"success": False, "message": "Too many requests"},
                              {"Retry-After": ra} if ra else None)
        if fault in ("500", "502", "503"):
            return self._send(h, int(fault), {"success": False, "message": "Internal error"})
        if fault == "401":
            return self._send(h, 401, {"success": False, "message": "Unauthorized"})
        if fault == "timeout":
            time.sleep(self.timeout_sleep)
            return self._send(h, 504, {"success": False, "message": "late"})
        if fault == "malformed":
            return self._send(h, 200, b'{"success": true, "data": {"items": [{"unix_ti')
        if fault == "badshape":  # valid JSON, not the answer's shape
            return self._send(h, 200, {"unexpected": [1, 2]})
        if fault == "wrongtype":  # the answer's shape with a string where the list goes
            return self._send(h, 200, {"success": True, "data": {"items": "none"}})
        if fault == "html":
            return self._send(h, 200, b"<html><body><h1>Just a moment...</h1></body></html>",
                              {"Content-Type": "text/html"})
        if fault == "truncated":  # the connection closes before the promised length
            return self._raw(h, 200, b'{"success": true, "data": {"items": [', length=4096)
        if fault.startswith("drip:"):
            return self._raw(h, 200, b" " * int(fault.partition(":")[2]), drip=self.drip_every)
        if fault == "hang":
            self.release.wait()
            return self._send(h, 503, {"success": False, "message": "released"})
        if fault in ("400", "403"):
            return self._send(h, int(fault), {"error": "refused"})
        raise ValueError(fault)

    def _raw(self, h: BaseHTTPRequestHandler, status: int, body: bytes, *, length: int | None = None,
             drip: float = 0.0) -> None:
        """A body that ends early (`length` above its size) or comes one byte every `drip` seconds."""
        with self._lock:
            self.status_counts[status] += 1
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(length if length is not None else len(body)))
            h.end_headers()
            h.wfile.flush()
            if drip:
                for i in range(len(body)):
                    h.wfile.write(body[i:i + 1])
                    h.wfile.flush()
                    time.sleep(drip)
            else:
                h.wfile.write(body)
                h.wfile.flush()
            h.close_connection = True
        except OSError:
            pass

    # -- pair look-ups -----------------------------------------------------------------------------------
    def _pair_request(self, h: BaseHTTPRequestHandler, pair: str, limited: str) -> tuple[str, str | None] | bool:
        """The pair's (base, quote), None when unknown, or True when a fault or the rate limit answered."""
        if self.rate_limit and not self._admit(limited):
            self._send(h, 429, {"error": "rate limited"})
            return True
        fault = self._next_fault(pair)
        if fault:
            self._fault(h, fault)
            return True
        return self.pairs.get(pair)

    def _dex_pair(self, h: BaseHTTPRequestHandler, path: str) -> None:
        parts = path.strip("/").split("/")  # latest dex pairs <chainId> <pair>
        if len(parts) != 5:
            return self._send(h, 404, {"error": "not found"})
        chain, pair = parts[3], parts[4]
        got = self._pair_request(h, pair, "dexscreener")
        if got is True:
            return None
        if got is None:
            return self._send(h, 200, {"schemaVersion": "1.0.0", "pairs": [] if pair in self.pairs_empty_list
                                       else None})
        base, quote = got
        return self._send(h, 200, {"schemaVersion": "1.0.0", "pairs": [{
            "chainId": chain, "dexId": "raydium", "pairAddress": pair,
            "baseToken": {"address": base, "name": "Base", "symbol": "BASE"},
            "quoteToken": {"address": quote or "So11111111111111111111111111111111111111112", "symbol": "SOL"},
            "priceUsd": "0.0000482", "liquidity": {"usd": 19000.0, "base": 1.0e8, "quote": 90.0},
            "fdv": 48200, "pairCreatedAt": 1740900000000}]})

    def _gecko_pool(self, h: BaseHTTPRequestHandler, network: str, pool: str) -> None:
        got = self._pair_request(h, pool, "gecko")
        if got is True:
            return None
        if got is None:
            return self._send(h, 404, {"errors": [{"status": "404", "title": "Not Found"}]})
        base, quote = got
        rel = {"base_token": {"data": {"id": f"{network}_{base}", "type": "token"}},
               "dex": {"data": {"id": "raydium", "type": "dex"}}}
        if quote:
            rel["quote_token"] = {"data": {"id": f"{network}_{quote}", "type": "token"}}
        return self._send(h, 200, {"data": {"id": f"{network}_{pool}", "type": "pool", "attributes": {
            "address": pool, "name": "BASE / SOL", "reserve_in_usd": "19000.5"}, "relationships": rel}})

    # -- GeckoTerminal -----------------------------------------------------------------------------------
    def _gecko(self, h: BaseHTTPRequestHandler, path: str, params: dict) -> None:
        parts = path.strip("/").split("/")  # api v2 networks <net> tokens <addr> pools | pools <pool> ohlcv <tf>
        if len(parts) == 6 and parts[4] == "pools":  # one pool (a pair look-up)
            return self._gecko_pool(h, parts[3], parts[5])
        if self.rate_limit and not self._admit("gecko"):
            return self._send(h, 429, {"status": {"error_code": 429, "error_message": "Rate Limited"}})
        if len(parts) == 6 and parts[4] == "tokens" or len(parts) == 7 and parts[4] == "tokens":
            addr = parts[5]
            fault = self._next_fault(addr)
            if fault:
                return self._fault(h, fault)
            if addr in self.gecko_unknown:
                return self._send(h, 404, {"errors": [{"status": "404", "title": "Not Found"}]})
            net = parts[3]
            pools = [
                {"id": f"{net}_{addr}_small", "type": "pool", "attributes": {
                    "address": f"{addr}_small", "reserve_in_usd": "120.5", "volume_usd": {"h24": "10"}},
                 "relationships": {"base_token": {"data": {"id": f"{net}_{addr}"}}}},
                {"id": f"{net}_{addr}_main", "type": "pool", "attributes": {
                    "address": f"{addr}_main", "reserve_in_usd": "85000.1", "volume_usd": {"h24": "9000"}},
                 "relationships": {"base_token": {"data": {"id": f"{net}_{addr}"}}}},
            ]
            return self._send(h, 200, {"data": pools})
        if len(parts) == 8 and parts[4] == "pools" and parts[6] == "ohlcv":
            pool = parts[5]
            addr = pool.rsplit("_", 1)[0]
            with self._lock:
                script = self.ohlcv_faults.get(addr)
                fault = script.pop(0) if script else None
            if fault and not fault.startswith("candles:"):
                return self._fault(h, fault)
            step = {"minute": 60, "hour": 3600, "day": 86400}[parts[7]] * int(params.get("aggregate", 1))
            before, limit = int(params["before_timestamp"]), min(1000, int(params.get("limit", 100)))
            # the limit newest candles before before_timestamp (quiet minutes skipped); history has a start
            rows = candle_rows(addr, max(before - 2 * limit * step, self.history_from), before, step)
            rows = [list(r) for r in reversed(rows)][:limit]  # newest first
            with self._lock:
                self.paid[addr] += 1
            doc = {"data": {"id": "x", "type": "ohlcv_request_response", "attributes": {"ohlcv_list": rows}},
                   "meta": {"base": {"address": addr}, "quote": {"address": "q"}}}
            if fault:  # candles:<kind>, on the newest candle of the page
                return self._send(h, 200, _spoiled(doc, rows[:1], fault.partition(":")[2]))
            return self._send(h, 200, doc)
        return self._send(h, 404, {"errors": [{"status": "404", "title": "Not Found"}]})


GECKO_FIELDS = {"unix_time": 0, "o": 1, "h": 2, "l": 3, "c": 4, "v_usd": 5}


def _spoiled(doc: dict, targets: list, kind: str) -> bytes:
    """`doc` as JSON with the candles in `targets` (Birdeye items or GeckoTerminal rows) spoiled as CORRUPT says;
    values starting with '@' are written bare (NaN, 1e999), which strict JSON readers refuse."""
    bare: dict[str, str] = {}
    for target in targets:
        for field, value in CORRUPT[kind].items():
            if isinstance(value, str) and value.startswith("@"):
                mark = f"__bare{len(bare)}__"
                bare[mark] = value[1:]
                value = mark
            elif field == "unix_time" and isinstance(value, int):
                value = (target["unix_time"] if isinstance(target, dict) else target[0]) + value
            elif value == "=str":
                value = repr(target[field] if isinstance(target, dict) else target[GECKO_FIELDS[field]])
            if isinstance(target, dict):
                target[field] = value
            else:
                target[GECKO_FIELDS[field]] = value
    text = orjson.dumps(doc).decode()
    for mark, raw in bare.items():
        text = text.replace(f'"{mark}"', raw)
    return text.encode()


# -- helpers for tests and the benchmark ----------------------------------------------------------------
def calls_frame(rows: list[tuple[str, str, int]]):
    """TELEGRAM_CALLS-like rows (chain, address, call_ts epoch s): the columns collect_candles reads."""
    import datetime as dt

    import polars as pl

    return pl.DataFrame({
        "chain": [r[0] for r in rows], "address": [r[1] for r in rows],
        "call_ts": [dt.datetime.fromtimestamp(r[2], dt.UTC) for r in rows],
        "first_call_ts": [dt.datetime.fromtimestamp(r[2], dt.UTC) for r in rows],
    })


class MemoryStore:
    """The warehouse's two candle tables kept in memory: read_stored and ledger as collect_candles wants them."""

    def __init__(self):
        import polars as pl

        from quantbot_pipelines.schemas import CANDLE_LEDGER, RAW_CANDLES

        self.candles = pl.from_arrow(RAW_CANDLES.empty())
        self.ledger = pl.from_arrow(CANDLE_LEDGER.empty())

    def read_stored(self, ranges):
        import polars as pl

        if ranges.is_empty() or self.candles.is_empty():
            return self.candles.head(0)
        c = self.candles.with_columns(pl.col("open_ts").dt.epoch("s").alias("_t"))
        return (c.join(ranges, on=["chain", "address", "interval"])
                .filter((pl.col("_t") >= pl.col("start_ts")) & (pl.col("_t") < pl.col("end_ts")))
                .select(self.candles.columns).unique(subset=["chain", "address", "interval", "open_ts"]))

    def save(self, day, batch) -> None:
        import polars as pl

        self.candles = pl.concat([self.candles.filter(pl.col("day") != day), batch.candles], how="vertical_relaxed")
        self.ledger = pl.concat([self.ledger.filter(pl.col("day") != day), batch.ledger], how="vertical_relaxed")
