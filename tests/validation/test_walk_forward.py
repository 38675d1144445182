"""Walk-forward on hand-made tables: the worked example of docs/semantics.md#walk-forward, recomputed through
the library, and what a fold must never do (use its test days to choose)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from quantbot_pipelines.simulation import Strategy
from quantbot_pipelines.validation import FoldPlan, Rules, run_fold, stitch
from quantbot_pipelines.validation.persistence import rank_correlation
from quantbot_pipelines.validation.walk_forward import percentile_among

D0 = dt.date(2025, 1, 1)
PLAN = FoldPlan(train_days=30, test_days=14, step_days=14)
FOLD = PLAN.folds(D0, dt.date(2025, 3, 31))[0]  # train 01-01 .. 01-30, test 01-31 .. 02-13
UTC = dt.UTC
# train calls: A runs to 10x, B to 4x (every call a 2x), C and D never double
TRAIN_ATH = {"A": 10.0, "B": 4.0, "C": 1.5, "D": 1.2}
TEST_ATH = {"A": 1.5, "B": 3.0, "C": 6.0, "D": 1.1}


def _analytics() -> pl.DataFrame:
    rows, msg = [], 0
    for ath, start in ((TRAIN_ATH, FOLD.train_start), (TEST_ATH, FOLD.test_start)):
        for caller, x in ath.items():
            for k in range(5):
                msg += 1
                day = start + dt.timedelta(days=k)
                rows.append({"day": day, "chat_id": "c", "message_id": msg, "caller_id": caller,
                             "caller_name": caller, "chain": "solana", "address": f"T{msg}",
                             "call_ts": dt.datetime.combine(day, dt.time(12), UTC), "repeat": False,
                             "status": "ok", "ath_multiple": x, "time_to_2x_s": 60 if x >= 2 else None,
                             "time_to_5x_s": 60 if x >= 5 else None, "time_to_10x_s": 60 if x >= 10 else None,
                             "drawdown_before_2x": -0.1, "end_multiple": x / 2})
    return pl.DataFrame(rows)


def _trade(strategy: str, caller: str, day: dt.date, ret: float, msg: int) -> dict:
    entry = dt.datetime.combine(day, dt.time(12), UTC)
    exit_ = entry + dt.timedelta(hours=1)
    return {"day": day, "strategy_file": "f", "strategy": strategy, "chat_id": "c", "message_id": msg,
            "chain": "solana", "address": f"X{msg}", "caller_id": caller, "call_ts": entry, "repeat": False,
            "entry_ts": entry, "entry_price": 1.0, "exit_ts": exit_, "exit_reason": "take_profit",
            "fills": json.dumps([[exit_.strftime("%Y-%m-%dT%H:%M:%S"), 1.0 + ret, 1.0, "take_profit"]]),
            "net_multiple": 1.0 + ret, "net_return": ret, "size_usd": None, "impact": "none", "pool_usd": None,
            "liquidity_source": None, "window_complete": True}


def _trades() -> pl.DataFrame:
    train = {"S1": {"A": [0.6, 0.2], "B": [0.4], "C": [-0.5], "D": [-0.5]},
             "S2": {"A": [0.1, 0.1], "B": [0.1], "C": [0.9], "D": [0.9]}}
    test = {"S1": {"A": [1.0, -0.5], "B": [-0.2], "C": [-0.5], "D": [0.4]},
            "S2": {"A": [0.0, 0.0], "B": [0.0], "C": [0.0], "D": [0.0]}}
    rows, msg = [], 1000
    for book, day0 in ((train, FOLD.train_start), (test, FOLD.test_start)):
        for strategy, by_caller in book.items():
            for caller, rets in by_caller.items():
                for k, r in enumerate(rets):
                    msg += 1
                    rows.append(_trade(strategy, caller, day0 + dt.timedelta(days=k), r, msg))
    return pl.DataFrame(rows)


STRATEGIES = {"S1": Strategy(name="S1"), "S2": Strategy(name="S2")}


@pytest.fixture(scope="module")
def fold():
    return run_fold(FOLD, _analytics(), _trades(), STRATEGIES, Rules(top_n=2, draws=20_000))


def test_semantics_example(fold):
    top = fold.rows.filter(pl.col("policy") == "top_callers").row(0, named=True)
    assert top["fold"] == "2025-01-31..2025-02-13"
    assert json.loads(top["callers"]) == ["A", "B"] and top["candidates"] == 4
    assert top["strategy"] == "S1"  # +0.40 over A's and B's train trades, against +0.10
    assert top["is_mean_return"] == pytest.approx(0.40) and top["is_trades"] == 3
    assert top["oos_trades"] == 3 and top["oos_mean_return"] == pytest.approx(0.10)
    assert top["decay"] == pytest.approx(0.30)
    assert top["all_callers_mean_return"] == pytest.approx(0.04) and top["all_callers_trades"] == 5
    # hold: A's and B's test calls at end_multiple = ath / 2, no costs
    assert top["hold_mean_return"] == pytest.approx((1.5 / 2 + 3.0 / 2) / 2 - 1)
    # six pairs, equally likely: (3 + 2 / 2) / 6 of them below the choice
    assert top["random_percentile"] == pytest.approx(4 / 6, abs=0.01)
    assert top["random_p05"] == pytest.approx(-0.35) and top["random_p95"] == pytest.approx(0.30)


def test_exact_percentile_rule():
    means = pl.Series([-0.35, -0.05, 0.0, 0.10, 0.10, 0.30]).to_numpy()
    assert percentile_among(0.10, means) == pytest.approx(4 / 6)


def test_persistence_pairs_the_two_boards(fold):
    top = fold.rows.row(0, named=True)
    # train scores follow TRAIN_ATH's order, test scores TEST_ATH's (C, B, A, D)
    assert top["persistence_callers"] == 4
    assert top["persistence_rho"] == pytest.approx(rank_correlation([4, 3, 2, 1], [2, 3, 4, 1]))
    assert top["persistence_low"] <= top["persistence_rho"] <= top["persistence_high"]


def test_per_caller_policy_takes_each_callers_best(fold):
    row = fold.rows.filter(pl.col("policy") == "per_caller").row(0, named=True)
    # below 5 train trades no caller x strategy score exists: both fall back to the top_callers strategy
    assert json.loads(row["strategy"]) == {"A": "S1", "B": "S1"}
    assert row["oos_mean_return"] == pytest.approx(0.10)


def test_test_days_never_change_the_choice():
    """Whatever happens on the test days, the choice (callers, strategy, in-sample figure) is the same."""
    base = run_fold(FOLD, _analytics(), _trades(), STRATEGIES, Rules(top_n=2, draws=100)).rows
    trades = _trades().with_columns(
        pl.when(pl.col("day") >= FOLD.test_start).then(-pl.col("net_return") * 3 + 0.7).otherwise(
            pl.col("net_return")).alias("net_return"))
    analytics = _analytics().with_columns(
        pl.when(pl.col("day") >= FOLD.test_start).then(pl.lit(50.0)).otherwise(pl.col("ath_multiple"))
        .alias("ath_multiple"))
    other = run_fold(FOLD, analytics, trades, STRATEGIES, Rules(top_n=2, draws=100)).rows
    for col in ("callers", "strategy", "is_mean_return", "is_trades", "candidates"):
        assert base.get_column(col).to_list() == other.get_column(col).to_list()
    assert base.get_column("oos_mean_return").to_list() != other.get_column("oos_mean_return").to_list()


def test_a_fold_without_candidates_chooses_nothing():
    result = run_fold(FOLD, _analytics().head(0), _trades(), STRATEGIES, Rules(top_n=2))
    assert result.rows.get_column("callers").to_list() == ["[]", "[]"]
    assert result.rows.get_column("oos_mean_return").null_count() == 2
    assert result.trades.height == 0


def test_stitched_book_and_pooled_figures(fold):
    out = stitch(PLAN, D0, fold.rows, fold.trades, STRATEGIES)
    top = out.summary.filter(pl.col("policy") == "top_callers").row(0, named=True)
    assert top["oos_trades"] == 3 and top["oos_mean_return"] == pytest.approx(0.10)
    assert top["is_mean_return"] == pytest.approx(0.40)
    # a $2,000 book with $100 stakes: +100 - 50 - 20 over the three trades
    assert top["book_start_usd"] == 2000 and top["book_final_usd"] == pytest.approx(2030)
    assert top["book_return"] == pytest.approx(0.015)
    assert "in sample" in top["verdict"]


def test_strategies_ranked_by_their_books():
    """rank_strategies_by book_return: each strategy's book over the chosen callers' train trades decides. With
    $100 stakes from $2,000, S1's book gains 120 (+6.0 %), S2's 30 (+1.5 %) and S3's, one trade of +0.50,
    gains 50 (+2.5 %): the book picks S1 where the mean (+0.50 for S3) picks S3."""
    from quantbot_pipelines.simulation import run_books
    from quantbot_pipelines.validation.walk_forward import best_strategy

    s3 = pl.DataFrame([_trade("S3", "A", FOLD.train_start, 0.5, 9000)]).cast(_trades().schema)
    trades = pl.concat([_trades(), s3])
    strategies = {**STRATEGIES, "S3": Strategy(name="S3")}
    train = trades.filter(pl.col("day") < FOLD.test_start, pl.col("caller_id").is_in(["A", "B"]))
    books = run_books(train, list(strategies.values())).summary
    assert dict(books.select("strategy", "book_return").iter_rows()) == pytest.approx(
        {"S1": 0.06, "S2": 0.015, "S3": 0.025})
    assert best_strategy(train, strategies, "book_return") == "S1"
    assert best_strategy(train, strategies, "mean_return") == "S3"
    for by, expect in (("book_return", "S1"), ("mean_return", "S3")):
        rows = run_fold(FOLD, _analytics(), trades, strategies, Rules(top_n=2, draws=10, rank_strategies_by=by)).rows
        assert rows.filter(pl.col("policy") == "top_callers").get_column("strategy").to_list() == [expect]
