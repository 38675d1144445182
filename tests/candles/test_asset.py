"""The candle step as Dagster runs it (real `materialize`, the code location as built for tests) against a
loopback Birdeye: a day whose every token failed fails the run; a refused key fails it saying what was kept, and
the re-run pays for nothing twice; long waits show in the run log; the journal is an asset of the step; the
consistency check sees negative volumes and open times off the grid."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa
import pytest
from dagster import AssetCheckKey, AssetKey, AssetSelection, DagsterInstance, materialize

from assets.partitions import RANGE_END, RANGE_START
from quantbot_pipelines.schemas import CANDLE_ANSWERS, CANDLE_LEDGER, RAW_CANDLES, TELEGRAM_CALLS
from resources import CandleSourceResource
from tests.candles.fake_market import FakeMarket
from tests.support.pipeline import make_definitions, make_resources

KEY = "test-key-SECRET-123"
DAY = dt.date(2025, 3, 1)
T0 = int(dt.datetime(2025, 3, 1, 12, 0, 30, tzinfo=dt.UTC).timestamp())
STEP = [RAW_CANDLES.name, CANDLE_LEDGER.name, CANDLE_ANSWERS.name]


@pytest.fixture
def market():
    with FakeMarket(keys=(KEY,)) as m:
        yield m


def setup(tmp_path, market, tokens: list[str], **source) -> dict:
    resources = make_resources(tmp_path, strategies=False)
    resources["candle_source"] = CandleSourceResource(
        kind="birdeye", birdeye_base_url=market.url, birdeye_api_keys=KEY, birdeye_requests_per_second=1000.0,
        max_attempts=2, backoff_base_s=0.01, backoff_max_s=0.02, **source)
    rows = [{"day": DAY, "chat_id": "c", "message_id": i, "call_ts": dt.datetime.fromtimestamp(T0 + i, dt.UTC),
             "chain": "solana", "address": a, "first_call": True, "repeat": False, "edited": False}
            for i, a in enumerate(tokens)]
    resources["warehouse"].get().write_partition(TELEGRAM_CALLS, {"day": DAY},
                                                 TELEGRAM_CALLS.conform(pa.Table.from_pylist(rows)))
    return resources


def run(resources, instance, selection=STEP):
    return materialize(list(make_definitions(resources).assets), selection=selection, partition_key=DAY.isoformat(),
                       resources=resources, instance=instance, raise_on_error=False)


def failure(result) -> str:
    (event,) = result.get_step_failure_events()
    data = event.step_failure_data
    return (data.user_failure_data.description if data.user_failure_data else "") + data.error.message


def test_a_day_whose_every_token_failed_fails_the_run(tmp_path, market):
    market.faults["Tdown1"] = ["503"] * 2
    market.faults["Tdown2"] = ["503"] * 2
    resources = setup(tmp_path, market, ["Tdown1", "Tdown2"])
    with DagsterInstance.ephemeral() as instance:
        result = run(resources, instance)
        assert not result.success
        msg = failure(result)
        assert "every token asked of birdeye failed (2 of 2): 2 x HTTP 503 after 2 attempts" in msg
        assert KEY not in msg
        assert instance.fetch_materializations(AssetKey(RAW_CANDLES.name), limit=10).records == []
    # what was learnt is written: the error rows are asked again next run
    ledger = resources["warehouse"].get().read(CANDLE_LEDGER)
    assert sorted(ledger["status"]) == ["error", "error"]


def test_a_day_with_some_tokens_answered_succeeds(tmp_path, market):
    market.faults["Tdown"] = ["503"] * 2
    resources = setup(tmp_path, market, ["Tdown", "Tfine"])
    with DagsterInstance.ephemeral() as instance:
        result = run(resources, instance)
        assert result.success
        (meta,) = [m.metadata for m in result.asset_materializations_for_node(RAW_CANDLES.name)
                   if m.asset_key == AssetKey(RAW_CANDLES.name)]
        assert meta["errors"].value == 1 and meta["invalid_candles"].value == {}


def test_a_refused_key_fails_saying_what_was_kept_and_the_rerun_pays_nothing_twice(tmp_path, market):
    tokens = [f"Tok{i}" for i in range(6)]
    market.revoke_after = 3
    resources = setup(tmp_path, market, tokens, max_concurrency=1)
    with DagsterInstance.ephemeral() as instance:
        result = run(resources, instance)
        assert not result.success
        msg = failure(result)
        assert "rejected the API key (HTTP 401) for key #1 of 1" in msg and KEY not in msg
        assert "The 3 answers that came before are kept in candle_answers" in msg
        market.revoke_after, market.keys = None, {KEY}
        result = run(resources, instance)
        assert result.success
        metas = {m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node(
            RAW_CANDLES.name)}
        assert metas[CANDLE_ANSWERS.name]["answers_recovered"].value == 3
        assert metas[CANDLE_ANSWERS.name]["run_answers_pending"].value == 0
        assert metas[RAW_CANDLES.name]["requests"].value == 3 and metas[RAW_CANDLES.name]["answers_recovered"].value == 3
    asked = [(r["params"]["address"], r["params"]["time_from"]) for r in market.ohlcv_requests()]
    assert len(asked) == len(set(asked)) + 1 == len(tokens) + 1
    wh = resources["warehouse"].get()
    assert wh.partitions(CANDLE_ANSWERS) == [] and sorted(set(wh.read(CANDLE_LEDGER)["status"])) == ["ok"]


def test_long_waits_reach_the_run_log(tmp_path, market):
    market.faults["Tslow"] = ["429:1000000"]
    resources = setup(tmp_path, market, ["Tslow"], warn_wait_s=0.2, retry_after_cap_s=0.5)
    with DagsterInstance.ephemeral() as instance:
        result = run(resources, instance)
        assert result.success
        logs = [e for e in instance.all_logs(result.run_id) if e.user_message]
        warned = [e.user_message for e in logs if e.level >= 30 and "Retry-After" in e.user_message]
        assert warned and "capped to 0.5 s; waiting 0.5 s before attempt 2 of 2" in warned[0], warned
        assert not any(KEY in e.user_message for e in logs)


def test_the_journal_is_an_asset_of_the_candle_step(tmp_path, market):
    resources = setup(tmp_path, market, ["Tok"])
    graph = make_definitions(resources).resolve_asset_graph()
    node = graph.get(AssetKey(CANDLE_ANSWERS.name))
    assert node.group_name == "candles" and "journal of answers paid for" in node.description
    (step,) = [a for a in make_definitions(resources).assets if AssetKey(RAW_CANDLES.name) in getattr(a, "keys", ())]
    assert set(step.keys) == {AssetKey(n) for n in STEP}  # one step writes the three
    with DagsterInstance.ephemeral() as instance:
        assert run(resources, instance, selection=[RAW_CANDLES.name, CANDLE_LEDGER.name]).success  # as before
        alone = run(resources, instance, selection=[RAW_CANDLES.name])
        assert not alone.success and "are written together by one step" in failure(alone)


def test_the_consistency_check_sees_volume_and_the_grid(tmp_path):
    resources = make_resources(tmp_path, strategies=False)
    wh = resources["warehouse"].get()
    ts = [dt.datetime(2025, 3, 1, 10, m, s, tzinfo=dt.UTC) for m, s in ((0, 0), (1, 0), (2, 7))]
    good = {"day": [DAY] * 3, "chain": ["solana"] * 3, "address": ["Tok"] * 3, "interval": ["1m"] * 3,
            "open_ts": ts, "open": [1.0] * 3, "high": [1.2] * 3, "low": [0.9] * 3, "close": [1.1] * 3,
            "source": ["birdeye"] * 3}
    wh.write_partition(RAW_CANDLES, {"day": DAY}, pl.DataFrame(good | {"volume_usd": [1.0, -2.0, 3.0]}))
    defs = make_definitions(resources)
    check = AssetCheckKey(AssetKey(RAW_CANDLES.name), "candles_consistent")
    result = materialize([*defs.assets, *defs.asset_checks], selection=AssetSelection.checks(check),
                         tags={RANGE_START: DAY.isoformat(), RANGE_END: DAY.isoformat()}, resources=resources,
                         instance=DagsterInstance.ephemeral(), raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    problems = evaluation.metadata["problems"].value
    assert problems["negative_volume"] == 1 and problems["open_ts_off_grid"] == 1
    assert sum(problems.values()) == 2
