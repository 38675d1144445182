"""Hand-computed trades for the cases docs/semantics.md decides explicitly.

Each test names the section whose rule it checks. Expected figures are worked out from the written rule;
the entry price is 1.00 in every path (the open of the first candle after the call), so fill prices read as
multiples of the entry. Calls are at T0 + 30 s and candle k opens at T0 + (k + 1) min unless a test says
otherwise (tests/simulation/simhelp.py).
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from simhelp import T0, calls_frame, candles_frame, minute

from quantbot_pipelines.simulation import parse_strategies, simulate

FLAT = (1.0, 1.05, 0.95, 1.0)
POLICIES = ("stop_first", "take_profit_first", "nearest_first")


def strategy(**fields):
    """One strategy from the fields of a strategy file."""
    [s] = parse_strategies({"name": "case", **fields}, where="test_semantics_cases", default_name="case")
    return s


def trades(paths, fields, *, minutes=None, call_offset_s=30, window_complete=None) -> list[dict]:
    """The trades of paths[i] (token Tok{i}, one call each) under one strategy, fills parsed."""
    calls = calls_frame(len(paths), call_offset_s=call_offset_s)
    if window_complete is not None:
        calls = calls.with_columns(pl.Series("window_complete", [window_complete] * len(paths)))
    out = simulate(calls, candles_frame(paths, minutes=minutes), [strategy(**fields)])
    rows = out.rows(named=True)
    for r in rows:
        r["fills"] = json.loads(r["fills"]) if r["fills"] else None
    return rows


def stamp(k: int) -> str:
    return minute(k).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- (a) several stops crossed by one candle ------------------------------------------------------------------

RISE = [
    (1.0, 1.1, 0.95, 1.05),  # entry candle: nothing reached
    (1.05, 2.0, 1.02, 1.9),  # take-profit 1.5 fills half at 1.5; break-even and the trailing peak 2.0 count next
]


@pytest.mark.parametrize(("distance", "third", "price", "reason"), [
    # stop loss 0.5, break-even 1.0, trailing 2.0 x (1 - 0.5) = 1.0: equal, the break-even keeps its label
    (0.5, (1.8, 1.85, 0.4, 0.45), 1.0, "break_even"),
    # trailing 2.0 x 0.75 = 1.5 is the highest of 0.5 / 1.0 / 1.5: it fills, at its level (open above it)
    (0.25, (1.8, 1.85, 0.4, 0.45), 1.5, "trailing_stop"),
    # trailing 2.0 x 0.4 = 0.8 is below the break-even 1.0: the break-even is the stop in force
    (0.6, (1.8, 1.85, 0.4, 0.45), 1.0, "break_even"),
    # the candle opens at 0.45, below all three: fills at the open, labelled by the highest stop (trailing)
    (0.25, (0.45, 0.46, 0.4, 0.42), 0.45, "trailing_stop"),
])
def test_one_candle_crossing_several_stops(distance, third, price, reason):
    """docs/semantics.md#same-candle-ties: only the highest stop is in force; it fills at min(open, stop)
    with its own label; on equal prices stop_loss beats break_even beats trailing_stop."""
    fields = {"take_profit": [[1.5, 0.5]], "stop_loss": 0.5, "break_even": 0.0,
              "trailing_stop": {"activation": 1.5, "distance": distance}}
    [t] = trades([RISE + [third]], fields)
    assert t["fills"] == [[stamp(1), 1.5, 0.5, "take_profit"], [stamp(2), price, 0.5, reason]]
    assert t["exit_reason"] == reason and t["exit_ts"] == minute(2)
    assert t["net_multiple"] == pytest.approx(0.5 * 1.5 + 0.5 * price, abs=1e-12)


def test_stop_loss_and_trailing_stop_at_the_same_price():
    """docs/semantics.md#same-candle-ties: a trailing stop armed at entry (activation 1.0, distance 0.5) sits at
    1.0 x 0.5 = 0.5, the same price as the 0.5 stop loss: the stop loss keeps the label."""
    fields = {"stop_loss": 0.5, "trailing_stop": {"activation": 1.0, "distance": 0.5}}
    [t] = trades([[(1.0, 1.05, 0.3, 0.4)]], fields)
    assert t["fills"] == [[stamp(0), 0.5, 1.0, "stop_loss"]]
    assert t["exit_reason"] == "stop_loss" and t["net_multiple"] == 0.5


# -- (b) a gap beyond a take-profit while the low crosses the stop ---------------------------------------------

@pytest.mark.parametrize("policy", POLICIES)
def test_gap_open_above_a_take_profit_with_the_low_through_the_stop(policy):
    """docs/semantics.md#same-candle-ties: the open (2.2) is already past the 2x level, so the take-profits go
    first under every intrabar policy: 2x fills half at the open 2.2, 3x a quarter at 3.0 (the high 3.5 reaches
    it), then the stop 0.5 sells the last quarter at its level (the open was above it).
    0.5 x 2.2 + 0.25 x 3.0 + 0.25 x 0.5 = 1.975."""
    fields = {"take_profit": [[2, 0.5], [3, 0.25]], "stop_loss": 0.5, "intrabar": policy}
    [t] = trades([[FLAT, (2.2, 3.5, 0.4, 0.6)]], fields)
    assert t["fills"] == [[stamp(1), 2.2, 0.5, "take_profit"], [stamp(1), 3.0, 0.25, "take_profit"],
                          [stamp(1), 0.5, 0.25, "stop_loss"]]
    assert t["exit_reason"] == "stop_loss"
    assert t["net_multiple"] == pytest.approx(1.975, abs=1e-12)


@pytest.mark.parametrize("policy", POLICIES)
def test_gap_open_below_the_stop_with_the_high_through_a_take_profit(policy):
    """docs/semantics.md#same-candle-ties: the mirror case: the open 0.45 is already below the 0.5 stop, so
    everything is sold at the open under every policy; the 2x and 3x levels never fill."""
    fields = {"take_profit": [[2, 0.5], [3, 0.25]], "stop_loss": 0.5, "intrabar": policy}
    [t] = trades([[FLAT, (0.45, 3.5, 0.4, 0.6)]], fields)
    assert t["fills"] == [[stamp(1), 0.45, 1.0, "stop_loss"]]
    assert t["exit_reason"] == "stop_loss" and t["net_multiple"] == 0.45


# -- (c) a time exit that is not a whole number of candles ---------------------------------------------------

CLIMB = [(1.0, 1.1, 0.9, 1.05), (1.05, 1.2, 1.0, 1.15), (1.15, 1.3, 1.1, 1.25), (1.25, 1.4, 1.2, 1.35)]


@pytest.mark.parametrize(("time_exit", "close", "k"), [
    ("59s", 1.05, 0),   # only the entry candle (opens at +0 s) opens before +59 s: its close at +60 s
    (90, 1.15, 1),      # candles at +0 and +60 s open before +90 s: the close of the +60 s candle
    ("2m", 1.15, 1),    # a whole number of candles: the +120 s candle is past the hold
    ("150s", 1.25, 2),  # +0, +60, +120 s open before +150 s
])
def test_time_exit_that_is_not_a_whole_number_of_candles(time_exit, close, k):
    """docs/semantics.md#time-exits: the hold keeps every candle that opens before entry_ts + time_exit and
    sells at the close of the last of them (a partial candle counts whole)."""
    [t] = trades([CLIMB], {"time_exit": time_exit})
    assert t["exit_reason"] == "time_exit"
    assert t["fills"] == [[stamp(k), close, 1.0, "time_exit"]]
    assert t["exit_ts"] == minute(k) and t["net_multiple"] == close


# -- (d) the data ends inside a time-exit hold -----------------------------------------------------------------

@pytest.mark.parametrize(("fields", "reason"), [
    ({"time_exit": "10m"}, "time_exit"),                    # hold 10 min within a 48 h window
    ({"time_exit": "48h"}, "time_exit"),                    # hold as long as the window
    ({"time_exit": "10m", "horizon": "5m"}, "end_of_window"),  # the window ends before the hold would
])
def test_data_ending_inside_a_time_exit_hold(fields, reason):
    """docs/semantics.md#time-exits: three candles, then no more data. What remains is sold at the last close
    (1.25, candle 2); the label is time_exit whenever time_exit <= horizon, end_of_window only when the hold is
    longer than the window; window_complete is the call's (here false) and is not changed by the label."""
    [t] = trades([CLIMB[:3]], fields, window_complete=False)
    assert t["fills"] == [[stamp(2), 1.25, 1.0, reason]]
    assert t["exit_reason"] == reason and t["exit_ts"] == minute(2) and t["net_multiple"] == 1.25
    assert t["window_complete"] is False


