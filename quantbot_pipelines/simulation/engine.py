"""simulate(): one trade per (call, strategy), as SIMULATION_RESULTS rows.

Entry and window: docs/semantics.md#entry-and-window, via quantbot_pipelines.backtest.call_windows
(once per distinct (entry_delay, max_entry_gap, horizon) among the strategies). Fills and costs: the
same page ("Trades"), implemented in kernels.simulate_block (serial) / simulate_block_parallel (calls over
threads). Calls are processed in chunks whose size also shrinks with the number of strategies, so the working
arrays stay bounded (about PAIR_BUDGET trades at a time) whatever the call count; `iter_simulate` yields the
chunks for callers that stream them to storage.

Fill times: a fill is stamped with the open time of the candle it happened in (a time exit or end-of-window
sale at that candle's close too); `exit_ts` is the stamp of the last fill.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl

from quantbot_pipelines.backtest import CallWindows, ExitReason, Intrabar, call_windows
from quantbot_pipelines.schemas import SIMULATION_RESULTS
from quantbot_pipelines.simulation import execution as X
from quantbot_pipelines.simulation import kernels as K
from quantbot_pipelines.simulation.pools import POOL_COLUMNS, Pools, call_pools
from quantbot_pipelines.simulation.refine import LEVEL, STOP, first_crossed
from quantbot_pipelines.simulation.strategy import Strategy

_REASON_CODES = [int(r) for r in ExitReason]
_REASON_LABELS = [r.label for r in ExitReason]
PARALLEL_MIN_CALLS = 64  # below this, thread start-up costs more than it saves
PARALLEL_SLICES = 8  # runs of calls per thread: evens out threads whose calls hold longer trades
# one parallel kernel at a time per process: numba's workqueue threading layer must not be entered from two
# Python threads at once; a caller that finds it busy runs the serial kernel (same results)
_PARALLEL_LOCK = threading.Lock()
SLOT_PARTS = 2  # parts a pair may write per fill slot in one pass (a buy and its sells, uncapped, fit)
PAIR_BUDGET = 1_000_000  # trades per kernel call: ~40 MB of fill arrays with 3-level ladders
_CALL_COLS = ("day", "chat_id", "message_id", "caller_id", "caller_name", "chain", "address", "call_ts", "repeat")


@dataclass(frozen=True)
class StrategyArrays:
    """Strategies as flat arrays for the kernel (nan / -1 = rule absent)."""

    sl: np.ndarray
    tr_act: np.ndarray
    tr_dist: np.ndarray
    be: np.ndarray
    time_s: np.ndarray
    policy: np.ndarray
    cost_factor: np.ndarray
    n_levels: np.ndarray
    tp_mult: np.ndarray
    tp_frac: np.ndarray

    @property
    def max_fills(self) -> int:
        return self.tp_mult.shape[1] + 1


def strategy_arrays(strategies: list[Strategy]) -> StrategyArrays:
    n = len(strategies)
    width = max([len(s.take_profit) for s in strategies] + [1])
    tp_mult = np.full((n, width), np.inf)
    tp_frac = np.zeros((n, width))
    for j, s in enumerate(strategies):
        for i, (m, f) in enumerate(s.take_profit):
            tp_mult[j, i], tp_frac[j, i] = m, f
    fee = np.array([s.fee_bps for s in strategies], float) / 1e4
    slip = np.array([s.slippage_bps for s in strategies], float) / 1e4
    nan = float("nan")
    return StrategyArrays(
        sl=np.array([nan if s.stop_loss is None else s.stop_loss for s in strategies], float),
        tr_act=np.array([nan if s.trailing_stop is None else s.trailing_stop[0] for s in strategies], float),
        tr_dist=np.array([nan if s.trailing_stop is None else s.trailing_stop[1] for s in strategies], float),
        be=np.array([nan if s.break_even is None else s.break_even for s in strategies], float),
        time_s=np.array([-1 if s.time_exit_s is None else s.time_exit_s for s in strategies], np.int64),
        policy=np.array([Intrabar[s.intrabar] for s in strategies], np.int64),
        # the page's cost formula: (1 - s)(1 - fee) / ((1 + s)(1 + fee)), the same factor for every fill
        cost_factor=(1 - slip) * (1 - fee) / ((1 + slip) * (1 + fee)),
        n_levels=np.array([len(s.take_profit) for s in strategies], np.int64),
        tp_mult=tp_mult, tp_frac=tp_frac,
    )


@dataclass(frozen=True)
class TradeArrays:
    """Kernel output for calls [lo, hi) x S strategies; pair p = (call - lo) * S + strategy."""

    exit_i: np.ndarray  # candle index of the last fill, -1 without entry
    reason: np.ndarray  # ExitReason code
    net_multiple: np.ndarray
    n_fills: np.ndarray
    fill_i: np.ndarray  # pairs x max_fills candle indices
    fill_px: np.ndarray
    fill_frac: np.ndarray
    fill_reason: np.ndarray
    # docs/semantics.md#order-bounds: 0 nothing ambiguous, 1 the policy read the ambiguous candle stop first,
    # 2 take-profit first; alt_* are the trade under the other reading (its fills as fill_*)
    ambiguous: np.ndarray | None = None
    alt_multiple: np.ndarray | None = None
    alt_reason: np.ndarray | None = None
    alt_n_fills: np.ndarray | None = None
    alt_fill_i: np.ndarray | None = None
    alt_fill_px: np.ndarray | None = None
    alt_fill_frac: np.ndarray | None = None
    alt_fill_reason: np.ndarray | None = None
    ambiguous_i: np.ndarray | None = None  # candle index of the ambiguous candle
    ambiguous_stop: np.ndarray | None = None  # the stop in force on it
    ambiguous_level: np.ndarray | None = None  # the take-profit level it reached


def run_block(paths: CallWindows, arrays: StrategyArrays, horizon_s: int, lo: int, hi: int, *,
              parallel: bool | None = None) -> TradeArrays:
    """Run the kernel for calls [lo, hi) of `paths` against every strategy of `arrays`.

    parallel: None = over numba's threads (NUMBA_NUM_THREADS, or numba.set_num_threads) when there are at
    least PARALLEL_MIN_CALLS calls and more than one thread. Output is identical either way: each
    (call, strategy) pair has its own output slots.
    """
    pairs = (hi - lo) * len(arrays.sl)
    width = arrays.max_fills
    out = TradeArrays(np.empty(pairs, np.int64), np.empty(pairs, np.int8), np.empty(pairs, np.float64),
                      np.empty(pairs, np.int8), np.empty((pairs, width), np.int64),
                      np.empty((pairs, width), np.float64), np.empty((pairs, width), np.float64),
                      np.empty((pairs, width), np.int8), np.empty(pairs, np.int8),
                      np.empty(pairs, np.float64), np.empty(pairs, np.int8), np.zeros(pairs, np.int8),
                      np.empty((pairs, width), np.int64), np.empty((pairs, width), np.float64),
                      np.empty((pairs, width), np.float64), np.empty((pairs, width), np.int8),
                      np.zeros(pairs, np.int64), np.full(pairs, np.nan), np.full(pairs, np.nan))
    args = (paths.ts, paths.open, paths.high, paths.low, paths.close, paths.start, paths.stop, paths.entry_price,
            lo, hi, arrays.sl, arrays.tr_act, arrays.tr_dist, arrays.be, arrays.time_s, np.int64(horizon_s),
            arrays.policy, arrays.cost_factor, arrays.n_levels, arrays.tp_mult, arrays.tp_frac, out.exit_i,
            out.reason, out.net_multiple, out.n_fills, out.ambiguous, out.fill_i, out.fill_px, out.fill_frac,
            out.fill_reason, out.alt_multiple, out.alt_reason, out.alt_n_fills, out.alt_fill_i, out.alt_fill_px, out.alt_fill_frac,
            out.alt_fill_reason, out.ambiguous_i, out.ambiguous_stop, out.ambiguous_level)
    threads = numba.get_num_threads()
    if parallel is None:
        parallel = hi - lo >= PARALLEL_MIN_CALLS and threads > 1
    if parallel and _PARALLEL_LOCK.acquire(blocking=False):
        try:
            K.simulate_block_parallel(*args, PARALLEL_SLICES * threads)
        finally:
            _PARALLEL_LOCK.release()
    else:
        K.simulate_block(*args)
    return out


@dataclass(frozen=True)
class ExecutionArrays:
    """What the execution pass needs of each strategy (size nan: unit size, not executed)."""

    size: np.ndarray
    xyk: np.ndarray
    dex_fee: np.ndarray  # nan: by venue
    fee: np.ndarray
    slip: np.ndarray
    fixed: np.ndarray
    share: np.ndarray  # inf: no volume cap

    @property
    def any_sized(self) -> bool:
        return bool(np.isfinite(self.size).any())


def execution_arrays(strategies: list[Strategy]) -> ExecutionArrays:
    nan = float("nan")
    return ExecutionArrays(
        size=np.array([nan if s.size_usd is None else s.size_usd for s in strategies], float),
        xyk=np.array([s.impact == "xyk" for s in strategies], np.bool_),
        dex_fee=np.array([nan if s.dex_fee_bps is None else s.dex_fee_bps / 1e4 for s in strategies], float),
        fee=np.array([s.fee_bps / 1e4 for s in strategies], float),
        slip=np.array([s.slippage_bps / 1e4 for s in strategies], float),
        fixed=np.array([s.fee_fixed_usd for s in strategies], float),
        share=np.array([np.inf if s.max_volume_share is None else s.max_volume_share for s in strategies], float),
    )


@dataclass(frozen=True)
class Executed:
    """Per pair (sized strategies; nan elsewhere) and the parts, CSR by pair."""

    cost: np.ndarray
    proceeds: np.ndarray
    impact: np.ndarray
    entry_share: np.ndarray
    unfilled: np.ndarray
    n_parts: np.ndarray
    offsets: np.ndarray
    part_i: np.ndarray
    part_px: np.ndarray
    part_frac: np.ndarray
    part_reason: np.ndarray

    @property
    def net_multiple(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.entry_share > 0, self.proceeds / self.cost, np.nan)


_SCRATCH = threading.local()


def _slots(n: int) -> tuple[np.ndarray, ...]:
    """This thread's slot arrays of at least n parts, kept between calls: fresh pages cost more to fault in
    than the execution pass takes to fill them."""
    have = getattr(_SCRATCH, "slots", None)
    if have is None or have[0].shape[0] < n:
        have = (np.empty(n, np.int64), np.empty(n), np.empty(n), np.empty(n, np.int8))
        _SCRATCH.slots = have
    return tuple(a[:n] for a in have)


def execute(paths: CallWindows, ex: ExecutionArrays, pools: Pools, lo: int, hi: int, exit_i: np.ndarray,
            n_fills: np.ndarray, f_i: np.ndarray, f_px: np.ndarray, f_frac: np.ndarray,
            f_reason: np.ndarray) -> Executed:
    """The execution pass (execution.execute_block) over the pairs of calls [lo, hi). Each pair writes its parts
    into a slot of SLOT_PARTS x (fills + 1) + 1 parts; the pairs that needed more (long carries under a volume cap)
    run again into slots of their exact size. The parts come back packed (CSR by pair)."""
    pairs = exit_i.shape[0]
    width = f_i.shape[1]
    slot = SLOT_PARTS * (width + 1) + 1  # the buy, the fills, one carried part
    nan = lambda: np.full(pairs, np.nan)
    n_parts = np.zeros(pairs, np.int64)
    cost, proceeds, impact, entry_share, unfilled = nan(), nan(), nan(), nan(), nan()
    vol = paths.volume if paths.volume is not None else np.full(len(paths.open), np.nan)

    def run(only, offsets, room, total, scratch=False):
        arrays = _slots(total) if scratch else (np.empty(total, np.int64), np.empty(total), np.empty(total),
                                                 np.empty(total, np.int8))
        X.execute_block(lo, hi, paths.ts, paths.open, paths.high, paths.low, paths.close, vol, paths.start,
                        paths.stop, paths.entry_price, pools.pool_usd, pools.on_curve, ex.size, ex.xyk, ex.dex_fee,
                        ex.fee, ex.slip, ex.fixed, ex.share, exit_i, n_fills, f_i, f_px, f_frac, f_reason, cost,
                        proceeds, impact, entry_share, unfilled, n_parts, only, offsets, room, *arrays)
        return arrays

    slots = run(np.ones(pairs, np.bool_), np.arange(pairs, dtype=np.int64) * slot, np.full(pairs, slot, np.int64),
                pairs * slot, scratch=True)
    over = n_parts > slot
    start = np.arange(pairs, dtype=np.int64) * slot
    extra = slots
    if over.any():
        exact = np.where(over, n_parts, 0)
        offsets = np.zeros(pairs, np.int64)
        np.cumsum(exact[:-1], out=offsets[1:])
        extra = run(over, offsets, exact, int(exact.sum()))
        start = np.where(over, offsets, start)
    total = int(n_parts.sum())
    packed_off = np.empty(pairs, np.int64)
    parts = (np.empty(total, np.int64), np.empty(total), np.empty(total), np.empty(total, np.int8))
    X.pack_parts(n_parts, start, over, *slots, *extra, packed_off, *parts)
    return Executed(cost, proceeds, impact, entry_share, unfilled, n_parts, packed_off, *parts)


def _parts_json(paths: CallWindows, e: Executed) -> pl.Series:
    """JSON fills of executed pairs (null for pairs without parts), like _fills_json but of any length."""
    pairs = e.n_parts.shape[0]
    reasons = pl.Series(_REASON_LABELS)
    rows = pl.DataFrame({"pair": np.repeat(np.arange(pairs), e.n_parts), "ts": paths.ts[e.part_i] if len(e.part_i)
                         else np.empty(0, np.int64), "px": e.part_px, "fr": e.part_frac, "rs": e.part_reason})
    joined = rows.group_by("pair", maintain_order=True).agg(pl.concat_str([
        pl.lit('["'), pl.from_epoch(pl.col("ts"), time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.lit('",'), pl.col("px").cast(pl.String), pl.lit(","), pl.col("fr").cast(pl.String),
        pl.lit(',"'), pl.col("rs").replace_strict(_REASON_CODES, reasons, return_dtype=pl.String),
        pl.lit('"]')]).str.join(",").alias("f"))
    return (pl.DataFrame({"pair": np.arange(pairs)}).join(joined, on="pair", how="left", maintain_order="left")
            .select(pl.concat_str([pl.lit("["), pl.col("f"), pl.lit("]")]).alias("fills")).to_series())


def _epoch_to_ts(col: str) -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="s").dt.replace_time_zone("UTC")


def _fills_json(paths: CallWindows, t: TradeArrays) -> pl.Series:
    """JSON list of [ts, price, fraction, reason] per trade (ts ISO-8601 UTC), built column-wise."""
    width = t.fill_i.shape[1]
    cols = {}
    for k in range(width):
        present = t.n_fills > k
        idx = np.where(present, t.fill_i[:, k], 0)
        cols[f"ts{k}"] = np.where(present, paths.ts[idx] if len(paths.ts) else 0, 0)
        cols[f"px{k}"] = np.where(present, t.fill_px[:, k], 0.0)
        cols[f"fr{k}"] = np.where(present, t.fill_frac[:, k], 0.0)
        cols[f"rs{k}"] = np.where(present, t.fill_reason[:, k], 0)
        cols[f"on{k}"] = present
    df = pl.DataFrame(cols)
    reasons = pl.Series(_REASON_LABELS)
    parts = [
        pl.when(pl.col(f"on{k}")).then(pl.concat_str([
            pl.lit('["'), pl.from_epoch(pl.col(f"ts{k}"), time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            pl.lit('",'), pl.col(f"px{k}").cast(pl.String), pl.lit(","), pl.col(f"fr{k}").cast(pl.String),
            pl.lit(',"'), pl.col(f"rs{k}").replace_strict(_REASON_CODES, reasons,
                                                          return_dtype=pl.String),
            pl.lit('"]')]))
        for k in range(width)
    ]
    return df.select(
        pl.when(pl.col("on0")).then(pl.concat_str([pl.lit("["), pl.concat_str(parts, separator=",",
                                                                                  ignore_nulls=True),
                                                   pl.lit("]")])).alias("fills")
    ).to_series()


def _finer_verdicts(calls: pl.DataFrame, paths: CallWindows, t: TradeArrays, call_rep: np.ndarray,
                    finer: pl.DataFrame | None) -> np.ndarray:
    """Per pair: 0 not decided, 1 the finer candles reach the stop first, 2 the level first
    (docs/semantics.md#order-bounds)."""
    out = np.zeros(len(t.ambiguous), np.int8)
    idx = np.flatnonzero(t.ambiguous > 0)
    if finer is None or finer.height == 0 or len(idx) == 0:
        return out
    keys = calls.select("chain", "address")[call_rep[idx]]
    pairs = keys.with_columns(
        pl.Series("pair", idx), pl.lit(1).alias("ambiguous_candles"),
        pl.from_epoch(pl.Series(paths.ts[t.ambiguous_i[idx]]), time_unit="s").dt.replace_time_zone("UTC")
        .dt.cast_time_unit("us").alias("ambiguous_ts"),
        pl.Series("ambiguous_stop", t.ambiguous_stop[idx]), pl.Series("ambiguous_level", t.ambiguous_level[idx]))
    fine = finer.with_columns(pl.col("open_ts").dt.cast_time_unit("us"))
    first = first_crossed(pairs, fine, key=["pair"])
    code = first.select("pair", pl.col("first").replace_strict({STOP: 1, LEVEL: 2}, default=0,
                                                               return_dtype=pl.Int8))
    out[code.get_column("pair").to_numpy()] = code.get_column("first").to_numpy()
    return out


def _trades_frame(calls: pl.DataFrame, call_ids: np.ndarray, paths: CallWindows, strategies: list[Strategy],
                  strat_ids: np.ndarray, t: TradeArrays, lo: int, hi: int, pools: Pools,
                  finer: pl.DataFrame | None = None) -> pl.DataFrame:
    n_s = len(strat_ids)
    call_rep = np.repeat(np.arange(lo, hi), n_s)
    has_entry = t.exit_i >= 0
    amb = t.ambiguous
    verdict = _finer_verdicts(calls, paths, t, call_rep, finer)
    # the finer candles chose the reading the policy did not: the trade becomes that reading, fills and all
    swap = ((verdict == 1) & (amb == 2)) | ((verdict == 2) & (amb == 1))
    net = t.net_multiple
    # the other reading of an ambiguous candle (docs/semantics.md#order-bounds): 1 = ours was stop first
    low = np.where(amb == 2, t.alt_multiple, net)
    high = np.where(amb == 1, t.alt_multiple, net)
    exit_ts = np.where(has_entry, paths.ts[np.where(has_entry, t.exit_i, 0)] if len(paths.ts) else 0, 0)
    fills = _fills_json(paths, t)
    reason = t.reason
    if swap.any():
        alt = TradeArrays(t.exit_i, t.alt_reason, t.alt_multiple, t.alt_n_fills, t.alt_fill_i, t.alt_fill_px,
                          t.alt_fill_frac, t.alt_fill_reason)
        net = np.where(swap, t.alt_multiple, net)
        reason = np.where(swap, t.alt_reason, reason)
        fills = pl.select(pl.when(pl.Series(swap)).then(_fills_json(paths, alt)).otherwise(fills)).to_series()
    ex = execution_arrays(strategies)
    sized = np.tile(np.isfinite(ex.size), hi - lo)
    usd = {k: np.full(len(net), np.nan) for k in ("cost", "proceeds", "impact")}
    entry_share = np.where(has_entry, 1.0, np.nan)
    unfilled = np.where(has_entry, 0.0, np.nan)
    if ex.any_sized:
        own = execute(paths, ex, pools, lo, hi, t.exit_i, t.n_fills, t.fill_i, t.fill_px, t.fill_frac,
                      t.fill_reason)
        # the other reading exists only for trades with an ambiguous candle; without any, it is the trade itself
        other = execute(paths, ex, pools, lo, hi, np.where(amb > 0, t.exit_i, -1), t.alt_n_fills, t.alt_fill_i,
                        t.alt_fill_px, t.alt_fill_frac, t.alt_fill_reason) if (amb > 0).any() else own
        own_net, other_net = own.net_multiple, other.net_multiple
        net = np.where(sized, np.where(swap, other_net, own_net), net)
        low = np.where(sized, np.where(amb == 2, other_net, own_net), low)
        high = np.where(sized, np.where(amb == 1, other_net, own_net), high)
        pick = lambda a, b: np.where(swap, b, a)
        usd = {"cost": pick(own.cost, other.cost), "proceeds": pick(own.proceeds, other.proceeds),
               "impact": pick(own.impact, other.impact)}
        entry_share = np.where(sized, pick(own.entry_share, other.entry_share), entry_share)
        unfilled = np.where(sized, pick(own.unfilled, other.unfilled), unfilled)
        for e, on in ((own, sized & ~swap), (other, sized & swap)):
            last = e.offsets + e.n_parts - 1
            with_parts = on & (e.n_parts > 0)
            if len(e.part_i):
                exit_ts = np.where(with_parts, paths.ts[e.part_i[np.where(with_parts, last, 0)]], exit_ts)
        parts = _parts_json(paths, own)
        if swap.any():
            parts = pl.select(pl.when(pl.Series(swap)).then(_parts_json(paths, other)).otherwise(parts)).to_series()
        fills = pl.select(pl.when(pl.Series(sized)).then(parts).otherwise(fills)).to_series()
    xyk = np.tile(ex.xyk, hi - lo)
    source = pools.source.gather(call_rep) if pools.source.len() else pl.Series([], dtype=pl.String)
    trades = pl.DataFrame({
        "_call": call_ids[call_rep],
        "_strat": np.tile(strat_ids, hi - lo),
        "strategy": np.tile(np.array([s.name for s in strategies], dtype=object), hi - lo).astype(str),
        "_entry_ts": paths.entry_ts[call_rep],
        "entry_price": np.where(has_entry, paths.entry_price[call_rep], np.nan),
        "_exit_ts": exit_ts,
        "_has_entry": has_entry,
        "_reason": reason,
        "_verdict": verdict,
        "net_multiple": net,
        "_sized": sized,
        "_xyk": xyk,
        "size_usd": np.tile(ex.size, hi - lo),
        "_pool": pools.pool_usd[call_rep],
        "_source": source,
        "entry_fill_share": entry_share,
        "unfilled_share": unfilled,
        "cost_usd": usd["cost"],
        "proceeds_usd": usd["proceeds"],
        "impact_usd": usd["impact"],
        "_amb": amb,
        "_amb_ts": paths.ts[t.ambiguous_i] if len(paths.ts) else np.zeros(len(amb), np.int64),
        "ambiguous_stop": t.ambiguous_stop,
        "ambiguous_level": t.ambiguous_level,
        "net_multiple_low": low,
        "net_multiple_high": high,
    })
    on = pl.col("_has_entry")
    trades = trades.with_columns(
        pl.when(on).then(_epoch_to_ts("_entry_ts")).alias("entry_ts"),
        pl.when(on).then(pl.col("entry_price")).alias("entry_price"),
        pl.when(on).then(_epoch_to_ts("_exit_ts")).alias("exit_ts"),
        pl.col("_reason").replace_strict(_REASON_CODES, pl.Series(_REASON_LABELS),
                                         return_dtype=pl.String).alias("exit_reason"),
        *(pl.when(on).then(pl.col(c).fill_nan(None)).alias(c)
          for c in ("net_multiple", "net_multiple_low", "net_multiple_high", "entry_fill_share", "unfilled_share")),
        fills,
        pl.when(pl.col("_sized")).then(pl.col("size_usd")).alias("size_usd"),
        pl.when(pl.col("_xyk")).then(pl.lit("xyk")).otherwise(pl.lit("none")).alias("impact"),
        pl.when(pl.col("_xyk")).then(pl.col("_pool").fill_nan(None)).alias("pool_usd"),
        pl.when(pl.col("_xyk")).then(pl.col("_source")).alias("liquidity_source"),
        *(pl.when(on & pl.col("_sized")).then(pl.col(c).fill_nan(None)).alias(c)
          for c in ("cost_usd", "proceeds_usd")),
        pl.when(on & pl.col("_xyk")).then(pl.col("impact_usd").fill_nan(None)).alias("impact_usd"),
        pl.when(on).then((pl.col("_amb") > 0).cast(pl.Int64)).alias("ambiguous_candles"),
        *(pl.when(pl.col("_amb") > 0).then(e).alias(name) for name, e in (
            ("ambiguous_ts", _epoch_to_ts("_amb_ts")), ("ambiguous_stop", pl.col("ambiguous_stop")),
            ("ambiguous_level", pl.col("ambiguous_level")))),
        pl.when(on & (pl.col("_verdict") > 0)).then(pl.lit("finer_candles"))
        .when(on & (pl.col("_amb") > 0)).then(pl.lit("policy")).alias("settled_by"),
    ).with_columns((pl.col("net_multiple") - 1.0).alias("net_return"))
    return trades


def _prepare_calls(calls: pl.DataFrame) -> pl.DataFrame:
    out = calls
    for col in _CALL_COLS:
        if col not in out.columns:
            out = out.with_columns(pl.lit(None).alias(col))
    if "window_complete" not in out.columns:
        out = out.with_columns(pl.lit(None, dtype=pl.Boolean).alias("window_complete"))
    for col, dtype in POOL_COLUMNS.items():
        if col not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=dtype).alias(col))
    return out.select(*_CALL_COLS, pl.col("window_complete").cast(pl.Boolean), *POOL_COLUMNS)


