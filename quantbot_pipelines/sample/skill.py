"""Synthetic worlds with planted caller skill: known answers for walk-forward validation.

A world is a set of callers posting Solana tokens into a few chats, every caller at the same rate in every
chat. Each call names a new token (a few callers post one of their tokens again later: a repeat) whose market
is drawn from the caller's `TokenOdds`: the skilled callers' tokens run more often, run higher and rug less;
everything else about them is alike. With `skilled = 0` every caller draws from the unskilled odds (the
no-skill world).

A token's outcome is one of three kinds:
- run: rises to a lognormal peak multiple (`peak_median`, `peak_sigma`) over a lognormal time to peak, then
  gives back part of it (keeps 15-70 % of the peak, time constant 2-20 h);
- rug: drifts up at most 1.6x, never reaching 2x, then loses 92-98 % within one candle (10 min to 12 h
  after the call, log-uniform) and barely trades after;
- dud: a bump of at most 1.5x, then the same give-back as a run.
On top of the shape a random walk (`volatility` per sqrt(minute), 2.5x that just after the call) and wicks.
A candle opens at the previous close (no trade, no move) and the move happens inside it.

That is `market = "meme"`, the default. With `market = "martingale"` there is no shape: every token's close
is a driftless martingale: the same random walk in log price, its variance sigma^2 a minute (sigma the
walk's volatility above) and its mean -sigma^2/2 a minute, so the expected next close is the current one
(no runs, rugs or duds; the odds play no part, so skilled callers are skilled in name only; the same
sparsity, wicks and volumes; the tokens frame says `kind = "walk"` with null peaks). By optional stopping no exit rule has an edge there before costs: the known answer for the
overfitting guards. `SkillWorldSpec.ci_no_edge()` is the no-skill CI world on that market.

Frames come out as the pipeline stores them, without any export: `calls` as TELEGRAM_CALLS, `candles` as
RAW_CANDLES (1m, sparse: a candle in 92 % of the minutes of the first hour after a call, in 20 % up to 6 h,
8 % after, 3 % once rugged; a minute without candle had no trade), each call's window
`[call - pre_window, call + horizon]` stored under the call's own day as the candles step does (a token
called on two days has the overlap in both partitions), and `ledger` as the CANDLE_LEDGER rows that say those
windows were fetched in full. The first candle of every call opens at the minute at or just after it, at the
card's price. Everything is numpy over whole columns: a year of ~20,000 calls takes seconds. Deterministic
from `SkillWorldSpec.seed`; the calls (times, callers, chats, ids, addresses) do not depend on the odds, so a
skill and a no-skill world of one seed hold the same calls.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from quantbot_pipelines.sample.base58 import ALPHABET
from quantbot_pipelines.sample.market import POOL_USD

HORIZON_S = 48 * 3600  # the backtest's default window (backtest.DEFAULT_HORIZON_S; importing it pulls numba)
UTC_MS = pl.Datetime("ms", "UTC")  # how the warehouse reads timestamps back
SUPPLY = 1e9
DEXES = ("Raydium", "PumpSwap", "Meteora")  # never Pump.fun: no bonding curve, a card's liquidity is the pool
BOTS = ("Rick", "Phanes")
CALLER_BASE = 720_000_000
CHUNK = 1024  # tokens per block of the candle grid: a block's arrays stay small and are reused
# the chance a minute trades, by minutes since the latest call of the token
DENSE_P, MID_P, TAIL_P, DEAD_P = 0.92, 0.2, 0.08, 0.03
DENSE_MIN, MID_MIN = 60, 360
RUG_CAP = 1.8  # before its rug, a rug's closes stay below this multiple of the call price, its highs below 1.95
MARKETS = ("meme", "martingale")
WALK = 3  # a martingale market's token kind, after run, rug and dud


@dataclass(frozen=True)
class TokenOdds:
    """What a caller's tokens do. run + rug <= 1; the rest are duds."""

    run: float          # share of tokens that run
    rug: float          # share that rug (fall > 90 % before ever reaching 2x)
    peak_median: float  # median peak multiple of a run (lognormal, at least 1.1)
    peak_sigma: float   # log-sd of the peak multiple
    peak_minutes: float = 120.0      # median minutes from the call to a run's or a dud's peak (lognormal)
    peak_minutes_sigma: float = 1.0  # log-sd of the time to peak (clipped to 5 min .. 24 h)