# -- (e) max_entry_gap counts from call + entry_delay ---------------------------------------------------------

def test_max_entry_gap_counts_from_call_plus_delay():
    """docs/semantics.md#entry-and-window: call at T0, entry_delay 10 min, max_entry_gap 15 min: entry is the
    first candle opening in [T0 + 10 min, T0 + 25 min]. Counted from the call, a candle at +25 min would be
    10 min too late; counted from call + delay it is exactly at the limit and enters."""
    fields = {"entry_delay": "10m", "max_entry_gap": "15m"}
    paths = [
        [(1.0, 1.1, 0.9, 1.0)],                         # Tok0: first candle at +25 min: enters
        [(1.0, 1.1, 0.9, 1.0)],                         # Tok1: first candle at +26 min: no entry
        [(9.0, 9.0, 9.0, 9.0), (2.0, 2.1, 1.9, 2.0)],   # Tok2: +5 min is before call + delay; +12 min enters
    ]
    out = trades(paths, fields, minutes=[[25], [26], [5, 12]], call_offset_s=0)
    got = [(t["exit_reason"], t["entry_ts"], t["entry_price"]) for t in out]
    assert got == [
        ("end_of_window", T0 + dt.timedelta(minutes=25), 1.0),
        ("no_entry", None, None),
        ("end_of_window", T0 + dt.timedelta(minutes=12), 2.0),
    ]
    # a delay longer than the gap still enters: delay 30 min, gap 15 min, first candle at +40 min
    [t] = trades([[(1.0, 1.1, 0.9, 1.0)]], {"entry_delay": "30m", "max_entry_gap": "15m"}, minutes=[[40]],
                 call_offset_s=0)
    assert (t["exit_reason"], t["entry_ts"]) == ("end_of_window", T0 + dt.timedelta(minutes=40))