def iter_simulate(calls: pl.DataFrame, candles: pl.DataFrame, strategies: list[Strategy], *,
                  chunk_calls: int = 20000, finer: pl.DataFrame | None = None) -> Iterator[pl.DataFrame]:
    """simulate() chunk by chunk: each frame holds every strategy's trades for one slice of the calls,
    rows in (call, strategy) input order."""
    if not strategies:
        return
    names = [s.name for s in strategies]
    if len(set(names)) != len(names):
        raise ValueError("strategy names must be unique within one simulate() call")
    calls = _prepare_calls(calls)
    if "interval" in candles.columns:
        candles = candles.filter(pl.col("interval") == "1m")
    groups: dict[tuple[int, int, int], list[int]] = {}
    for j, s in enumerate(strategies):
        groups.setdefault(s.entry_key, []).append(j)
    packed = {}
    for key, ids in groups.items():
        delay, gap, horizon = key
        paths = call_windows(calls, candles, entry_delay_s=delay, max_entry_gap_s=gap, horizon_s=horizon)
        packed[key] = (paths, strategy_arrays([strategies[j] for j in ids]), np.array(ids, np.int64),
                       call_pools(calls, paths.entry_price))
    step = max(1, min(chunk_calls, PAIR_BUDGET // len(strategies)))
    call_ids = np.arange(calls.height, dtype=np.int64)
    for lo in range(0, calls.height, step):
        hi = min(lo + step, calls.height)
        frames = []
        for key, (paths, arrays, ids, pools) in packed.items():
            t = run_block(paths, arrays, key[2], lo, hi)
            frames.append(_trades_frame(calls, call_ids, paths, [strategies[j] for j in ids], ids, t, lo, hi,
                                        pools, finer))
        trades = pl.concat(frames) if len(frames) > 1 else frames[0]
        if len(frames) > 1:
            trades = trades.sort("_call", "_strat")
        meta = calls.slice(lo, hi - lo).drop(*POOL_COLUMNS).with_row_index("_call", offset=lo).with_columns(
            pl.col("_call").cast(pl.Int64))
        trades = trades.join(meta, on="_call", how="left", maintain_order="left")
        yield trades.with_columns(pl.lit(None, dtype=pl.String).alias("strategy_file")).select(
            SIMULATION_RESULTS.columns)


def simulate(calls: pl.DataFrame, candles: pl.DataFrame, strategies: list[Strategy], *,
             chunk_calls: int = 20000, finer: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per (call, strategy) with SIMULATION_RESULTS columns (strategy_file null: the asset sets it).

    calls: TELEGRAM_CALLS rows, optionally with `window_complete`; candles: RAW_CANDLES 1m rows. Calls without
    an entry get exit_reason no_entry and null entry, fills and multiple. Deterministic; rows ordered by call
    (input order) then strategy (input order). finer: candles finer than 1m (chain, address, open_ts, open,
    high, low) covering ambiguous candles: they settle them (docs/semantics.md#order-bounds).
    """
    frames = list(iter_simulate(calls, candles, strategies, chunk_calls=chunk_calls, finer=finer))
    if not frames:
        return pl.from_arrow(SIMULATION_RESULTS.empty()).with_columns(
            pl.col("call_ts", "entry_ts", "exit_ts").cast(pl.Datetime("us", "UTC")))
    return pl.concat(frames, how="vertical_relaxed")


def resettle(trades: pl.DataFrame, calls: pl.DataFrame, candles: pl.DataFrame, strategies: list[Strategy],
             finer: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """`trades` (simulate()'s rows of `calls` under `strategies`) with the calls that had an ambiguous candle
    simulated again with the finer candles (docs/semantics.md#order-bounds); and how many trades they settled."""
    key = ["chat_id", "message_id", "chain", "address"]
    hit = trades.filter(pl.col("ambiguous_candles").fill_null(0) > 0).select(key).unique()
    if hit.height == 0 or finer.height == 0:
        return trades, 0
    again = simulate(calls.join(hit, on=key, how="semi"), candles, strategies, finer=finer)
    stem = trades.get_column("strategy_file")[0]
    again = again.with_columns(pl.lit(stem, pl.String).alias("strategy_file")).select(trades.columns)
    out = pl.concat([trades.join(hit, on=key, how="anti"), again], how="vertical_relaxed")
    return out, int((again.get_column("settled_by") == "finer_candles").sum())