# in the CI world (seeds 1-4, 11): 2x hit rate 53-61 % against 21-25 %, median ATH 2.1-2.8x against ~1.45x
UNSKILLED = TokenOdds(run=0.38, rug=0.25, peak_median=2.2, peak_sigma=0.7)
SKILLED = TokenOdds(run=0.75, rug=0.07, peak_median=3.1, peak_sigma=0.7)


@dataclass(frozen=True)
class SkillWorldSpec:
    """A world's size and odds.

    calls_per_day: mean first calls a day over all callers (each caller an equal Poisson share); repeats
    (`repeat_rate` of the first calls, 1-24 h later, same caller, any chat, inside the world's days) come on
    top. card_rate: share of calls a bot card answered (price, market cap, liquidity, ticker); the others name
    only the address (their pool is the one the ledger reports). pre_window_s: the part of a call's stored
    window before the call (only a repeat has candles there). market: "meme" (runs, rugs and duds drawn from
    the odds) or "martingale" (driftless random walks, no edge for any exit; see the module doc).
    """

    seed: int = 11
    start: dt.date = dt.date(2025, 1, 1)
    days: int = 120
    callers: int = 40
    skilled: int = 8
    calls_per_day: float = 12.0
    chats: int = 3
    horizon_s: int = HORIZON_S
    pre_window_s: int = 3600
    repeat_rate: float = 0.03
    card_rate: float = 0.85
    volatility: float = 0.006
    skilled_odds: TokenOdds = SKILLED
    unskilled_odds: TokenOdds = UNSKILLED
    market: str = "meme"

    @classmethod
    def ci(cls, seed: int = 11) -> SkillWorldSpec:
        """120 days, 40 callers of whom 8 are skilled: ~1,480 calls, ~420,000 candles."""
        return cls(seed=seed)

    @classmethod
    def ci_no_skill(cls, seed: int = 11) -> SkillWorldSpec:
        """The CI world's calls with nobody skilled."""
        return replace(cls.ci(seed), skilled=0)

    @classmethod
    def ci_no_edge(cls, seed: int = 11) -> SkillWorldSpec:
        """The CI world's calls with nobody skilled, on the martingale market: no caller and no exit has an
        edge."""
        return replace(cls.ci_no_skill(seed), market="martingale")

    @classmethod
    def bench(cls, seed: int = 11) -> SkillWorldSpec:
        """365 days, 100 callers of whom 15 are skilled: ~20,300 calls, ~5.6M candles."""
        return cls(seed=seed, days=365, callers=100, skilled=15, calls_per_day=54.0)


@dataclass(frozen=True)
class SkillWorld:
    spec: SkillWorldSpec
    calls: pl.DataFrame    # TELEGRAM_CALLS columns, sorted by call_ts
    candles: pl.DataFrame  # RAW_CANDLES columns, sorted by (day, address, open_ts)
    ledger: pl.DataFrame   # CANDLE_LEDGER rows (ok) of the stored windows: coverage for token_analytics
    tokens: pl.DataFrame   # the planted truth per token: its caller, kind, peak multiple, times
    skilled: frozenset[str] = field(default_factory=frozenset)  # caller ids drawing from the skilled odds
    now: int = 0           # epoch seconds past every window's end: token_analytics sees complete windows

    @property
    def caller_ids(self) -> list[str]:
        return [_caller_id(i) for i in range(self.spec.callers)]


def _caller_id(i: int) -> str:
    return f"user{CALLER_BASE + i}"


def _day_ts(d: dt.date) -> int:
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp())


