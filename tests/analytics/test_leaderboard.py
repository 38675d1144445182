"""Caller and token leaderboards: ranking, minimum calls, one lucky call (docs/semantics.md#leaderboard-scores)."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from quantbot_pipelines.analytics import (
    caller_leaderboard,
    token_leaderboard,
)
from quantbot_pipelines.schemas import CALLER_LEADERBOARD, TOKEN_ANALYTICS, TOKEN_LEADERBOARD

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def rows(
    caller: str, aths: list[float], *, repeat: bool = False, status: str = "ok", start: int = 0
) -> list[dict]:
    out = []
    for i, ath in enumerate(aths):

        def t(n, ath=ath):
            return 600 * n if ath >= n else None

        out.append(
            {
                "day": T0.date(),
                "chat_id": "c",
                "message_id": start + i,
                "caller_id": caller,
                "caller_name": caller.title(),
                "chain": "solana",
                "address": f"{caller}{start + i}",
                "card_ticker": f"T{start + i}",
                "call_ts": T0 + dt.timedelta(minutes=start + i),
                "first_call": True,
                "repeat": repeat,
                "status": status,
                "entry_price": 1.0,
                "ath_multiple": ath,
                "time_to_1_5x_s": t(1.5),
                "time_to_2x_s": t(2),
                "time_to_3x_s": t(3),
                "time_to_5x_s": t(5),
                "time_to_10x_s": t(10),
                "min_multiple": 0.5,
                "drawdown_before_2x": -0.3,
                "end_multiple": ath / 2,
                "window_complete": True,
                "candles": 10,
            }
        )
    return out


def analytics(*groups: list[dict]) -> pl.DataFrame:
    df = pl.DataFrame([r for g in groups for r in g])
    schema = pl.from_arrow(TOKEN_ANALYTICS.empty()).schema
    missing = [pl.lit(None, schema[c]).alias(c) for c in schema if c not in df.columns]
    return df.with_columns(missing).select(schema.names()).cast(dict(schema))


def test_figures_and_ranking():
    a = analytics(
        rows("steady", [2.5, 3, 1.2, 6, 2.2, 1.1], start=0),
        rows("meh", [1.1, 1.3, 1.2, 2.1, 1.0], start=100),
        rows("steady", [50.0], repeat=True, start=200),
        rows("steady", [9.0], status="no_entry", start=300),
    )
    board = caller_leaderboard(a, min_calls=5)
    CALLER_LEADERBOARD.conform(board.to_arrow())
    assert board.columns == CALLER_LEADERBOARD.columns
    s = board.filter(pl.col("caller_id") == "steady").row(0, named=True)
    assert s["calls"] == 6 and s["tokens"] == 6  # the repeat and the no_entry call are left out
    assert s["hit_rate_2x"] == pytest.approx(4 / 6) and s["hit_rate_5x"] == pytest.approx(1 / 6)
    assert s["hit_rate_10x"] == 0
    assert s["median_ath_multiple"] == pytest.approx(2.35) and s["mean_ath_multiple"] == pytest.approx(16 / 6)
    assert s["median_time_to_2x_s"] == 1200 and s["median_drawdown_before_2x"] == pytest.approx(-0.3)
    # score formula from the leaderboard module docstring
    z, n, p = 1.645, 6, 4 / 6
    wilson = (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
    assert s["score"] == pytest.approx(wilson + n / (n + 10) * math.log(2.35) / math.log(10))
    assert board.get_column("caller_id").to_list() == ["steady", "meh"] and board.get_column(
        "rank"
    ).to_list() == [1, 2]
    with_repeats = caller_leaderboard(a, min_calls=5, include_repeats=True)
    assert with_repeats.filter(pl.col("caller_id") == "steady").get_column("calls").item() == 7


def test_min_calls_leaves_small_callers_unranked():
    a = analytics(rows("steady", [2.5, 3, 1.2, 6, 2.2]), rows("few", [3.0, 4.0], start=100))
    board = caller_leaderboard(a, min_calls=5)
    assert dict(board.select("caller_id", "rank").iter_rows()) == {"steady": 1, "few": None}
    assert caller_leaderboard(a, min_calls=2).filter(pl.col("rank").is_not_null()).height == 2


def test_one_lucky_call_cannot_top_the_board():
    good = rows("good", [2.5, 2.2, 1.3, 3.0, 1.1, 2.1, 1.4, 2.4, 1.2, 2.0])  # 6/10 at 2x, median 2.05x
    lucky = rows("lucky", [1000.0], start=100)
    board = caller_leaderboard(analytics(good, lucky), min_calls=1)
    assert board.get_column("caller_id").to_list()[0] == "good"
    assert board.filter(pl.col("caller_id") == "lucky").get_column("rank").item() == 2
    # with the default minimum the lucky caller is listed without rank
    board = caller_leaderboard(analytics(good, lucky))
    assert dict(board.select("caller_id", "rank").iter_rows()) == {"good": 1, "lucky": None}
    # the score still prefers the lucky one's 1,000x less than a steady 10x caller's record
    steady = rows("steady", [10.0] * 5, start=200)
    board = caller_leaderboard(analytics(good, lucky, steady), min_calls=1)
    assert board.get_column("caller_id").to_list() == ["steady", "good", "lucky"]


def test_empty_board():
    a = analytics(rows("x", [2.0], status="no_entry"))
    board = caller_leaderboard(a)
    assert board.height == 0 and board.columns == CALLER_LEADERBOARD.columns


def test_token_leaderboard_uses_the_first_call():
    a = analytics(rows("alice", [4.0, 1.5]), rows("bob", [9.0], start=100))
    # bob calls alice's first token later, with a better entry
    later = rows("bob", [20.0], start=200)[0] | {"address": "alice0", "card_ticker": None}
    board = token_leaderboard(analytics(a.to_dicts(), [later]))
    TOKEN_LEADERBOARD.conform(board.to_arrow())
    assert board.columns == TOKEN_LEADERBOARD.columns
    t = board.filter(pl.col("address") == "alice0").row(0, named=True)
    assert (t["calls"], t["callers"], t["ath_multiple"], t["first_caller_name"], t["ticker"]) == (
        2,
        2,
        4.0,
        "Alice",
        "T0",
    )
    assert t["time_to_2x_s"] == 1200
    assert board.get_column("address").to_list() == ["bob100", "alice0", "alice1"]
    assert board.get_column("rank").to_list() == [1, 2, 3]
