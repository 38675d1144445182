"""An offline, deterministic market of memecoin-like 1-minute paths: the embedded default source.

A token's path is a pure function of (seed, chain, address, anchor), the anchor being the token's first call
(`CandleRequest.anchor_ts`; without one, the request's UTC day). It starts at the token's launch, some minutes
to a day before the call, and is generated forward in day blocks, each from its own seeded generator, so any
window (or any piece of one) cuts the same series: pieces fetched in different runs join seamlessly and
re-fetches are identical. Scenarios, drawn per token: pumps right after the call (mostly 2-10x, rarely
30-100x) that bleed back, slow bleeds, rugs (-90% within one candle), and dead tokens that never trade
(answered as no_trades). Quiet minutes have no candle (no padding), as on Birdeye.

A 1m candle's volume in tokens is its USD volume at the candle's typical price, (o + h + l + c) / 4; a
coarser candle sums its minutes', as a rollup of the 1m candles would. Every answer reports the token's pool
liquidity, `sample.market.pool_liquidity_usd(seed, chain, address)`: one figure per token, the pool the sample
exports' cards show.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from quantbot_pipelines.candles.base import (
    CANDLE_COLUMNS,
    CandleRequest,
    CandleSource,
    FetchOutcome,
    FetchResult,
    floor_to,
    interval_seconds,
)
from quantbot_pipelines.sample.market import pool_liquidity_usd  # the pools the sample's cards show

BLOCK = 1440                 # minutes per generated block
MAX_MINUTES = 120 * BLOCK    # a token trades at most 120 days after launch here
SCENARIOS = ("dead", "pump", "moon", "rug", "bleed")
SCENARIO_P = (0.10, 0.33, 0.04, 0.15, 0.38)


def _token_hash(chain: str, address: str) -> tuple[int, int]:
    d = hashlib.blake2b(f"{chain}|{address}".encode(), digest_size=8).digest()
    return int.from_bytes(d[:4], "little"), int.from_bytes(d[4:], "little")


class SyntheticMarket(CandleSource):
    name = "synthetic"
    max_candles_per_request = None

    def __init__(self, seed: int = 7):
        self.seed = int(seed)

    def __repr__(self) -> str:
        return f"SyntheticMarket(seed={self.seed})"

    def supports_interval(self, interval: str) -> bool:
        s = interval_seconds(interval)
        return (s >= 60 and s % 60 == 0) or 60 % s == 0

    # -- the token ---------------------------------------------------------------------------------------
    def _params(self, chain: str, address: str, anchor: int) -> dict:
        h1, h2 = _token_hash(chain, address)
        rng = np.random.default_rng([self.seed, h1, h2, anchor // 60])
        u = rng.random(16)
        scenario = SCENARIOS[int(np.searchsorted(np.cumsum(SCENARIO_P), u[0]))]
        call_min = anchor // 60
        age = int(20 + u[1] ** 2 * (BLOCK - 20))           # minutes from launch to call: most are young
        peak = {"pump": np.exp(np.log(2) + u[2] * np.log(5)), "moon": np.exp(np.log(30) + u[2] * np.log(100 / 30)),
                "rug": 1.2 + 1.8 * u[2], "bleed": 1.0 + 0.4 * u[2], "dead": 1.0}[scenario]
        return {
            "key": (self.seed, h1, h2, call_min), "scenario": scenario,
            "origin_min": call_min - age, "age": age,
            "p0": float(10 ** (-7 + 4 * u[3])),                 # launch price, USD
            "delay": 1 + 20 * u[4],                             # minutes until the pump starts
            "rise": 5 + 175 * u[5] ** 2,                        # minutes to the peak
            "peak": float(peak),
            "retain": 0.05 + 0.55 * u[6],                       # share of the peak kept after the bleed
            "tau": 120 + 1300 * u[7],                           # bleed time constant, minutes
            "rug_at": 30 + 1200 * u[8],                         # minutes after the call
            "rug_to": 0.03 + 0.07 * u[9],                       # price share left by the rug
            "bleed_per_day": 0.2 + 1.5 * u[10],
            "sigma": 0.008 + 0.02 * u[11],                      # per-minute log volatility at the call
            "vol_usd": float(10 ** (2.5 + 2 * u[12])),          # volume per active minute at the call
        }

    def _path(self, p: dict, minutes: int) -> dict[str, np.ndarray]:
        """The first `minutes` 1m candles after launch (all of them, gaps marked by `traded`)."""
        blocks = -(-minutes // BLOCK)
        z = np.empty((4, blocks * BLOCK))
        gap_u = np.empty(blocks * BLOCK)
        for b in range(blocks):  # one generator per block: the path never depends on how much is generated
            rng = np.random.default_rng([*p["key"], b])
            z[:, b * BLOCK:(b + 1) * BLOCK] = rng.standard_normal((4, BLOCK))
            gap_u[b * BLOCK:(b + 1) * BLOCK] = rng.random(BLOCK)
        z, gap_u = z[:, :minutes], gap_u[:minutes]
        t = np.arange(minutes, dtype=np.float64) - p["age"]     # minutes since the call
        after = np.maximum(t, 0.0)
        activity = np.where(t < 0, 0.35, 0.25 + 2.0 * np.exp(-after / 240.0))
        sc = p["scenario"]
        shape = np.zeros(minutes)
        if sc in ("pump", "moon", "rug", "bleed"):
            ramp = np.clip((t - p["delay"]) / p["rise"], 0.0, 1.0)
            up = np.log(p["peak"]) * (3 * ramp ** 2 - 2 * ramp ** 3)
            since_peak = np.maximum(t - p["delay"] - p["rise"], 0.0)
            shape = up + np.log(p["retain"] if sc != "bleed" else 0.7) * (1 - np.exp(-since_peak / p["tau"]))
        if sc == "bleed":
            shape -= p["bleed_per_day"] * after / BLOCK
        if sc == "rug":
            rugged = t >= p["rug_at"]
            shape = np.where(rugged, shape + np.log(p["rug_to"]), shape)
            activity = np.where(rugged, 0.08, activity)
        noise = np.cumsum(z[0] * p["sigma"] * np.sqrt(activity) * 0.6)
        close = p["p0"] * np.exp(shape + noise)
        open_ = np.concatenate(([p["p0"]], close[:-1]))
        wick = p["sigma"] * np.sqrt(activity)
        high = np.maximum(open_, close) * np.exp(np.abs(z[1]) * wick)
        low = np.minimum(open_, close) * np.exp(-np.abs(z[2]) * wick)
        ret = np.abs(np.log(close / open_))
        volume = p["vol_usd"] * activity * np.exp(0.8 * z[3]) * (1 + 30 * ret)
        traded = gap_u < np.clip(0.5 + 0.4 * activity, 0.0, 0.98)
        if sc == "rug":  # the rug candle itself always trades
            traded |= (t >= p["rug_at"]) & (t < p["rug_at"] + 1)
        return {"open": open_, "high": high, "low": low, "close": close, "volume": volume, "traded": traded}

    # -- answers -----------------------------------------------------------------------------------------
    def candles(self, chain: str, address: str, start_ts: int, end_ts: int, anchor_ts: int | None = None,
                interval: str = "1m") -> pl.DataFrame:
        """Candles with open time in [start_ts, end_ts) (UTC-aligned buckets; under 1m: each minute split)."""
        step = interval_seconds(interval)
        if step < 60:
            return self._finer(chain, address, start_ts, end_ts, anchor_ts, step)
        anchor = int(anchor_ts) if anchor_ts is not None else floor_to(start_ts, 86400)
        p = self._params(chain, address, anchor)
        if p["scenario"] == "dead":
            return pl.DataFrame(schema=CANDLE_COLUMNS)
        origin = p["origin_min"] * 60
        first = max(0, (floor_to(start_ts, 60) - origin) // 60)
        last = min(MAX_MINUTES, -(-(end_ts - origin) // 60))  # exclusive, in minutes after launch
        if last <= first:
            return pl.DataFrame(schema=CANDLE_COLUMNS)
        path = self._path(p, last)
        sl = slice(first, last)
        ts = origin + 60 * np.arange(first, last, dtype=np.int64)
        keep = path["traded"][sl]
        o, h, lo, c, v = (path[k][sl][keep] for k in ("open", "high", "low", "close", "volume"))
        vt = v / ((o + h + lo + c) / 4.0)  # per minute: what a coarser candle sums
        ts = ts[keep]
        if step != 60 and ts.size:
            bucket = ts - ts % step
            starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
            ends = np.r_[starts[1:], ts.size] - 1
            ts, o, c = bucket[starts], o[starts], c[ends]
            h, lo, v = np.maximum.reduceat(h, starts), np.minimum.reduceat(lo, starts), np.add.reduceat(v, starts)
            vt = np.add.reduceat(vt, starts)
        inside = (ts >= start_ts) & (ts < end_ts)
        return pl.DataFrame({"open_ts": ts[inside], "open": o[inside], "high": h[inside], "low": lo[inside],
                             "close": c[inside], "volume_usd": v[inside], "volume_tokens": vt[inside]},
                            schema=CANDLE_COLUMNS)

    def _finer(self, chain: str, address: str, start_ts: int, end_ts: int, anchor_ts: int | None,
               step: int) -> pl.DataFrame:
        """Each traded minute as 60 / step finer candles that roll up to it exactly: the open-to-close line cut
        in equal parts, the minute's high in one part and its low in another (which first: seeded per minute),
        the volume split evenly. A stop and a level the minute both crossed are then crossed in a known order."""
        minute = self.candles(chain, address, floor_to(start_ts, 60), end_ts, anchor_ts, "1m")
        n = 60 // step
        if minute.is_empty():
            return pl.DataFrame(schema=CANDLE_COLUMNS)
        h1, h2 = _token_hash(chain, address)
        ts0, o, h, lo, c, v, vt = (minute.get_column(k).to_numpy() for k in CANDLE_COLUMNS)
        m = len(ts0)
        part = np.arange(n + 1) / n
        way = o[:, None] + (c - o)[:, None] * part[None, :]  # m x (n + 1) prices along the minute
        opens, closes = way[:, :-1], way[:, 1:]
        highs = np.maximum(opens, closes)
        lows = np.minimum(opens, closes)
        at_high = np.empty(m, np.int64)
        at_low = np.empty(m, np.int64)
        for i in range(m):
            rng = np.random.default_rng([self.seed, h1, h2, int(ts0[i]) // 60, n])
            pick = rng.permutation(n)
            at_high[i], at_low[i] = pick[0], pick[1 % n]
        rows = np.arange(m)
        highs[rows, at_high] = h
        lows[rows, at_low] = lo
        ts = (ts0[:, None] + step * np.arange(n)[None, :]).ravel()
        inside = (ts >= start_ts) & (ts < end_ts)
        return pl.DataFrame({
            "open_ts": ts[inside], "open": opens.ravel()[inside], "high": highs.ravel()[inside],
            "low": lows.ravel()[inside], "close": closes.ravel()[inside],
            "volume_usd": np.repeat(v / n, n)[inside], "volume_tokens": np.repeat(vt / n, n)[inside]},
            schema=CANDLE_COLUMNS)

    def pool_liquidity_usd(self, chain: str, address: str) -> float:
        """The token's pool liquidity (both sides, USD) this market reports with its answers."""
        return pool_liquidity_usd(self.seed, chain, address)

    def fetch(self, request: CandleRequest) -> FetchResult:
        if not self.supports_interval(request.interval):
            return FetchResult(request, FetchOutcome.BAD_REQUEST,
                               detail=f"the synthetic market has no {request.interval} candles")
        frame = self.candles(request.chain, request.address, request.start_ts, request.end_ts,
                             request.anchor_ts, request.interval)
        # a dead token's pool is there too: it answers with its liquidity, without trades
        pool = self.pool_liquidity_usd(request.chain, request.address)
        if frame.is_empty():
            return FetchResult(request, FetchOutcome.NO_TRADES, requests=1, detail="no trades in the window",
                               pool_liquidity_usd=pool)
        return FetchResult(request, FetchOutcome.OK, frame, requests=1, pool_liquidity_usd=pool)

    def scenario(self, chain: str, address: str, anchor_ts: int) -> str:
        """Which kind of path a token follows (for tests and demos)."""
        return self._params(chain, address, int(anchor_ts))["scenario"]
