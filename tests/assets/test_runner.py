"""The whole pipeline on the sample export, on a real ephemeral Dagster instance: every stage, its metadata,
its checks, and re-runs that change nothing."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from dagster import AssetCheckKey, AssetKey, AssetSelection, DagsterInstance, materialize

from assets.partitions import RANGE_END, RANGE_START
from tests.support.pipeline import INTERVALS, make_definitions, make_resources


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from assets.runner import materialize_pipeline
    from quantbot_pipelines.sample import write_sample_inbox

    root = tmp_path_factory.mktemp("pipeline")
    resources = make_resources(root)
    write_sample_inbox(root / "inbox")
    instance = DagsterInstance.ephemeral()
    runs = materialize_pipeline(instance, make_definitions(resources), log=lambda _: None)
    yield instance, resources, runs
    instance.dispose()


def _latest_metadata(instance, asset: str, partition: str | None = None) -> dict:
    records = instance.fetch_materializations(AssetKey(asset), limit=1000).records
    if partition is not None:
        records = [r for r in records if r.partition_key == partition]
    assert records, f"no materialization of {asset} {partition or ''}"
    return records[0].asset_materialization.metadata


def test_every_stage_lands_rows(pipeline):
    _instance, resources, _runs = pipeline
    wh = resources["warehouse"].get()
    calls = wh.read("telegram_calls")
    assert calls.height > 100
    assert calls.get_column("caller_id").n_unique() >= 5
    assert calls.select("chain", "address", "chat_id", "message_id").is_duplicated().sum() == 0

    candles = wh.read("raw_candles")
    assert candles.height > 10_000
    assert candles.select("day", "chain", "address", "interval", "open_ts").is_duplicated().sum() == 0

    analytics = wh.read("token_analytics")
    assert analytics.height == calls.height
    # the sample is months old: every window with candles is known in full
    assert analytics.filter(pl.col("status") != "no_candles").get_column("window_complete").all()
    assert analytics.filter(pl.col("status") == "ok").height > calls.height // 2

    agg = wh.read("aggregated_candles")
    assert set(agg.get_column("interval").unique()) == set(INTERVALS)

    board = wh.read("caller_leaderboard")
    assert board.filter(pl.col("rank") == 1).height == 1

    trades = wh.read("simulation_results")
    strategies = sum(len(v) for v in _strategies(resources).values())
    assert trades.height == calls.height * strategies
    assert wh.read("strategy_leaderboard").height > 0
    assert wh.read("caller_strategy_leaderboard").height > 0


def test_tables_match_the_recorded_digest(pipeline):
    # every table of the sample, row for row, as recorded in tests/snapshots/demo_tables.json: a change that
    # moves code must leave it alone; one that changes a figure updates it on purpose (UPDATE_SNAPSHOTS=1)
    import json
    import os
    from pathlib import Path

    from quantbot_pipelines.warehouse.digest import warehouse_digest

    _instance, resources, _runs = pipeline
    current = warehouse_digest(resources["warehouse"].get())
    snapshot = Path(__file__).resolve().parent.parent / "snapshots" / "demo_tables.json"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        snapshot.write_text(json.dumps(current, indent=1) + "\n")
    assert current == json.loads(snapshot.read_text())


def _strategies(resources) -> dict:
    from quantbot_pipelines.simulation import load_strategy_file

    return {stem: load_strategy_file(path) for stem, path in resources["strategies"].files().items()}


def test_metadata_reads_well_in_the_ui(pipeline):
    instance, resources, _ = pipeline
    day = str(resources["warehouse"].get().read("telegram_calls", columns=["day"]).get_column("day").min())
    meta = _latest_metadata(instance, "telegram_calls", day)
    for key in ("rows", "callers", "tokens", "quarantined", "preview"):
        assert key in meta
    preview = meta["preview"].value
    assert len(preview.records) == 10 and "caller_name" in [c.name for c in preview.schema.columns]
    board = _latest_metadata(instance, "caller_leaderboard")
    assert [c.name for c in board["leaderboard"].value.schema.columns][:2] == ["#", "caller"]
    assert board["ath_distribution"].value.startswith("![")
    strategy = _latest_metadata(instance, "strategy_leaderboard")
    assert "equity_curves" in strategy and "leaderboard" in strategy
    candles = _latest_metadata(instance, "raw_candles", day)
    assert candles["requests"].value >= 0 and "coverage" in candles


def test_each_day_of_a_range_run_shows_its_own_figures(pipeline):
    """The runner runs every stage over the whole range in one run; each partition's materialization still
    describes that partition, and the run's totals are labelled run_*."""
    instance, resources, _ = pipeline
    wh = resources["warehouse"].get()
    calls = wh.read("telegram_calls", columns=["day"]).group_by("day").len()
    assert calls.height > 5 and calls.get_column("len").n_unique() > 1  # days differ, so a copy would show
    candles = dict(wh.read("raw_candles", columns=["day"]).group_by("day").len().iter_rows())
    trades = wh.read("simulation_results", columns=["day", "strategy_file"]).group_by("day", "strategy_file").len()
    total = int(calls.get_column("len").sum())
    first, last = calls.get_column("day").min(), calls.get_column("day").max()
    for day, n in calls.iter_rows():
        key = str(day)
        meta = _latest_metadata(instance, "telegram_calls", key)
        assert meta["rows"].value == n and meta["run_rows"].value == total
        assert meta["run_partitions"].value == (last - first).days + 1
        assert _latest_metadata(instance, "token_analytics", key)["calls"].value == n
        assert _latest_metadata(instance, "raw_candles", key)["candles"].value == candles.get(day, 0)
        previews = {r["call_ts"] for r in _latest_metadata(instance, "telegram_calls", key)["preview"].value.records
                    for r in [r.data]}
        assert all(ts.startswith(key) for ts in previews)
    day, stem, n = trades.row(0)
    meta = _latest_metadata(instance, "simulation_results", f"{day}|{stem}")
    assert meta["trades"].value == n and meta["run_trades"].value == int(trades.get_column("len").sum())
    assert len(meta["strategy_fingerprint"].value) == 16


