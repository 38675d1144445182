"""Cross-check against vectorbt's Portfolio.from_signals on random paths (a dev/bench dependency).

Aligned as docs/semantics.md#comparing-with-vectorbt says: vectorbt gets one extra
bar before our entry candle whose close is our entry price and enters there, so our entry candle is its first
checked bar; an exit signal on the last bar stands for our end-of-window sale. vectorbt does not slip stop
exits, so with slippage s our stop exits are vectorbt's x (1 - s). Compared: exit bar and net multiple
(ours) vs 1 + total_return() of a one-trade all-cash portfolio, within 1e-9.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from quantbot_pipelines.backtest import CallWindows, ExitReason
from quantbot_pipelines.simulation import Strategy
from quantbot_pipelines.simulation.engine import run_block, strategy_arrays

vbt = pytest.importorskip("vectorbt")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                      "ignore:The inplace keyword")


def random_ohlc(seed: int, calls: int, bars: int, gap_prob: float = 0.1):
    rng = np.random.default_rng(seed)
    ret = rng.normal(0, 0.05, (calls, bars))
    close = np.exp(np.cumsum(ret, axis=1))
    prev = np.concatenate([np.ones((calls, 1)), close[:, :-1]], axis=1)
    gap = np.where(rng.random((calls, bars)) < gap_prob, np.exp(rng.normal(0, 0.08, (calls, bars))), 1.0)
    gap[:, 0] = 1.0
    o = prev * gap
    h = np.maximum(o, close) * np.exp(np.abs(rng.normal(0, 0.04, (calls, bars))))
    lo = np.minimum(o, close) * np.exp(-np.abs(rng.normal(0, 0.04, (calls, bars))))
    return o, h, lo, close


def ours(o, h, lo, c, strategy: Strategy):
    calls, bars = o.shape
    ts = np.tile(np.arange(bars, dtype=np.int64) * 60, calls)
    start = np.arange(calls, dtype=np.int64) * bars
    paths = CallWindows(ts_raw=ts, per=1, open=o.ravel(), high=h.ravel(), low=lo.ravel(), close=c.ravel(),
                        start=start, stop=start + bars, entry_ts=np.zeros(calls, np.int64),
                        entry_price=o[:, 0].copy(), ok=np.ones(calls, bool), has_any=np.ones(calls, bool),
                        last_ts=np.full(calls, (bars - 1) * 60, np.int64))
    t = run_block(paths, strategy_arrays([strategy]), strategy.horizon_s, 0, calls)
    return t.exit_i - start, t.net_multiple, np.array([ExitReason(r).label for r in t.reason])


def theirs(o, h, lo, c, **kw):
    calls, bars = o.shape
    e = o[:, :1]
    frame = lambda a: pd.DataFrame(np.concatenate([e, a], axis=1).T)
    entries = np.zeros((bars + 1, calls), bool)
    entries[0] = True
    exits = np.zeros((bars + 1, calls), bool)
    exits[-1] = True
    pf = vbt.Portfolio.from_signals(frame(c), entries, exits, open=frame(o), high=frame(h), low=frame(lo),
                                    init_cash=100.0, **kw)
    trades = pf.trades.records_readable
    exit_bar = trades.groupby("Column")["Exit Timestamp"].first().reindex(range(calls)).to_numpy() - 1
    return exit_bar, 1.0 + pf.total_return().to_numpy()


CASES = [
    ("take profit", {"take_profit": ((1.3, 1.0),)}, {"tp_stop": 0.3}),
    ("stop loss", {"stop_loss": 0.8}, {"sl_stop": 0.2}),
    ("both, stop first", {"take_profit": ((1.25, 1.0),), "stop_loss": 0.85}, {"tp_stop": 0.25, "sl_stop": 0.15}),
    ("trailing stop", {"trailing_stop": (1.0, 0.15)}, {"sl_stop": 0.15, "sl_trail": True}),
    ("fees", {"take_profit": ((1.4, 1.0),), "stop_loss": 0.7, "fee_bps": 100}, {"tp_stop": 0.4, "sl_stop": 0.3,
                                                                               "fees": 0.01}),
    ("trailing, fees", {"trailing_stop": (1.0, 0.2), "fee_bps": 30}, {"sl_stop": 0.2, "sl_trail": True, "fees": 0.003}),
]


@pytest.mark.parametrize(("label", "our_rules", "vbt_rules"), CASES, ids=[c[0] for c in CASES])
def test_same_exit_bars_and_returns(label, our_rules, vbt_rules):
    o, h, lo, c = random_ohlc(zlib.crc32(label.encode()), 200, 100)
    bar, mult, reason = ours(o, h, lo, c, Strategy(name=label, **our_rules))
    vbar, vmult = theirs(o, h, lo, c, **vbt_rules)
    # where a candle opens above the take-profit and also trades below the stop, the open decides for us
    # (take-profit at the open); vectorbt checks the stop first. Those rare candles are the only difference.
    tp_px = o[:, :1] * our_rules.get("take_profit", ((np.inf, 1),))[0][0]
    sl_px = o[:, :1] * (our_rules.get("stop_loss") or 0.0)
    gap_both = ((o >= tp_px) & (lo <= sl_px)).any(axis=1)
    same = ~gap_both
    assert same.mean() > 0.9
    assert set(reason) - {"take_profit", "stop_loss", "trailing_stop", "end_of_window"} == set()
    np.testing.assert_array_equal(bar[same], vbar[same])
    np.testing.assert_allclose(mult[same], vmult[same], rtol=0, atol=1e-9)
    assert len(np.unique(bar[same])) > 10  # exits spread over many bars, not one degenerate case


def test_slippage_on_entry_and_our_slipped_stop_exits():
    o, h, lo, c = random_ohlc(11, 200, 100)
    s = 0.005
    bar, mult, reason = ours(o, h, lo, c, Strategy(name="slip", take_profit=((1.3, 1.0),), stop_loss=0.8,
                                                   fee_bps=50, slippage_bps=s * 1e4))
    vbar, vmult = theirs(o, h, lo, c, tp_stop=0.3, sl_stop=0.2, fees=0.005, slippage=s)
    same = ~((o >= o[:, :1] * 1.3) & (lo <= o[:, :1] * 0.8)).any(axis=1)
    stop_exit = np.isin(reason, ["take_profit", "stop_loss"])
    expected = np.where(stop_exit, vmult * (1 - s), vmult)  # vectorbt slips the entry and market exits only
    np.testing.assert_array_equal(bar[same], vbar[same])
    np.testing.assert_allclose(mult[same], expected[same], rtol=0, atol=1e-9)


def test_the_pages_cost_example_agrees():
    o = np.array([[1.0, 0.9]])
    h = np.array([[1.0, 0.9]])
    lo = np.array([[1.0, 0.4]])
    c = np.array([[1.0, 0.45]])
    _, mult, _ = ours(o, h, lo, c, Strategy(name="x", stop_loss=0.5, fee_bps=100))
    _, vmult = theirs(o, h, lo, c, sl_stop=0.5, fees=0.01)
    assert mult[0] == pytest.approx(0.5 * 0.99 / 1.01, abs=1e-15)
    assert vmult[0] == pytest.approx(0.5 * 0.99 / 1.01, abs=1e-12)
