"""Sensors and the schedule, evaluated with build_sensor_context / build_schedule_context on a real instance;
the runs they request are executed with `materialize` on that instance, so each wave is followed for real."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import polars as pl
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    RunsFilter,
    build_schedule_context,
    build_sensor_context,
    materialize,
)

from assets.partitions import RANGE_END, RANGE_START, strategy_files, telegram_exports_partitions
from assets.waves import EXPORT, STRATEGY, WAVE
from tests.support.pipeline import INTERVALS, make_definitions, make_resources
from tests.telegram.conftest import DCAP, FIN, GRC, PUMP

DAY_STAGE = sorted(["telegram_calls", "raw_candles", "candle_ledger", "candle_answers", "token_analytics",
                    "caller_leaderboard", "caller_boards", "token_leaderboard",
                    *(f"aggregated_candles/{i}" for i in INTERVALS)])
SIMULATION_STAGE = ["caller_strategy_leaderboard", "intrabar_answers", "intrabar_candles", "intrabar_ledger",
                    "portfolio_books", "portfolio_equity", "portfolio_results", "simulation_results",
                    "strategy_leaderboard"]
QUANTBOT_TAGS = (EXPORT, STRATEGY, WAVE)


def _tick(sensor, instance, resources, cursor):
    context = build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = sensor(context)
    return result, result.cursor


def _follow(defs, instance, cursor):
    """One tick of the follow-through sensor as the daemon runs it (its requests resolved against its jobs)."""
    sensor = defs.get_sensor_def("follow_through_sensor")
    data = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                                     resources=defs.resources))
    return list(data.run_requests or []), data.cursor


def _apply_partition_requests(instance, result) -> None:
    for req in result.dynamic_partitions_requests or []:
        if type(req).__name__ == "AddDynamicPartitionsRequest":
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        else:
            for key in req.partition_keys:
                instance.delete_dynamic_partition(req.partitions_def_name, key)


def _assets_of(request) -> list[str]:
    if request.asset_selection:
        return sorted(k.to_user_string() for k in request.asset_selection)
    return {"stage_telegram_export": ["pair_tokens", "telegram_quarantine", "telegram_staged_calls"]}[
        request.job_name]


def _sensor(resources, name: str):
    return make_definitions(resources).get_sensor_def(name)


def _execute(instance, resources, request, defs=None) -> str:
    result = materialize(list((defs or make_definitions(resources)).assets), selection=_assets_of(request),
                         partition_key=request.partition_key, tags=dict(request.tags), instance=instance,
                         resources=resources)
    return result.run_id


def _quantbot(tags) -> dict:
    return {k: v for k, v in tags.items() if k in QUANTBOT_TAGS}


def _write_export(folder, calls: list[tuple[str, str]], chat_id: int = 4242) -> None:
    """A small JSON export: one call per (UTC day, Solana address), at noon."""
    msgs = []
    for i, (day, address) in enumerate(calls):
        ts = int(dt.datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp())
        msgs.append({"id": i + 1, "type": "message", "date": f"{day}T12:00:00", "date_unixtime": str(ts),
                     "from": "Mia", "from_id": "user77", "text": f"aping {address}"})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps({"name": "Waves", "type": "public_supergroup", "id": chat_id,
                                                    "messages": msgs}))


# four calls on days 1, 2, 5 and 9 of September: three runs of consecutive days, one range
CALLS = [("2025-09-01", DCAP), ("2025-09-02", PUMP), ("2025-09-05", FIN), ("2025-09-09", GRC)]


def _repo_strategy(name: str):
    from resources.settings import REPO_ROOT

    return REPO_ROOT / "strategies" / name


def _wave_setup(tmp_path, env=None):
    resources = make_resources(tmp_path, strategies=False)
    shutil.copy(_repo_strategy("quick_2x.yaml"), resources["strategies"].path / "quick_2x.yaml")
    _write_export(resources["telegram_inbox"].path / "waves", CALLS)
    defs = make_definitions(resources, env)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(strategy_files.name, ["quick_2x"])
    return resources, defs, instance


def test_an_export_is_one_wave_of_three_tagged_runs(tmp_path):
    resources, defs, instance = _wave_setup(tmp_path)
    inbox = defs.get_sensor_def("telegram_inbox_sensor")
    _, follow_cursor = _follow(defs, instance, None)  # a fresh sensor starts after what the instance has

    # 1. the inbox: one staging run, tagged with the export and a wave id
    result, cursor = _tick(inbox, instance, resources, None)
    assert len(result.run_requests) == 1
    staging = result.run_requests[0]
    export = staging.partition_key
    tags = _quantbot(staging.tags)
    assert tags[EXPORT] == export and len(tags[WAVE]) == 12
    _apply_partition_requests(instance, result)
    _execute(instance, resources, staging, defs)

    # 2. one run over [first, last] affected day, although the days fall in three runs of consecutive days
    requests, follow_cursor = _follow(defs, instance, follow_cursor)
    assert len(requests) == 1
    days = requests[0]
    assert (days.job_name, _assets_of(days)) == ("derive_call_days", DAY_STAGE)
    assert (days.tags[RANGE_START], days.tags[RANGE_END]) == ("2025-09-01", "2025-09-09")
    assert _quantbot(days.tags) == tags
    day_run = _execute(instance, resources, days, defs)
    assert sorted(resources["warehouse"].get().read("telegram_calls").get_column("day").cast(str).unique()) == \
        [d for d, _ in CALLS]
    # the unpartitioned boards were materialized in that same run
    for board in ("caller_leaderboard", "token_leaderboard"):
        assert instance.fetch_materializations(AssetKey(board), limit=1).records[0].run_id == day_run

    # 3. after the day run: exactly one simulation run, every day x every strategy file, same tags
    requests, follow_cursor = _follow(defs, instance, follow_cursor)
    assert len(requests) == 1
    simulation = requests[0]
    assert (simulation.job_name, _assets_of(simulation)) == ("simulate_strategies", SIMULATION_STAGE)
    assert (simulation.tags[RANGE_START], simulation.tags[RANGE_END]) == ("2025-09-01|quick_2x", "2025-09-09|quick_2x")
    assert _quantbot(simulation.tags) == tags
    _execute(instance, resources, simulation, defs)

    # 4. the wave is over: nothing downstream is left, the inbox has nothing new
    requests, follow_cursor = _follow(defs, instance, follow_cursor)
    assert requests == []
    result, cursor = _tick(inbox, instance, resources, cursor)
    assert result.run_requests == []
    runs = instance.get_runs(RunsFilter(tags={WAVE: tags[WAVE]}))
    assert len(runs) == 3 and all(r.tags[EXPORT] == export for r in runs)

    # the same export dropped again under another name: staged, but no day changes, so no day run
    shutil.copytree(resources["telegram_inbox"].path / "waves", resources["telegram_inbox"].path / "waves_copy")
    result, cursor = _tick(inbox, instance, resources, cursor)
    assert len(result.run_requests) == 1
    _apply_partition_requests(instance, result)
    _execute(instance, resources, result.run_requests[0], defs)
    requests, follow_cursor = _follow(defs, instance, follow_cursor)
    assert requests == []


def test_follow_through_takes_runs_started_by_hand_downstream(tmp_path):
    resources, defs, instance = _wave_setup(tmp_path)
    from quantbot_pipelines.telegram.staging import inbox_exports

    _, follow_cursor = _follow(defs, instance, None)
    (export,) = inbox_exports(resources["telegram_inbox"].path)
    instance.add_dynamic_partitions(telegram_exports_partitions.name, [export])

    # staged by hand (no tags): the day run follows, as a wave of its own named by the export
    staged = materialize(list(defs.assets), selection=["telegram_staged_calls", "telegram_quarantine", "pair_tokens"],
                         partition_key=export, instance=instance, resources=resources)
    (days,), follow_cursor = _follow(defs, instance, follow_cursor)
    assert _quantbot(days.tags)[EXPORT] == export and days.tags[WAVE]
    assert days.run_key == f"follow:{staged.run_id}"

    # telegram_calls backfilled by hand over a range: the rest of the day stage follows over that range
    calls = materialize(list(defs.assets), selection=["telegram_calls"], instance=instance, resources=resources,
                        tags={RANGE_START: "2025-09-02", RANGE_END: "2025-09-05"})
    (rest,), follow_cursor = _follow(defs, instance, follow_cursor)
    assert _assets_of(rest) == [a for a in DAY_STAGE if a != "telegram_calls"]
    assert (rest.tags[RANGE_START], rest.tags[RANGE_END]) == ("2025-09-02", "2025-09-05")
    assert EXPORT not in rest.tags and rest.tags[WAVE] not in (days.tags[WAVE], "")
    assert rest.run_key == f"follow:{calls.run_id}"

    # simulation_results by hand: only the strategy boards are left
    materialize(list(defs.assets), selection=["simulation_results"], instance=instance, resources=resources,
                tags={RANGE_START: "2025-09-02|quick_2x", RANGE_END: "2025-09-02|quick_2x"})
    (boards,), follow_cursor = _follow(defs, instance, follow_cursor)
    assert _assets_of(boards) == ["caller_strategy_leaderboard", "portfolio_books", "portfolio_equity", "portfolio_results",
                                  "strategy_leaderboard"]
    assert RANGE_START not in boards.tags


def test_a_simulation_run_is_followed_by_the_walk_forward_folds_its_days_touch(tmp_path):
    """Calls from 09-01 to 09-20 make one fold (train 14 days, test 09-15..09-21): simulating 09-20 asks for
    that fold, with the boards still left, after adding its partition; the fold then runs."""
    from assets.partitions import walk_forward_folds

    resources, defs, instance = _wave_setup(tmp_path)
    _write_export(resources["telegram_inbox"].path / "waves", CALLS + [("2025-09-20", DCAP)])
    from quantbot_pipelines.telegram.staging import inbox_exports

    (export,) = inbox_exports(resources["telegram_inbox"].path)
    instance.add_dynamic_partitions(telegram_exports_partitions.name, [export])
    _, follow_cursor = _follow(defs, instance, None)
    materialize(list(defs.assets), selection=["telegram_staged_calls", "telegram_quarantine", "pair_tokens"],
                partition_key=export, instance=instance, resources=resources)
    materialize(list(defs.assets), selection=["telegram_calls"], instance=instance, resources=resources,
                tags={RANGE_START: "2025-09-01", RANGE_END: "2025-09-20"})
    _, follow_cursor = _follow(defs, instance, follow_cursor)  # (the rest of the day stage: not run here)
    materialize(list(defs.assets), selection=["simulation_results"], instance=instance, resources=resources,
                tags={RANGE_START: "2025-09-20|quick_2x", RANGE_END: "2025-09-20|quick_2x"})
    sensor = defs.get_sensor_def("follow_through_sensor")
    data = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=follow_cursor, definitions=defs,
                                                     resources=defs.resources))
    (request,) = data.run_requests
    assert request.job_name == "validate_walk_forward"
    assert {"walk_forward", "walk_forward_trades", "walk_forward_summary", "strategy_leaderboard"} <= set(
        _assets_of(request))
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2025-09-15..2025-09-21",) * 2
    (added,) = data.dynamic_partitions_requests
    assert added.partitions_def_name == walk_forward_folds.name
    assert list(added.partition_keys) == ["2025-09-15..2025-09-21"]
    _apply_partition_requests(instance, data)
    _execute(instance, resources, request, defs)
    rows = resources["warehouse"].get().read("walk_forward")
    assert rows.get_column("fold").unique().to_list() == ["2025-09-15..2025-09-21"]
    assert sorted(rows.get_column("policy").to_list()) == ["per_caller", "top_callers"]
    requests, _ = _follow(defs, instance, data.cursor)
    assert requests == []  # nothing is downstream of the folds' summary


def test_days_outside_the_day_partitions_are_never_requested(tmp_path, capfd):
    # the day partitions start on 2025-09-03: the calls of the 1st and 2nd are left out, and named
    resources, defs, instance = _wave_setup(tmp_path, env={"QUANTBOT_START_DATE": "2025-09-03"})
    _, follow_cursor = _follow(defs, instance, None)
    result, _ = _tick(defs.get_sensor_def("telegram_inbox_sensor"), instance, resources, None)
    _apply_partition_requests(instance, result)
    _execute(instance, resources, result.run_requests[0], defs)
    (days,), _ = _follow(defs, instance, follow_cursor)
    assert (days.tags[RANGE_START], days.tags[RANGE_END]) == ("2025-09-05", "2025-09-09")
    warnings = [line for line in capfd.readouterr().err.splitlines() if "outside the day partitions" in line]
    assert warnings and "2025-09-01..2025-09-02" in warnings[0]


@pytest.fixture(scope="module")
def demo_instance(tmp_path_factory):
    """A small sample through `materialize_pipeline`, as `make demo` leaves the instance."""
    from assets.runner import materialize_pipeline
    from quantbot_pipelines.sample import SampleSpec, write_sample_inbox

    root = tmp_path_factory.mktemp("demo")
    resources = make_resources(root, strategies=False)
    for name in ("quick_2x.yaml", "trailing_30.yaml"):
        shutil.copy(_repo_strategy(name), resources["strategies"].path / name)
    write_sample_inbox(resources["telegram_inbox"].path,
                       SampleSpec(end=dt.date(2025, 9, 20), tokens=24))
    defs = make_definitions(resources)
    instance = DagsterInstance.ephemeral()
    materialize_pipeline(instance, defs, log=lambda _: None)
    yield resources, defs, instance
    instance.dispose()


def test_fresh_inbox_and_follow_sensors_request_nothing_the_instance_has(demo_instance):
    resources, defs, instance = demo_instance
    runs = len(instance.get_runs())
    result, inbox_cursor = _tick(defs.get_sensor_def("telegram_inbox_sensor"), instance, resources, None)
    assert result.run_requests == [] and not result.dynamic_partitions_requests
    requests, cursor = _follow(defs, instance, None)
    assert requests == []
    requests, _ = _follow(defs, instance, cursor)
    assert requests == []
    assert len(instance.get_runs()) == runs
    # not for want of exports: one that grew since is staged again, and only that one
    grown = min(resources["telegram_inbox"].path.glob("*/result.json"))
    grown.write_bytes(grown.read_bytes() + b" ")
    result, _ = _tick(defs.get_sensor_def("telegram_inbox_sensor"), instance, resources, inbox_cursor)
    assert [r.tags[EXPORT] for r in result.run_requests] == [f"{grown.parent.name}--result.json"]


def test_fresh_strategies_sensor_requests_nothing_the_instance_has(demo_instance):
    resources, defs, instance = demo_instance
    sensor = defs.get_sensor_def("strategies_sensor")
    result, cursor = _tick(sensor, instance, resources, None)
    assert result.run_requests == [] and not result.dynamic_partitions_requests
    # not for want of days or files: a file changed since is requested, and only that one
    changed = resources["strategies"].path / "trailing_30.yaml"
    changed.write_text(changed.read_text() + "\n# tweaked\n")
    result, _ = _tick(sensor, instance, resources, cursor)
    assert [r.tags[STRATEGY] for r in result.run_requests] == ["trailing_30"]


def test_strategies_sensor_follows_the_folder(tmp_path):
    from quantbot_pipelines.schemas import TELEGRAM_CALLS

    resources = make_resources(tmp_path)
    strategies_sensor = _sensor(resources, "strategies_sensor")
    wh = resources["warehouse"].get()
    for day in ("2025-09-01", "2025-09-02"):
        wh.write_partition(TELEGRAM_CALLS, {"day": dt.date.fromisoformat(day)}, pl.from_arrow(TELEGRAM_CALLS.empty()))
    folder = resources["strategies"].path
    stems = sorted(resources["strategies"].files())
    assert stems, "strategies/ ships strategy files"
    instance = DagsterInstance.ephemeral()

    result, cursor = _tick(strategies_sensor, instance, resources, None)
    _apply_partition_requests(instance, result)
    assert sorted(instance.get_dynamic_partitions(strategy_files.name)) == stems
    assert {r.tags[RANGE_START] for r in result.run_requests} == {f"2025-09-01|{s}" for s in stems}
    assert {r.tags[RANGE_END] for r in result.run_requests} == {f"2025-09-02|{s}" for s in stems}
    # one run per file, its whole wave: the simulations and the strategy boards, tagged with the file
    assert all(r.job_name == "simulate_strategies" and _assets_of(r) == SIMULATION_STAGE
               for r in result.run_requests)
    assert sorted(r.tags[STRATEGY] for r in result.run_requests) == stems
    waves = {r.tags[WAVE] for r in result.run_requests}
    assert len(waves) == len(stems)

    result, cursor = _tick(strategies_sensor, instance, resources, cursor)
    assert result.run_requests == [] and not result.dynamic_partitions_requests

    # changed file: re-requested; removed file: partition removed; broken file: skipped with a warning
    changed = folder / f"{stems[0]}.yaml"
    changed.write_text(changed.read_text() + "\n# tweaked\n")
    (folder / f"{stems[-1]}.yaml").unlink()
    (folder / "broken.yaml").write_text("name: [unclosed\n")
    result, cursor = _tick(strategies_sensor, instance, resources, cursor)
    assert [r.tags[RANGE_START] for r in result.run_requests] == [f"2025-09-01|{stems[0]}"]
    assert result.run_requests[0].tags[WAVE] not in waves  # a new version is a new wave
    _apply_partition_requests(instance, result)
    assert stems[-1] not in instance.get_dynamic_partitions(strategy_files.name)
    assert "broken" not in instance.get_dynamic_partitions(strategy_files.name)


def test_refresh_schedule_requests_only_incomplete_days(tmp_path):
    from assets.candles.schedules import refresh_incomplete_windows
    from quantbot_pipelines.schemas import TOKEN_ANALYTICS

    resources = make_resources(tmp_path, strategies=False)
    wh = resources["warehouse"].get()
    context = build_schedule_context(instance=DagsterInstance.ephemeral(), resources=resources,
                                     repository_def=make_definitions(resources).get_repository_def(),
                                     scheduled_execution_time=dt.datetime(2025, 10, 13, 1, tzinfo=dt.UTC))
    assert refresh_incomplete_windows.evaluate_tick(context).skip_message

    schema = pl.from_arrow(TOKEN_ANALYTICS.empty()).schema
    for day, complete in (("2025-10-09", True), ("2025-10-10", False), ("2025-10-11", False), ("2025-10-12", False)):
        d = dt.date.fromisoformat(day)
        row = pl.DataFrame([{"day": d, "chat_id": "c", "message_id": 1, "chain": "solana", "address": "A",
                             "call_ts": dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC), "status": "ok",
                             "window_complete": complete}], schema=schema)
        wh.write_partition(TOKEN_ANALYTICS, {"day": d}, row)
    wh.write_partition(TOKEN_ANALYTICS, {"day": dt.date(2025, 10, 11)}, pl.DataFrame(schema=schema))
    data = refresh_incomplete_windows.evaluate_tick(context)
    # one run over the range (the complete 11th in between costs no request: its windows are in the ledger),
    # through the candle step and every day stage after it; the simulations follow it as the wave's next run
    (request,) = data.run_requests
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2025-10-10", "2025-10-12")
    assert _assets_of(request) == [a for a in DAY_STAGE if a != "telegram_calls"]
    assert request.tags["quantbot/refresh"] == "2025-10-13" and request.tags[WAVE]


# ---- a bad strategy file costs only itself; the inbox says when it is not there ------------------------------

def _alias_bomb() -> str:
    lines = ["description:", "  - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, anchor in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"  - &{anchor} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join([*lines, "sweep:", "  take_profit: [*i]"]) + "\n"


def _write_bad(folder, kind: str) -> None:
    bad = folder / "bad.yaml"
    if kind == "latin1":
        bad.write_bytes("name: caf\xe9\nstop_loss: 0.5\n".encode("latin-1"))
    elif kind == "directory":
        bad.mkdir()
    elif kind == "alias_bomb":
        bad.write_text(_alias_bomb())
    elif kind == "oversized":
        bad.write_text("stop_loss: 0.5\ndescription: " + "x" * 300_000 + "\n")
    elif kind == "over_cap":  # 10 x 10 variants, the folder's cap is 50
        values = ", ".join(str(i) for i in range(10))
        bad.write_text(f"sweep:\n  fee_bps: [{values}]\n  slippage_bps: [{values}]\n")


@pytest.mark.parametrize("kind", ["latin1", "directory", "alias_bomb", "oversized", "over_cap"])
def test_one_bad_strategy_file_never_stops_the_others(tmp_path, capfd, kind):
    import signal

    from quantbot_pipelines.schemas import TELEGRAM_CALLS
    from resources import StrategyFolderResource

    resources = make_resources(tmp_path, strategies=False)
    folder = resources["strategies"].path
    resources["strategies"] = StrategyFolderResource(folder=str(folder), max_variants=50)
    resources["warehouse"].get().write_partition(TELEGRAM_CALLS, {"day": dt.date(2025, 9, 1)},
                                                 pl.from_arrow(TELEGRAM_CALLS.empty()))
    (folder / "good.yaml").write_text("stop_loss: 0.5\n")
    _write_bad(folder, kind)
    instance = DagsterInstance.ephemeral()

    def hung(signum, frame):
        raise TimeoutError("the strategies sensor tick is still running after 10 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, 10)
    try:
        result, _ = _tick(_sensor(resources, "strategies_sensor"), instance, resources, None)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    _apply_partition_requests(instance, result)
    assert instance.get_dynamic_partitions(strategy_files.name) == ["good"]
    assert [r.tags[RANGE_START] for r in result.run_requests] == ["2025-09-01|good"]
    # the sensor's log (the tick's log in the UI) names the file it skipped, with the reason
    warnings = [line for line in capfd.readouterr().err.splitlines() if "WARNING" in line and "bad.yaml" in line]
    assert warnings, "the skipped file is named in a warning"


def test_inbox_sensor_reports_a_missing_inbox_and_picks_up_once_it_appears(tmp_path):
    from quantbot_pipelines.sample import write_sample_inbox

    resources = make_resources(tmp_path / "run", strategies=False)
    inbox = resources["telegram_inbox"].path
    inbox.rmdir()
    sensor = _sensor(resources, "telegram_inbox_sensor")
    instance = DagsterInstance.ephemeral()

    result, cursor = _tick(sensor, instance, resources, None)
    assert result.skip_reason and str(inbox) in result.skip_reason.skip_message
    assert "does not exist" in result.skip_reason.skip_message

    write_sample_inbox(tmp_path / "sample")
    first = min((tmp_path / "sample").iterdir())
    shutil.copytree(first, inbox / first.name)
    result, cursor = _tick(sensor, instance, resources, cursor)
    assert len(result.run_requests) == 1 and not result.skip_reason


def test_inbox_sensor_reports_a_file_given_as_the_inbox(tmp_path):
    resources = make_resources(tmp_path / "run", strategies=False)
    inbox = resources["telegram_inbox"].path
    inbox.rmdir()
    inbox.write_text("{}")  # e.g. QUANTBOT_INBOX pointed at one result.json
    result, _ = _tick(_sensor(resources, "telegram_inbox_sensor"), DagsterInstance.ephemeral(), resources, None)
    assert result.skip_reason and str(inbox) in result.skip_reason.skip_message
    assert "not a folder" in result.skip_reason.skip_message


def test_strategies_sensor_leaves_a_version_whose_run_is_launched_elsewhere(tmp_path):
    """The bot writes a file and launches its wave itself: the sensor, ticking meanwhile, requests no second
    run of that version (a changed version is requested as ever)."""
    import os

    from dagster import DagsterRun, DagsterRunStatus

    from assets.simulation.sensors import LAUNCHING, LAUNCHING_MAX_AGE_S
    from assets.waves import wave_id
    from quantbot_pipelines.schemas import TELEGRAM_CALLS
    from quantbot_pipelines.simulation import strategy_file_fingerprint

    resources = make_resources(tmp_path, strategies=False)
    wh = resources["warehouse"].get()
    wh.write_partition(TELEGRAM_CALLS, {"day": dt.date(2025, 9, 1)}, pl.from_arrow(TELEGRAM_CALLS.empty()))
    folder = resources["strategies"].path
    sensor = _sensor(resources, "strategies_sensor")
    instance = DagsterInstance.ephemeral()
    shutil.copy(_repo_strategy("quick_2x.yaml"), folder / "quick_2x.yaml")
    result, cursor = _tick(sensor, instance, resources, None)
    _apply_partition_requests(instance, result)

    # 1. while the launcher's marker is there the new file waits, and is looked at again on the next tick
    path = folder / "bot_2x.yaml"
    path.write_text(_repo_strategy("quick_2x.yaml").read_text().replace("name: quick_2x", "name: bot_2x"))
    marker = folder / LAUNCHING.format(stem="bot_2x")
    marker.touch()
    result, cursor = _tick(sensor, instance, resources, cursor)
    assert result.run_requests == [] and "bot_2x" not in json.loads(cursor)

    # 2. marker gone, the launcher's run of this version under way: nothing requested, the version is seen
    marker.unlink()
    instance.add_dynamic_partitions(strategy_files.name, ["bot_2x"])
    seed = f"strategy:bot_2x:{strategy_file_fingerprint(path)}"
    run = instance.add_run(DagsterRun(job_name="simulate_strategies", status=DagsterRunStatus.STARTED,
                                      tags={STRATEGY: "bot_2x", WAVE: wave_id(seed)}))
    result, cursor = _tick(sensor, instance, resources, cursor)
    assert result.run_requests == [] and not result.dynamic_partitions_requests
    result, cursor = _tick(sensor, instance, resources, cursor)
    assert result.run_requests == []

    # 3. a run of another version does not hold a changed file back; nor does a stale marker
    instance.report_run_canceled(run)
    path.write_text(path.read_text() + "\n# tweaked\n")
    marker.touch()
    stale = marker.stat().st_mtime - LAUNCHING_MAX_AGE_S - 1
    os.utime(marker, (stale, stale))
    result, cursor = _tick(sensor, instance, resources, cursor)
    assert [r.tags[STRATEGY] for r in result.run_requests] == ["bot_2x"]
    assert result.run_requests[0].tags[WAVE] == wave_id(f"strategy:bot_2x:{strategy_file_fingerprint(path)}")