def test_checks_pass_on_the_sample(pipeline):
    instance, resources, _ = pipeline
    day = str(resources["warehouse"].get().read("raw_candles", columns=["day"]).get_column("day").min())
    for check in ("candles_consistent", "candle_coverage"):
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [AssetCheckKey(AssetKey("raw_candles"), check)])
        assert record, check
    result = _run_checks(resources, day)
    assert all(e.passed for e in result.get_asset_check_evaluations()), result.get_asset_check_evaluations()


def _run_checks(resources, day: str):
    defs = make_definitions(resources)
    checks = [AssetCheckKey(AssetKey("raw_candles"), name) for name in ("candles_consistent", "candle_coverage")]
    return materialize([*defs.assets, *defs.asset_checks], selection=AssetSelection.checks(*checks),
                       tags={RANGE_START: day, RANGE_END: day}, resources=resources,
                       instance=DagsterInstance.ephemeral(), raise_on_error=False)


def test_consistency_check_fails_on_broken_candles(tmp_path):
    from quantbot_pipelines.schemas import RAW_CANDLES

    resources = make_resources(tmp_path)
    wh = resources["warehouse"].get()
    day = dt.date(2025, 9, 3)
    ts = [dt.datetime(2025, 9, 3, 10, m, tzinfo=dt.UTC) for m in (0, 1, 1, 2)]
    bad = pl.DataFrame({
        "day": [day] * 4, "chain": ["solana"] * 4, "address": ["Tok"] * 4, "interval": ["1m"] * 4,
        "open_ts": ts, "open": [1.0, 1.0, 1.0, -1.0], "high": [0.5, 1.2, 1.2, 1.0],
        "low": [0.9, 0.8, 0.8, 0.5], "close": [1.0, 1.1, 1.1, 0.9], "volume_usd": [1.0] * 4,
        "source": ["synthetic"] * 4})
    wh.write_partition(RAW_CANDLES, {"day": day}, bad)
    result = _run_checks(resources, str(day))
    (consistent,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "candles_consistent"]
    assert not consistent.passed
    problems = consistent.metadata["problems"].value
    assert sum(problems.values()) >= 3


