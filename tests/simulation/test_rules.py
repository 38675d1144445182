"""Hand-computed trades, one per rule of docs/semantics.md#entry-and-window, #fills.

Entry price is 1.0 in every path (the first candle's open), so fill prices read as multiples.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from simhelp import T0, calls_frame, candles_frame, minute, simulate, trade

from quantbot_pipelines.simulation import Strategy

FLAT = (1.0, 1.05, 0.95, 1.0)


def S(**kw) -> Strategy:
    return Strategy(name=kw.pop("name", "s"), **kw)


def test_entry_is_the_open_of_the_first_candle_after_the_call():
    # a candle in progress at the call (opened at T0, call at T0 + 30 s) must not be used: look-ahead
    calls = calls_frame(1)
    candles = candles_frame([[(9.0, 9.0, 9.0, 9.0), (1.0, 1.1, 0.9, 1.0)]], minutes=[[0, 1]])
    row = simulate(calls, candles, [S()]).row(0, named=True)
    assert row["entry_ts"] == minute(0) and row["entry_price"] == 1.0


def test_entry_delay_moves_the_entry_candle():
    path = [(1.0, 1.0, 1.0, 1.0), (2.0, 2.0, 2.0, 2.0), (3.0, 3.0, 3.0, 3.0)]
    row = trade(path, S(entry_delay_s=90))  # call at +30 s, delay 90 s -> first open >= +120 s
    assert row["entry_ts"] == minute(1) and row["entry_price"] == 2.0


def test_no_entry_when_the_first_candle_is_too_late_or_missing():
    calls = calls_frame(2)
    candles = candles_frame([[(1.0, 1.0, 1.0, 1.0)]], minutes=[[20]])  # Tok0: 19.5 min after the call
    out = simulate(calls, candles, [S(stop_loss=0.5)])
    assert out["exit_reason"].to_list() == ["no_entry", "no_entry"]  # Tok1 has no candles at all
    assert out["net_multiple"].is_null().all() and out["entry_ts"].is_null().all()
    assert out["fills"].is_null().all() and out["exit_ts"].is_null().all()


def test_gap_through_a_stop_fills_at_the_open():
    row = trade([FLAT, (0.4, 0.45, 0.3, 0.35)], S(stop_loss=0.5))
    assert row["exit_reason"] == "stop_loss"
    assert row["fills"] == [[minute(1).strftime("%Y-%m-%dT%H:%M:%SZ"), 0.4, 1.0, "stop_loss"]]
    assert row["net_multiple"] == pytest.approx(0.4, abs=1e-15)


def test_stop_without_gap_fills_at_the_level():
    row = trade([FLAT, (0.9, 0.95, 0.3, 0.35)], S(stop_loss=0.5))
    assert row["fills"][0][1] == 0.5 and row["net_multiple"] == 0.5


def test_gap_through_a_take_profit_fills_at_the_open():
    row = trade([FLAT, (2.5, 2.6, 2.4, 2.5)], S(take_profit=((2.0, 1.0),)))
    assert row["exit_reason"] == "take_profit" and row["fills"][0][1] == 2.5 and row["net_multiple"] == 2.5


def test_several_levels_in_one_candle():
    s = S(take_profit=((2.0, 0.25), (3.0, 0.25), (5.0, 0.25)))
    row = trade([FLAT, (1.1, 3.5, 1.0, 3.2), (3.2, 3.3, 3.0, 3.1)], s)
    assert [f[1:] for f in row["fills"]] == [[2.0, 0.25, "take_profit"], [3.0, 0.25, "take_profit"],
                                            [3.1, 0.5, "end_of_window"]]
    assert row["fills"][0][0] == row["fills"][1][0] == minute(1).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row["net_multiple"] == pytest.approx(0.25 * 2 + 0.25 * 3 + 0.5 * 3.1, abs=1e-12)
    assert row["exit_reason"] == "end_of_window"


@pytest.mark.parametrize(("policy", "expected", "reason"), [
    ("stop_first", 0.5, "stop_loss"),
    ("take_profit_first", 2.0, "take_profit"),
    ("nearest_first", 0.5, "stop_loss"),  # open 1.0: stop 0.5 away, take-profit 1.0 away
])
def test_stop_and_take_profit_in_one_candle(policy, expected, reason):
    row = trade([(1.0, 2.2, 0.4, 1.0)], S(take_profit=((2.0, 1.0),), stop_loss=0.5, intrabar=policy))
    assert (row["net_multiple"], row["exit_reason"]) == (expected, reason)


def test_nearest_first_takes_the_take_profit_when_it_is_nearer():
    s = S(take_profit=((2.0, 1.0),), stop_loss=0.5, intrabar="nearest_first")
    assert trade([FLAT, (1.7, 2.2, 0.4, 1.0)], s)["net_multiple"] == 2.0  # 0.3 vs 1.2 away


def test_take_profit_first_sells_the_rest_at_the_stop():
    s = S(take_profit=((2.0, 0.5), (4.0, 0.5)), stop_loss=0.5, intrabar="take_profit_first")
    row = trade([(1.0, 2.2, 0.4, 1.0)], s)
    assert [f[1:] for f in row["fills"]] == [[2.0, 0.5, "take_profit"], [0.5, 0.5, "stop_loss"]]
    assert row["net_multiple"] == 1.25 and row["exit_reason"] == "stop_loss"


def test_an_open_through_a_level_decides_before_the_policy():
    # opens above the take-profit: the open is the candle's first trade, so the take-profit fills first
    s = S(take_profit=((2.0, 1.0),), stop_loss=0.5, intrabar="stop_first")
    assert trade([FLAT, (2.5, 2.6, 0.4, 1.0)], s)["net_multiple"] == 2.5
    s = S(take_profit=((2.0, 1.0),), stop_loss=0.5, intrabar="take_profit_first")
    assert trade([FLAT, (0.45, 2.6, 0.4, 1.0)], s)["net_multiple"] == 0.45


def test_trailing_stop_arms_then_triggers_on_earlier_highs():
    s = S(trailing_stop=(1.5, 0.2))
    path = [
        (1.0, 1.2, 0.95, 1.1),   # peak so far 1.0 (entry): not armed
        (1.1, 2.0, 1.05, 1.9),   # earlier peak 1.2 < 1.5: not armed yet, the low of 1.05 is harmless
        (1.9, 2.5, 1.7, 2.4),    # armed at peak 2.0: stop 1.6 not hit; its own high 2.5 (stop 2.0) counts next
        (2.4, 2.45, 1.9, 2.0),   # stop 2.5 x 0.8 = 2.0 hit by the low 1.9
        (2.0, 9.0, 2.0, 9.0),
    ]
    row = trade(path, s)
    assert row["exit_reason"] == "trailing_stop"
    assert row["exit_ts"] == minute(3) and row["net_multiple"] == pytest.approx(2.0, abs=1e-15)


def test_trailing_stop_gapped_through_fills_at_the_open():
    s = S(trailing_stop=(1.0, 0.3))
    row = trade([(1.0, 3.0, 1.0, 2.9), (1.5, 1.6, 1.4, 1.5)], s)  # stop 3.0 x 0.7 = 2.1, opens at 1.5
    assert row["fills"][0][1] == 1.5 and row["exit_reason"] == "trailing_stop"


def test_break_even_after_the_first_level():
    s = S(take_profit=((2.0, 0.5), (4.0, 0.5)), stop_loss=0.5, break_even=0.0)
    path = [
        FLAT,
        (1.0, 2.1, 0.95, 1.5),   # level 1 fills at 2.0; the move applies from the next candle
        (1.5, 1.6, 0.9, 1.0),    # stop now max(0.5, 1.0) = 1.0, hit
    ]
    row = trade(path, s)
    assert [f[1:] for f in row["fills"]] == [[2.0, 0.5, "take_profit"], [1.0, 0.5, "break_even"]]
    assert row["exit_reason"] == "break_even" and row["net_multiple"] == 1.5


def test_break_even_with_offset_above_entry():
    s = S(take_profit=((2.0, 0.5),), break_even=0.1)
    row = trade([FLAT, (1.0, 2.1, 0.95, 1.5), (1.5, 1.6, 1.0, 1.0)], s)
    assert row["fills"][-1][1:] == [1.1, 0.5, "break_even"]
    assert row["net_multiple"] == pytest.approx(0.5 * 2.0 + 0.5 * 1.1, abs=1e-15)


def test_time_exit_sells_at_the_close_of_the_last_candle_of_the_hold():
    path = [(1.0, 1.1, 0.9, 1.05), (1.05, 1.2, 1.0, 1.15), (1.15, 1.3, 1.1, 1.25), (1.25, 9.0, 1.2, 8.0)]
    row = trade(path, S(time_exit_s=180, take_profit=((5.0, 1.0),)))
    assert row["exit_reason"] == "time_exit" and row["exit_ts"] == minute(2)
    assert row["net_multiple"] == 1.25 and row["fills"][0][3] == "time_exit"


def test_time_exit_with_missing_candles_uses_the_last_candle_before_the_hold_ends():
    calls = calls_frame(1)
    candles = candles_frame([[(1.0, 1.0, 1.0, 1.0), (1.0, 1.3, 1.0, 1.2), (2.0, 2.0, 2.0, 2.0)]],
                            minutes=[[1, 2, 6]])
    row = simulate(calls, candles, [S(time_exit_s=180)]).row(0, named=True)
    assert row["exit_reason"] == "time_exit" and row["net_multiple"] == 1.2


def test_end_of_window_sells_at_the_last_close_of_the_window():
    path = [(1.0, 1.1, 0.9, 1.05), (1.05, 1.2, 1.0, 1.15), (1.15, 1.3, 1.1, 1.25), (1.25, 9.0, 1.2, 8.0)]
    row = trade(path, S(horizon_s=180))
    assert row["exit_reason"] == "end_of_window" and row["net_multiple"] == 1.25
    row = trade(path, S(horizon_s=180, time_exit_s=3600))  # the window ends before the hold
    assert row["exit_reason"] == "end_of_window" and row["exit_ts"] == minute(2)


def test_costs_match_the_pages_example():
    # fees 1 %, entry 1.0, stop 0.5, no slippage -> 0.5 x 0.99 / 1.01
    row = trade([FLAT, (0.9, 0.9, 0.4, 0.45)], S(stop_loss=0.5, fee_bps=100))
    assert row["net_multiple"] == pytest.approx(0.5 * 0.99 / 1.01, abs=1e-15)
    assert row["net_return"] == pytest.approx(0.5 * 0.99 / 1.01 - 1, abs=1e-15)


def test_slippage_moves_every_fill_against_the_trader():
    s = S(take_profit=((2.0, 0.5),), stop_loss=0.5, fee_bps=30, slippage_bps=100)
    row = trade([FLAT, (1.0, 2.1, 0.95, 1.5), (1.5, 1.6, 0.4, 0.5)], s)
    expected = (0.5 * 2.0 + 0.5 * 0.5) * (1 - 0.01) * (1 - 0.003) / ((1 + 0.01) * (1 + 0.003))
    assert row["net_multiple"] == pytest.approx(expected, abs=1e-14)


def test_output_columns_and_strategy_file_column():
    from quantbot_pipelines.schemas import SIMULATION_RESULTS

    out = simulate(calls_frame(2), candles_frame([[FLAT], [FLAT]]), [S(name="a"), S(name="b")])
    assert out.columns == SIMULATION_RESULTS.columns and out.height == 4
    assert out["strategy"].to_list() == ["a", "b", "a", "b"] and out["strategy_file"].is_null().all()
    SIMULATION_RESULTS.conform(out.with_columns(pl.lit("f").alias("strategy_file")).to_arrow())


def test_window_complete_is_carried_from_the_calls():
    calls = calls_frame(2).with_columns(pl.Series("window_complete", [True, False]))
    out = simulate(calls, candles_frame([[FLAT], [FLAT]]), [S()])
    assert out["window_complete"].to_list() == [True, False]


def test_fill_timestamps_are_candle_open_times():
    row = trade([FLAT, (1.0, 2.1, 0.95, 1.5)], S(take_profit=((2.0, 1.0),)))
    assert dt.datetime.fromisoformat(row["fills"][0][0]) == minute(1) and row["exit_ts"] == minute(1)
    assert row["entry_ts"] == T0 + dt.timedelta(minutes=1)
