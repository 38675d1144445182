"""Strategy and caller x strategy boards over hand-made trades (docs/semantics.md#rollups,
#leaderboard-scores)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from quantbot_pipelines.schemas import CALLER_STRATEGY_LEADERBOARD, STRATEGY_LEADERBOARD
from quantbot_pipelines.simulation import (
    MIN_CALLER_TRADES,
    caller_strategy_leaderboard,
    strategy_leaderboard,
)

T = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def trades(rows):
    """rows: (strategy, caller, net_return or None, exit_reason, repeat, window_complete)"""
    return pl.DataFrame({
        "strategy": [r[0] for r in rows], "caller_id": [r[1] for r in rows],
        "caller_name": [r[1].upper() for r in rows], "net_return": [r[2] for r in rows],
        "exit_reason": [r[3] for r in rows], "repeat": [r[4] for r in rows],
        "window_complete": [r[5] for r in rows],
        "call_ts": [T + dt.timedelta(minutes=i) for i in range(len(rows))],
        "exit_ts": [None if r[2] is None else T + dt.timedelta(hours=i) for i, r in enumerate(rows)],
    })


ROWS = [
    ("a", "x", 1.0, "take_profit", False, True),
    ("a", "x", -0.5, "stop_loss", False, True),
    ("a", "y", 0.2, "time_exit", None, False),
    ("a", "y", 9.0, "take_profit", True, True),      # repeat: left out
    ("a", "y", None, "no_entry", False, True),        # no entry: left out
    ("b", "x", -0.1, "stop_loss", False, True),
    ("b", "y", -0.3, "stop_loss", False, True),
]


def test_strategy_leaderboard_figures():
    board = strategy_leaderboard(trades(ROWS))
    assert board.columns == STRATEGY_LEADERBOARD.columns
    a = board.filter(pl.col("strategy") == "a").row(0, named=True)
    assert a["rank"] == 1 and a["trades"] == 3
    assert a["win_rate"] == pytest.approx(2 / 3) and a["mean_return"] == pytest.approx(0.7 / 3)
    assert a["median_return"] == pytest.approx(0.2) and a["profit_factor"] == pytest.approx(1.2 / 0.5)
    assert a["worst_trade"] == -0.5 and a["best_trade"] == 1.0
    assert json.loads(a["exit_reason_shares"]) == pytest.approx(
        {"stop_loss": 1 / 3, "take_profit": 1 / 3, "time_exit": 1 / 3})
    assert a["incomplete_trades"] == 1
    b = board.filter(pl.col("strategy") == "b").row(0, named=True)
    assert b["rank"] == 2 and b["profit_factor"] == 0.0 and b["win_rate"] == 0.0
    STRATEGY_LEADERBOARD.conform(board.to_arrow())


def test_profit_factor_without_losses_is_infinite():
    board = strategy_leaderboard(trades([("a", "x", 0.5, "take_profit", False, True)]))
    assert board["profit_factor"][0] == float("inf")


def test_caller_board_needs_the_minimum_and_beats_one_lucky_call():
    rows = [("s", "lucky", 50.0, "take_profit", False, True)]
    rows += [("s", "lucky", -0.5, "stop_loss", False, True)] * (MIN_CALLER_TRADES - 1)
    rows += [("s", "steady", 0.3, "take_profit", False, True)] * MIN_CALLER_TRADES
    rows += [("s", "steady", -0.1, "stop_loss", False, True)] * 2
    rows += [("s", "new", 100.0, "take_profit", False, True)]
    board = caller_strategy_leaderboard(trades(rows))
    assert board.columns == CALLER_STRATEGY_LEADERBOARD.columns
    ranks = dict(zip(board["caller_id"], board["rank"], strict=True))
    # lucky has the higher mean (9.6 vs 0.19) but one call makes it: steady ranks first; new is below minimum
    assert ranks == {"steady": 1, "lucky": 2, "new": None}
    assert board.filter(pl.col("caller_id") == "steady")["caller_name"][0] == "STEADY"
    CALLER_STRATEGY_LEADERBOARD.conform(board.to_arrow())


def test_sweep_guards_join_onto_their_variant_only():
    """docs/semantics.md#overfitting-guards: the guards sit on the row they name; every other figure is as
    without them."""
    guards = pl.DataFrame({"strategy_file": ["f"], "strategy": ["b"], "variants": [2], "days": [40],
                           "best_sharpe": [0.2], "expected_max_sharpe": [0.1], "dsr": [0.42], "pbo": [0.5],
                           "verdict": ["Best of 2 variants: ..."]})
    plain = strategy_leaderboard(trades(ROWS))
    board = strategy_leaderboard(trades(ROWS), guards=guards)
    sweep = ["sweep_variants", "sweep_days", "sweep_dsr", "sweep_pbo", "sweep_verdict"]
    assert board.drop(sweep).equals(plain.drop(sweep)) and board.columns == plain.columns
    b = board.filter(pl.col("strategy") == "b").row(0, named=True)
    assert (b["sweep_variants"], b["sweep_days"], b["sweep_dsr"], b["sweep_pbo"]) == (2, 40, 0.42, 0.5)
    assert board.filter(pl.col("strategy") == "a").select(sweep).null_count().row(0) == (1,) * 5
    assert plain.select(sweep).null_count().row(0) == (plain.height,) * 5
    STRATEGY_LEADERBOARD.conform(board.to_arrow())