def test_rerunning_candles_spends_no_requests_and_keeps_rows(pipeline):
    instance, resources, _ = pipeline
    wh = resources["warehouse"].get()
    before = wh.read("raw_candles").sort("day", "chain", "address", "open_ts")
    days = sorted({str(d) for d in before.get_column("day").to_list()})
    result = materialize(list(make_definitions(resources).assets), selection=["raw_candles", "candle_ledger"],
                         instance=instance, resources=resources, tags={RANGE_START: days[0], RANGE_END: days[-1]})
    metas = [m for m in result.asset_materializations_for_node("raw_candles") if m.asset_key == AssetKey("raw_candles")]
    assert metas and all(m.metadata["requests"].value == 0 for m in metas)
    after = wh.read("raw_candles").sort("day", "chain", "address", "open_ts")
    assert after.equals(before)


def test_sized_trades_books_and_order_bounds_reach_the_tables(pipeline):
    # docs/semantics.md#position-size .. #bankroll, on the sample through the real pipeline
    _instance, resources, _runs = pipeline
    wh = resources["warehouse"].get()
    trades = wh.read("simulation_results")
    sized = trades.filter(pl.col("strategy_file") == "ladder_500_thin_pools", pl.col("exit_reason") != "no_entry")
    assert sized.height > 100 and (sized["size_usd"] == 500).all()
    # every priced trade says where its pool came from; the sample's cards give most, the curve and the source
    # the others
    assert set(sized["liquidity_source"].unique()) >= {"card", "bonding_curve", "candle_source"}
    assert (sized["impact_usd"] > 0).all()
    assert (sized["net_multiple"] - sized["proceeds_usd"] / sized["cost_usd"]).abs().max() < 1e-12
    unit = trades.filter(pl.col("size_usd").is_null(), pl.col("exit_reason") != "no_entry")
    assert unit["cost_usd"].null_count() == unit.height
    # the scalp's levels are close enough for one-minute candles to cross both: its minutes were fetched
    # finer once, and settled
    amb = trades.filter(pl.col("ambiguous_candles") > 0)
    assert amb.height > 0 and (amb["net_multiple_low"] <= amb["net_multiple_high"]).all()
    settled = amb.filter(pl.col("settled_by") == "finer_candles")
    assert settled.height > 0
    assert ((settled["net_multiple"] == settled["net_multiple_low"])
            | (settled["net_multiple"] == settled["net_multiple_high"])).all()
    minutes = amb.select("chain", "address", "ambiguous_ts").n_unique()
    ledger = wh.read("intrabar_ledger")
    assert 0 < ledger.height <= minutes  # adjoining minutes of a token are one request
    assert (ledger["interval"] == "15s").all() and (ledger["status"] == "ok").all()
    assert wh.read("intrabar_candles").height == 4 * minutes  # each minute traded: four 15s candles
    # a book per strategy, every call with a decision, and the board carrying the books
    books = wh.read("portfolio_books")
    board = wh.read("strategy_leaderboard")
    assert books.height == board.height
    rows = wh.read("portfolio_results")
    assert rows.height == trades.height
    assert set(rows["decision"].unique()) <= {"taken", "repeat", "no_entry", "holding_token", "max_open", "no_cash"}
    thin = books.filter(pl.col("strategy") == "ladder_500_thin_pools").row(0, named=True)
    assert thin["bankroll_usd"] == 2000 and thin["skipped_max_open"] + thin["skipped_no_cash"] > 0
    assert board["book_rank"].null_count() < board.height
    # each book's equity curve carries the figures measured on it (docs/semantics.md#book-equity-curve)
    curves = wh.read("portfolio_equity").sort("strategy", "ts")
    assert curves.get_column("strategy").n_unique() == books.filter(pl.col("book_trades") > 0).height
    ends = curves.group_by("strategy").agg(
        pl.col("equity_usd").last().alias("final"),
        (1 - pl.col("equity_usd") / pl.col("equity_usd").cum_max()).max().alias("drawdown"),
        pl.col("equity_usd").first().alias("first")).join(books, on="strategy")
    assert (ends["final"] - ends["final_equity_usd"]).abs().max() < 1e-9
    assert (ends["drawdown"] - ends["book_max_drawdown"]).abs().max() < 1e-12
    assert (ends["first"] == ends["bankroll_usd"]).all()
    assert board.filter(pl.col("strategy") == "scalp_5pct")["mean_return_low"].item() <= \
        board.filter(pl.col("strategy") == "scalp_5pct")["mean_return_high"].item()


