"""The fast kernel (quiet-candle skipping, parallel calls) gives exactly the plain loop's trades.

Random paths on a coarse price grid (so lows/highs land exactly on stops and levels: ties), gapped opens,
nan candles, gaps in candle times (time exits between candles), calls without entry; random strategies
mixing every rule (ladders, stop, trailing armed at or after entry, break-even, time exit, all intrabar
policies, costs). Serial, parallel and the reference must agree bit for bit.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest
from reference_kernel import reference_block

from quantbot_pipelines.backtest import CallWindows
from quantbot_pipelines.simulation import Strategy
from quantbot_pipelines.simulation import kernels as K
from quantbot_pipelines.simulation.engine import TradeArrays, run_block, strategy_arrays

POLICIES = ("stop_first", "take_profit_first", "nearest_first")


def random_paths(rng: np.random.Generator, calls: int, bars: int, tick: float) -> CallWindows:
    """Random walks from 1.0 (entry), prices rounded to `tick` when > 0."""
    ret = rng.normal(0.0, 0.04, (calls, bars))
    close = np.exp(np.cumsum(ret, axis=1))
    gap = np.where(rng.random((calls, bars)) < 0.05, np.exp(rng.normal(0, 0.2, (calls, bars))), 1.0)
    o = np.concatenate([np.ones((calls, 1)), close[:, :-1] * gap[:, 1:]], axis=1)
    h = np.maximum(o, close) * np.exp(np.abs(rng.normal(0, 0.03, (calls, bars))))
    lo = np.minimum(o, close) * np.exp(-np.abs(rng.normal(0, 0.03, (calls, bars))))
    if tick > 0:
        o, h, lo, close = (np.round(a / tick) * tick for a in (o, h, lo, close))
        o[:, 0] = 1.0
        lo = np.maximum(lo, tick)
    for a in (o[:, 1:], h, lo, close):  # a few nan prices (never the entry open)
        a[rng.random(a.shape) < 0.003] = np.nan
    step = np.where(rng.random((calls, bars)) < 0.1, 60 * rng.integers(2, 30, (calls, bars)), 60)
    ts = np.cumsum(step, axis=1) - step[:, :1]
    start = np.arange(calls, dtype=np.int64) * bars
    stop = start + rng.integers(1, bars + 1, calls)  # uneven windows
    entry = o[:, 0].copy()
    no_entry = rng.random(calls) < 0.05
    stop[no_entry] = start[no_entry]
    entry[no_entry] = np.nan
    return CallWindows(ts_raw=ts.ravel().astype(np.int64), per=1, open=o.ravel(), high=h.ravel(),
                       low=lo.ravel(), close=close.ravel(), start=start, stop=stop,
                       entry_ts=np.where(no_entry, -1, 0), entry_price=entry, ok=~no_entry,
                       has_any=np.ones(calls, bool), last_ts=ts[:, -1].copy())


def random_strategies(rng: np.random.Generator, n: int) -> list[Strategy]:
    out = []
    for i in range(n):
        levels = int(rng.integers(0, 4))
        mults = np.cumsum(rng.choice([0.05, 0.1, 0.2, 0.5], levels)) + 1.0
        fracs = rng.choice([0.25, 0.33, 0.34, 0.5, 1.0], levels)
        ladder = []
        total = 0.0
        for m, f in zip(mults, fracs, strict=True):
            f = min(float(f), 1.0 - total) if total < 1.0 else 0.0
            if f <= 0:
                break
            ladder.append((round(float(m), 4), f))
            total += f
        sl = None if rng.random() < 0.2 else float(rng.choice([0.5, 0.7, 0.8, 0.9, 0.95]))
        trail = None if rng.random() < 0.4 else (float(rng.choice([0.9, 1.0, 1.1, 1.2, 1.5])),
                                                 float(rng.choice([0.05, 0.1, 0.2, 0.3])))
        be = float(rng.choice([0.0, 0.02, -0.1])) if ladder and rng.random() < 0.5 else None
        if be is not None and not be < ladder[0][0] - 1:
            be = 0.0
        hold = None if rng.random() < 0.5 else int(rng.choice([60, 300, 1800, 7200, 86400]))
        out.append(Strategy(name=f"s{i}", take_profit=tuple(ladder), stop_loss=sl, trailing_stop=trail,
                            break_even=be, time_exit_s=hold, fee_bps=float(rng.choice([0, 30, 100])),
                            slippage_bps=float(rng.choice([0, 50])), intrabar=str(rng.choice(POLICIES)),
                            horizon_s=int(rng.choice([3600, 86400]))))
    return out


def run_reference(paths: CallWindows, strategies: list[Strategy], horizon_s: int) -> TradeArrays:
    arrays = strategy_arrays(strategies)
    pairs = paths.n_calls * len(strategies)
    width = arrays.max_fills
    out = TradeArrays(np.empty(pairs, np.int64), np.empty(pairs, np.int8), np.empty(pairs, np.float64),
                      np.empty(pairs, np.int8), np.empty((pairs, width), np.int64),
                      np.empty((pairs, width), np.float64), np.empty((pairs, width), np.float64),
                      np.empty((pairs, width), np.int8))
    reference_block(paths.ts, paths.open, paths.high, paths.low, paths.close, paths.start, paths.stop,
                    paths.entry_price, 0, paths.n_calls, arrays.sl, arrays.tr_act, arrays.tr_dist, arrays.be,
                    arrays.time_s, np.int64(horizon_s), arrays.policy, arrays.cost_factor, arrays.n_levels,
                    arrays.tp_mult, arrays.tp_frac, out.exit_i, out.reason, out.net_multiple, out.n_fills,
                    out.fill_i, out.fill_px, out.fill_frac, out.fill_reason)
    return out


def assert_same(a: TradeArrays, b: TradeArrays) -> None:
    np.testing.assert_array_equal(a.exit_i, b.exit_i)
    np.testing.assert_array_equal(a.reason, b.reason)
    np.testing.assert_array_equal(a.n_fills, b.n_fills)
    # bit-identical multiples (nan for calls without entry)
    np.testing.assert_array_equal(a.net_multiple.view(np.int64), b.net_multiple.view(np.int64))
    used = np.arange(a.fill_i.shape[1])[None, :] < a.n_fills[:, None]
    for name in ("fill_i", "fill_px", "fill_frac", "fill_reason"):
        np.testing.assert_array_equal(getattr(a, name)[used], getattr(b, name)[used], err_msg=name)


@pytest.mark.parametrize("seed,tick", [(1, 0.0), (2, 0.01), (3, 0.05), (4, 0.02)])
def test_fast_kernel_matches_plain_loop(seed: int, tick: float) -> None:
    rng = np.random.default_rng(seed)
    paths = random_paths(rng, calls=150, bars=600, tick=tick)
    strategies = random_strategies(rng, 40)
    horizon = strategies[0].horizon_s
    ref = run_reference(paths, strategies, horizon)
    reasons = set(ref.reason.tolist())
    assert {K.TAKE_PROFIT, K.STOP_LOSS, K.TRAILING_STOP, K.TIME_EXIT, K.END_OF_WINDOW, K.NO_ENTRY} <= reasons
    arrays = strategy_arrays(strategies)
    assert_same(ref, run_block(paths, arrays, horizon, 0, paths.n_calls, parallel=False))
    assert_same(ref, run_block(paths, arrays, horizon, 0, paths.n_calls, parallel=True))
    # a slice of the calls gives the same pairs as the whole block
    part = run_block(paths, arrays, horizon, 40, 90, parallel=True)
    n_s = len(strategies)
    np.testing.assert_array_equal(part.net_multiple.view(np.int64),
                                  ref.net_multiple[40 * n_s:90 * n_s].view(np.int64))


def test_break_even_moves_occur_in_random_grid() -> None:
    """The random grid does reach the break-even rule (so the equivalence above covers it)."""
    rng = np.random.default_rng(2)
    paths = random_paths(rng, calls=150, bars=240, tick=0.01)
    strategies = random_strategies(rng, 40)
    ref = run_reference(paths, strategies, strategies[0].horizon_s)
    assert (ref.reason == K.BREAK_EVEN).sum() > 0


def test_parallel_output_independent_of_thread_count() -> None:
    rng = np.random.default_rng(7)
    paths = random_paths(rng, calls=200, bars=120, tick=0.01)
    arrays = strategy_arrays(random_strategies(rng, 20))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run_block(paths, arrays, 86400, 0, paths.n_calls, parallel=True)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = run_block(paths, arrays, 86400, 0, paths.n_calls, parallel=True)
    finally:
        numba.set_num_threads(before)
    assert_same(one, many)


def test_concurrent_callers_get_the_same_trades() -> None:
    """Python threads calling run_block at once (one gets the parallel kernel, the others the serial one)."""
    rng = np.random.default_rng(11)
    paths = random_paths(rng, calls=300, bars=200, tick=0.01)
    strategies = random_strategies(rng, 20)
    arrays = strategy_arrays(strategies)
    ref = run_reference(paths, strategies, 86400)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: run_block(paths, arrays, 86400, 0, paths.n_calls), range(8)))
    for out in outs:
        assert_same(ref, out)