def _ceil_minute(ts: np.ndarray) -> np.ndarray:
    return -(-ts // 60) * 60


def caller_order(spec: SkillWorldSpec) -> list[str]:
    """The seed's order of the callers: a world's skilled callers are the first `skilled` of it, so worlds of
    one seed nest (a no-skill world can be looked at through the callers its skill twin made skilled)."""
    return [_caller_id(int(i)) for i in np.random.default_rng([spec.seed, 0]).permutation(spec.callers)]


# -- calls -------------------------------------------------------------------------------------------------
def _schedule(spec: SkillWorldSpec) -> dict[str, np.ndarray]:
    """Every call (first calls and repeats) sorted by time, and per token (numbered by its first call, in time
    order) the time of its repeat (-1: none)."""
    rng = np.random.default_rng([spec.seed, 1])
    counts = rng.poisson(spec.calls_per_day / spec.callers, size=(spec.days, spec.callers))
    day_i, caller = np.nonzero(counts)
    reps = counts[day_i, caller]
    day_i, caller = np.repeat(day_i, reps), np.repeat(caller, reps)
    t_start = _day_ts(spec.start)
    ts = t_start + day_i.astype(np.int64) * 86400 + rng.integers(0, 86400, day_i.size)
    order = np.lexsort((caller, ts))
    ts, caller = ts[order], caller[order]
    n = ts.size
    rep_ts = ts + rng.integers(3600, 24 * 3600, n)
    again = (rng.random(n) < spec.repeat_rate) & (rep_ts < t_start + spec.days * 86400)
    out = {
        "ts": np.concatenate([ts, rep_ts[again]]),
        "caller": np.concatenate([caller, caller[again]]),
        "token": np.concatenate([np.arange(n), np.flatnonzero(again)]),
        "repeat": np.concatenate([np.zeros(n, bool), np.ones(int(again.sum()), bool)]),
    }
    m = out["ts"].size
    out["chat"] = rng.integers(0, spec.chats, m)
    out["card"] = rng.random(m) < spec.card_rate
    out["bot"] = rng.integers(0, len(BOTS), m)
    out["gap"] = rng.integers(1, 40, m)  # other messages between two calls of a chat
    order = np.lexsort((out["repeat"], out["caller"], out["ts"]))
    out = {k: v[order] for k, v in out.items()}
    out["rep_ts"] = np.where(again, rep_ts, -1)
    out["tok_ts"], out["tok_caller"] = ts, caller
    return out


def _mints(seed: int, n: int) -> np.ndarray:
    """n distinct Solana mint addresses (44 base58 characters, 32 bytes; about half end in 'pump' like pump.fun
    mints, made by replacing the last four digits, which keeps 44 digits and 32 bytes): sample.base58's
    encoding, by long division over whole columns."""
    rng = np.random.default_rng([seed, 5])
    alphabet = np.frombuffer(ALPHABET.encode(), np.uint8)
    pump = np.frombuffer(b"pump", np.uint8)
    found: list[np.ndarray] = []
    have = 0
    while have < n:
        m = int((n - have) * 1.1) + 16
        num = rng.integers(0, 256, (m, 32), dtype=np.int64)
        digits = np.empty((m, 44), np.int64)
        for d in range(43, -1, -1):  # least significant digit first
            rem = np.zeros(m, np.int64)
            for j in range(32):
                cur = rem * 256 + num[:, j]
                num[:, j] = cur // 58
                rem = cur % 58
            digits[:, d] = rem
        full = digits[:, 0] > 0  # 44 digits: at least 58^43, always 32 bytes (43-digit ones may be 31)
        text = alphabet[digits[full]].astype(np.uint8)
        text[rng.random(text.shape[0]) < 0.5, 40:] = pump
        found.append(text)
        have += text.shape[0]
    rows = np.concatenate(found)
    _, first = np.unique(rows.view(f"S{rows.shape[1]}").ravel(), return_index=True)
    rows = rows[np.sort(first)][:n]
    if rows.shape[0] < n:  # a collision among 2^256 draws: draw again with the next seed
        return _mints(seed + 1, n)
    return rows.view("S44").ravel().astype(str)


# -- tokens ------------------------------------------------------------------------------------------------
def _outcomes(spec: SkillWorldSpec, is_skilled: np.ndarray) -> dict[str, np.ndarray]:
    """Per token: its kind and shape, from the seed's uniforms mapped through its caller's odds (the same
    draws in a skill and a no-skill world, and in either market: a walk keeps only its price and volume)."""
    n = is_skilled.size
    rng = np.random.default_rng([spec.seed, 2])
    u = rng.random((9, n))
    z = rng.standard_normal((2, n))
    sk, un = spec.skilled_odds, spec.unskilled_odds

    def odds(name: str) -> np.ndarray:
        return np.where(is_skilled, getattr(sk, name), getattr(un, name))

    run_p, rug_p = odds("run"), odds("rug")
    kind = np.where(u[0] < run_p, 0, np.where(u[0] < run_p + rug_p, 1, 2))  # 0 run, 1 rug, 2 dud
    run_peak = np.maximum(1.1, odds("peak_median") * np.exp(odds("peak_sigma") * z[0]))
    peak = np.select([kind == 0, kind == 1], [run_peak, 1.0 + 0.6 * u[1]], 1.0 + 0.5 * u[1])
    peak_min = np.clip(odds("peak_minutes") * np.exp(odds("peak_minutes_sigma") * z[1]), 5.0, 24 * 60.0)
    # a rug's minute: the candle of that minute is the rug (the minute before it is not rugged yet)
    rug_m = np.where(kind == 1, np.floor(10.0 * 72.0 ** u[2]), -1).astype(np.int64)
    peak_min = np.where(kind == 1, np.maximum(rug_m, 1) * (0.3 + 0.6 * u[3]), peak_min)
    if spec.market == "martingale":  # the same draws (same card prices and volumes), no shape
        kind, peak, rug_m = np.full(n, WALK), np.ones(n), np.full(n, -1, np.int64)
    return {
        "kind": kind,
        "peak": peak,
        "peak_min": peak_min,
        "rug_m": rug_m,
        "rug_to": 0.02 + 0.06 * u[4],
        "retain": 0.15 + 0.55 * u[5],
        "tau": 120.0 + 1080.0 * u[6],
        "p0": 10 ** (-7 + 4 * u[7]),   # price at the first call, USD
        "v0": 10 ** (2.5 + 1.5 * u[8]),  # USD volume of an active minute at the call
    }


def _block_paths(spec: SkillWorldSpec, g: dict[str, np.ndarray], tok: np.ndarray, minute: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
    """OHLCV of a block's traded minutes (grouped by token, minutes rising); g: token params per row."""
    n = tok.size
    head = np.ones(n, bool)
    head[1:] = tok[1:] != tok[:-1]
    m = minute.astype(np.float64)
    step = np.ones(n)
    step[1:] = np.where(head[1:], 1.0, m[1:] - m[:-1])  # minutes the close moved over (a gap adds its minutes)
    t = m + 1.0  # a candle closes at the end of its minute
    is_rug = g["rug_m"] >= 0
    rugged = is_rug & (m >= g["rug_m"])
    calm = np.exp(-m / 240.0)
    sigma = spec.volatility * (1.0 + 1.5 * calm)
    z = rng.standard_normal((4, n))
    inc = z[0] * sigma * np.sqrt(step)
    if spec.market == "martingale":
        # E[exp(inc)] = 1: the close's expected next value is itself (the minutes are drawn apart from prices)
        shape = np.zeros(n)
        inc -= 0.5 * sigma**2 * step
    else:
        ramp = np.clip(t / g["peak_min"], 0.0, 1.0)
        shape = np.log(g["peak"]) * (3 * ramp**2 - 2 * ramp**3)
        shape += np.log(g["retain"]) * (1.0 - np.exp(-np.maximum(t - g["peak_min"], 0.0) / g["tau"]))
        shape += np.where(rugged, np.log(g["rug_to"]), 0.0)
    walk = np.cumsum(inc)
    starts = np.flatnonzero(head)
    walk -= np.repeat(walk[starts] - inc[starts], np.diff(np.append(starts, n)))
    log_close = shape + walk
    before = is_rug & ~rugged
    log_close = np.where(before, np.minimum(log_close, math.log(RUG_CAP)), log_close)
    close = g["p0"] * np.exp(log_close)
    open_ = np.empty(n)
    open_[1:] = close[:-1]
    open_[head] = g["p0"][head]
    top, bottom = np.maximum(open_, close), np.minimum(open_, close)
    high = top * np.exp(np.abs(z[1]) * sigma * 0.8)
    high = np.where(before, np.maximum(np.minimum(high, 1.95 * g["p0"]), top), high)
    low = bottom * np.exp(-np.abs(z[2]) * sigma * 0.8)
    activity = np.where(rugged, 0.05, 0.25 + 2.0 * calm)
    volume = g["v0"] * activity * np.exp(0.8 * z[3]) * (1.0 + 20.0 * np.abs(np.log(close / open_)))
    return {"open": open_, "high": high, "low": low, "close": close, "volume_usd": volume,
            "volume_tokens": volume / ((open_ + high + low + close) / 4.0)}


def _market(spec: SkillWorldSpec, out: dict[str, np.ndarray], span: np.ndarray, rep_off: np.ndarray,
            rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every token's traded minutes and candles: tok, minute (since its first candle), OHLCV; rows grouped by
    token (in blocks of like spans), minutes rising. span: minutes per token; rep_off: minute of its repeat's
    first candle (-1: none)."""
    order = np.argsort(span, kind="stable")  # blocks of like spans: little padding
    since = np.arange(int(span.max()))
    base = np.where(since < DENSE_MIN, DENSE_P, np.where(since < MID_MIN, MID_P, TAIL_P)).astype(np.float32)
    parts = []
    for a in range(0, order.size, CHUNK):
        t = order[a:a + CHUNK]
        width = int(span[t].max())
        m = np.arange(width, dtype=np.int32)[None, :]
        u = rng.random((t.size, width), dtype=np.float32)
        keep = u < base[:width]
        for i in np.flatnonzero(rep_off[t] >= 0):  # a repeat's own first hours trade like a call's
            r = rep_off[t[i]]
            keep[i, r:] = u[i, r:] < np.maximum(base[: width - r], base[r:width])
        rug = out["rug_m"][t][:, None]
        dead = (rug >= 0) & (m > rug)
        keep[dead] = u[dead] < DEAD_P
        keep |= (m == 0) | (m == rep_off[t][:, None]) | (m == rug)  # each call's entry candle, the rug candle
        keep &= m < span[t][:, None]
        row, minute = np.nonzero(keep)
        tok = t[row]
        block = _block_paths(spec, {k: v[tok] for k, v in out.items()}, tok, minute, rng)
        parts.append({"tok": tok, "minute": minute, **block})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# -- the world ---------------------------------------------------------------------------------------------
def skill_world(spec: SkillWorldSpec | None = None) -> SkillWorld:
    """The world of `spec` (default: the CI world)."""
    spec = spec or SkillWorldSpec.ci()
    if spec.market not in MARKETS:
        raise ValueError(f"market must be one of {MARKETS}, got {spec.market!r}")
    if not 0 <= spec.skilled <= spec.callers:
        raise ValueError(f"skilled must be in [0, {spec.callers}], got {spec.skilled}")
    for odds in (spec.skilled_odds, spec.unskilled_odds):
        if min(odds.run, odds.rug) < 0 or odds.run + odds.rug > 1:
            raise ValueError(f"run and rug shares must be >= 0 and sum to <= 1: {odds}")
    s = _schedule(spec)
    tok_ts, rep_ts = s["tok_ts"], s["rep_ts"]
    n_tok = tok_ts.size
    skilled = frozenset(caller_order(spec)[: spec.skilled])
    is_skilled = np.isin(np.arange(spec.callers), [int(c[4:]) - CALLER_BASE for c in skilled])
    out = _outcomes(spec, is_skilled[s["tok_caller"]])

    # each token's minute grid starts at its first call's entry candle and covers its last call's window
    t0 = _ceil_minute(tok_ts)
    last = np.maximum(tok_ts, rep_ts)
    span = ((last + spec.horizon_s) // 60 * 60 + 60 - t0) // 60
    rep_off = np.where(rep_ts >= 0, (_ceil_minute(rep_ts) - t0) // 60, -1)
    mk = _market(spec, out, span, rep_off, np.random.default_rng([spec.seed, 3]))

    # the price on a call's card: its entry candle's open (the last trade before the call)
    price = out["p0"][s["token"]]
    on_rep = mk["minute"] == rep_off[mk["tok"]]
    rep_price = np.full(n_tok, np.nan)
    rep_price[mk["tok"][on_rep]] = mk["open"][on_rep]
    price = np.where(s["repeat"], rep_price[s["token"]], price)

    address = pl.Series("address", _mints(spec.seed, n_tok), pl.String)
    crng = np.random.default_rng([spec.seed, 4])
    pool = POOL_USD[0] * (POOL_USD[1] / POOL_USD[0]) ** crng.random(n_tok)  # the token's pool, both sides
    age = (60 * np.exp(crng.random(n_tok) * math.log(1440))).astype(np.int64)  # 1 min .. 1 day at the call
    dex = crng.integers(0, len(DEXES), n_tok)

    calls = _calls_frame(spec, s, address, price, pool, age, dex)
    candles, ledger = _stored(spec, s, address, t0, mk, pool)
    tokens = pl.DataFrame({
        "address": address,
        "caller_id": pl.Series([_caller_id(int(c)) for c in s["tok_caller"]], dtype=pl.String),
        "skilled": is_skilled[s["tok_caller"]],
        "kind": np.array(["run", "rug", "dud", "walk"])[out["kind"]],
        "peak_multiple": out["peak"],
        "peak_s": (out["peak_min"] * 60).astype(np.int64),
        "rug_s": np.where(out["rug_m"] >= 0, out["rug_m"] * 60, -1),
        "call_ts": pl.Series(tok_ts * 1000).cast(UTC_MS),
    }).with_columns(pl.col("rug_s").replace(-1, None))
    if spec.market == "martingale":  # a walk has no planted peak
        tokens = tokens.with_columns(pl.lit(None, pl.Float64).alias("peak_multiple"),
                                     pl.lit(None, pl.Int64).alias("peak_s"))
    now = int((s["ts"].max() + spec.horizon_s) // 86400 * 86400 + 2 * 86400)
    return SkillWorld(spec=spec, calls=calls, candles=candles, ledger=ledger, tokens=tokens, skilled=skilled,
                      now=now)


def _calls_frame(spec: SkillWorldSpec, s: dict[str, np.ndarray], address: pl.Series, price: np.ndarray,
                 pool: np.ndarray, age: np.ndarray, dex: np.ndarray) -> pl.DataFrame:
    ts, caller, token, repeat, chat, card = (s[k] for k in ("ts", "caller", "token", "repeat", "chat", "card"))
    msg = np.empty(ts.size, np.int64)
    for c in range(spec.chats):  # ids rise with time in each chat
        idx = np.flatnonzero(chat == c)
        msg[idx] = 10_000 * (c + 1) + np.cumsum(s["gap"][idx])
    addr = address.gather(token)
    ticker = addr.str.slice(0, 5).str.to_uppercase()
    first_ts = s["tok_ts"][token]
    has = pl.Series(card)

    def on_card(values, dtype) -> pl.Series:
        return pl.select(pl.when(has).then(pl.Series(values).cast(dtype))).to_series()

    def pick(names: list[str], i: np.ndarray) -> pl.Series:
        return pl.Series(names, dtype=pl.String).gather(i)

    return pl.DataFrame({
        "day": pl.Series((ts // 86400).astype(np.int32)).cast(pl.Date),
        "chat_id": pick([str(1_900_000_001 + c) for c in range(spec.chats)], chat),
        "chat_name": pick([f"Skill Room {c + 1}" for c in range(spec.chats)], chat),
        "chat_type": pl.repeat("public_supergroup", ts.size, eager=True),
        "message_id": msg,
        "call_ts": pl.Series(ts * 1000).cast(UTC_MS),
        "caller_id": pick([_caller_id(i) for i in range(spec.callers)], caller),
        "caller_name": pick([f"caller_{i:03d}" for i in range(spec.callers)], caller),
        "chain": pl.repeat("solana", ts.size, eager=True),
        "address": addr,
        "address_raw": addr,
        "resolved_by": pick(["text", "card"], card.astype(np.int64)),
        "address_kind": pick(["unknown", "mint"], card.astype(np.int64)),
        "card_bot": on_card(pick(list(BOTS), s["bot"]), pl.String),
        "card_name": on_card("Token " + ticker, pl.String),
        "card_ticker": on_card(ticker, pl.String),
        "card_price_usd": on_card(price, pl.Float64),
        "card_mcap_usd": on_card(price * SUPPLY, pl.Float64),
        "card_liquidity_usd": on_card(pool[token], pl.Float64),
        "card_age_s": on_card(age[token] + (ts - first_ts), pl.Int64),
        "card_dex": on_card(pick(list(DEXES), dex[token]), pl.String),
        "first_call": ~repeat,
        "repeat": repeat,
        "first_call_ts": pl.Series(first_ts * 1000).cast(UTC_MS),
        "edited": np.zeros(ts.size, bool),
        "text": addr,
    })


def _stored(spec: SkillWorldSpec, s: dict[str, np.ndarray], address: pl.Series, t0: np.ndarray,
            mk: dict[str, np.ndarray], pool: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The candles per (token, call day), the union of that day's windows of the token as the candles step
    stores them, sorted by (day, address, open_ts); and one ledger row per stored window."""
    n_tok = t0.size
    ts, token, repeat = s["ts"], s["token"], s["repeat"]
    lo = (ts - spec.pre_window_s) // 60 * 60
    hi = (ts + spec.horizon_s) // 60 * 60 + 60
    day = ts // 86400
    # a token's first call makes its first window; a repeat the same day widens it, another day adds one
    first = ~repeat
    w_day, w_lo, w_hi = np.empty(n_tok, np.int64), np.empty(n_tok, np.int64), np.empty(n_tok, np.int64)
    w_day[token[first]], w_lo[token[first]], w_hi[token[first]] = day[first], lo[first], hi[first]
    rep = np.flatnonzero(repeat)
    same = day[rep] == w_day[token[rep]]
    w_hi[token[rep[same]]] = hi[rep[same]]
    later = rep[~same]

    # rows of each token are one run of mk (minutes rising): windows are slices of it
    tok = mk["tok"]
    head = np.flatnonzero(np.r_[True, tok[1:] != tok[:-1]])
    run_start = np.empty(n_tok, np.int64)
    run_start[tok[head]] = head
    open_ts = t0[tok] + 60 * mk["minute"]
    n_before = np.bincount(tok, weights=open_ts < w_hi[tok], minlength=n_tok).astype(np.int64)
    seg_tok = np.concatenate([np.arange(n_tok), token[later]])
    seg_day = np.concatenate([w_day, day[later]])
    seg_lo = np.concatenate([w_lo, lo[later]])
    seg_hi = np.concatenate([w_hi, hi[later]])
    seg_start = np.concatenate([run_start, run_start[token[later]]])
    seg_len = n_before.copy()
    if later.size:  # a token has one repeat at most: its later window runs from its start to the token's end
        lt = token[later]
        later_lo = np.full(n_tok, np.iinfo(np.int64).min)
        later_lo[lt] = lo[later]
        n_total = np.bincount(tok, minlength=n_tok)
        skip = np.bincount(tok, weights=open_ts < later_lo[tok], minlength=n_tok).astype(np.int64)
        seg_start[n_tok:] += skip[lt]
        seg_len = np.concatenate([seg_len, n_total[lt] - skip[lt]])
    rank = np.empty(n_tok, np.int64)
    rank[address.arg_sort().to_numpy()] = np.arange(n_tok)
    order = np.lexsort((rank[seg_tok], seg_day))
    seg_tok, seg_day, seg_lo, seg_hi = seg_tok[order], seg_day[order], seg_lo[order], seg_hi[order]
    seg_start, seg_len = seg_start[order], seg_len[order]
    offsets = np.cumsum(seg_len) - seg_len
    rows = np.arange(int(seg_len.sum())) - np.repeat(offsets - seg_start, seg_len)

    cols = {k: mk[k][rows] for k in ("open", "high", "low", "close", "volume_usd", "volume_tokens")}
    n = rows.size
    candles = pl.DataFrame({
        "day": pl.Series(np.repeat(seg_day, seg_len).astype(np.int32)).cast(pl.Date),
        "chain": pl.repeat("solana", n, eager=True),
        "address": address.gather(tok[rows]),
        "interval": pl.repeat("1m", n, eager=True),
        "open_ts": pl.Series(open_ts[rows] * 1000).cast(UTC_MS),
        "open": cols["open"], "high": cols["high"], "low": cols["low"], "close": cols["close"],
        "volume_usd": cols["volume_usd"],
        "source": pl.repeat("synthetic", n, eager=True),
        "volume_tokens": cols["volume_tokens"],
    })
    fetched = int((ts.max() + spec.horizon_s) // 86400 * 86400 + 86400)
    m = seg_tok.size
    ledger = pl.DataFrame({
        "day": pl.Series(seg_day.astype(np.int32)).cast(pl.Date),
        "source": pl.repeat("synthetic", m, eager=True),
        "chain": pl.repeat("solana", m, eager=True),
        "address": address.gather(seg_tok),
        "interval": pl.repeat("1m", m, eager=True),
        "start_ts": pl.Series(seg_lo * 1000).cast(UTC_MS),
        "end_ts": pl.Series(seg_hi * 1000).cast(UTC_MS),
        "status": pl.repeat("ok", m, eager=True),
        "candles": seg_len,
        "requests": np.ones(m, np.int64),
        "fetched_at": pl.Series(np.full(m, fetched * 1000)).cast(UTC_MS),
        "invalid_candles": np.zeros(m, np.int64),
        # what a candle source reports with its answers: the pool of the calls without a card
        "pool_liquidity_usd": pool[seg_tok],
    })
    return candles, ledger


__all__ = ["MARKETS", "SKILLED", "UNSKILLED", "SkillWorld", "SkillWorldSpec", "TokenOdds", "caller_order",
           "skill_world"]