def test_walk_forward_folds_follow_the_call_days(pipeline):
    """The sample's six weeks under 14 / 7 / 7-day folds: one partition per fold, both policies' choice and
    test trades, and the stitched summary with its plots (docs/semantics.md#walk-forward)."""
    from quantbot_pipelines.validation import FoldPlan

    instance, resources, _runs = pipeline
    wh = resources["warehouse"].get()
    days = wh.read("telegram_calls", columns=["day"]).get_column("day")
    keys = [f.key for f in FoldPlan(14, 7, 7).folds(days.min(), days.max())]
    assert len(keys) == 4
    assert instance.get_dynamic_partitions("walk_forward_folds") == keys
    folds = wh.read("walk_forward")
    assert sorted(folds.get_column("fold").unique().to_list()) == keys
    assert folds.group_by("fold").len().get_column("len").to_list() == [2] * 4
    top = folds.filter(pl.col("policy") == "top_callers")
    assert (top.get_column("callers") != "[]").all() and top.get_column("oos_trades").min() > 0
    trades = wh.read("walk_forward_trades")
    counted = trades.group_by("fold", "policy").len()
    assert dict(zip(zip(counted["fold"], counted["policy"], strict=True), counted["len"], strict=True)) == {
        (r["fold"], r["policy"]): r["oos_trades"] for r in folds.iter_rows(named=True)}
    for r in top.iter_rows(named=True):  # test days only, and only the chosen callers
        mine = trades.filter(pl.col("fold") == r["fold"], pl.col("policy") == "top_callers")
        assert mine.get_column("day").min() >= r["test_start"] and mine.get_column("day").max() <= r["test_end"]
        assert set(mine.get_column("caller_id")) <= set(json.loads(r["callers"]))
        assert set(mine.get_column("strategy")) == {r["strategy"]}
    summary = wh.read("walk_forward_summary")
    assert sorted(summary.get_column("policy").to_list()) == ["per_caller", "top_callers"]
    # step = test: every test day counts once, so the stitched trades are every fold's
    s = summary.filter(pl.col("policy") == "top_callers").row(0, named=True)
    assert s["oos_trades"] == top.get_column("oos_trades").sum() and s["verdict"]
    meta = _latest_metadata(instance, "walk_forward_summary")
    assert {"folds_plot", "folds_table", "equity", "persistence", "verdict", "summary"} <= set(meta)
    assert len(meta["folds_table"].value.records) == 4
    key = AssetCheckKey(AssetKey("walk_forward_summary"), "every_fold_computed")
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    assert record.event.dagster_event.event_specific_data.passed
    fold_meta = _latest_metadata(instance, "walk_forward", keys[0])
    assert fold_meta["out_of_sample_trades"].value == top.row(0, named=True)["oos_trades"]
    names = dict(wh.read("caller_leaderboard").select("caller_id", "caller_name").iter_rows())
    assert fold_meta["callers"].value == [names[c] for c in json.loads(top.row(0, named=True)["callers"])]


def test_a_fold_run_again_writes_the_same_rows(pipeline):
    instance, resources, _runs = pipeline
    wh = resources["warehouse"].get()
    key = instance.get_dynamic_partitions("walk_forward_folds")[1]
    before = wh.read("walk_forward", where=[("fold", "=", key)]).sort("policy")
    materialize(list(make_definitions(resources).assets), selection=["walk_forward", "walk_forward_trades"],
                partition_key=key, instance=instance, resources=resources)
    after = wh.read("walk_forward", where=[("fold", "=", key)]).sort("policy")
    differ = [c for c in before.columns if before.get_column(c).to_list() != after.get_column(c).to_list()]
    assert differ == []
