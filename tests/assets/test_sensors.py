"""Sensors and the schedule, evaluated with build_sensor_context / build_schedule_context on a real instance."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest
from dagster import DagsterInstance, build_schedule_context, build_sensor_context, materialize

from assets.partitions import RANGE_END, RANGE_START, strategy_files, telegram_exports_partitions
from tests.support.pipeline import make_definitions, make_resources


def _tick(sensor, instance, resources, cursor):
    context = build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = sensor(context)
    return result, result.cursor


def _apply_partition_requests(instance, result) -> None:
    for req in result.dynamic_partitions_requests or []:
        if type(req).__name__ == "AddDynamicPartitionsRequest":
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        else:
            for key in req.partition_keys:
                instance.delete_dynamic_partition(req.partitions_def_name, key)


def _assets_of(request) -> list[str]:
    if request.asset_selection:
        return [k.to_user_string() for k in request.asset_selection]
    return {"stage_telegram_export": ["telegram_staged_calls", "telegram_quarantine", "pair_tokens"],
            "derive_telegram_calls": ["telegram_calls"]}[
        request.job_name]


def _sensor(resources, name: str):
    return make_definitions(resources).get_sensor_def(name)


def _execute(instance, resources, request) -> None:
    keys = _assets_of(request)
    materialize(list(make_definitions(resources).assets), selection=keys, partition_key=request.partition_key,
                tags=dict(request.tags), instance=instance, resources=resources)


def test_inbox_sensor_requests_exactly_the_touched_days(tmp_path):
    from quantbot_pipelines.sample import write_sample_inbox

    sample = tmp_path / "sample"
    write_sample_inbox(sample)
    resources = make_resources(tmp_path / "run", strategies=False)
    telegram_inbox_sensor = _sensor(resources, "telegram_inbox_sensor")
    inbox = tmp_path / "run" / "inbox"
    instance = DagsterInstance.ephemeral()
    first, *others = sorted(p for p in sample.iterdir())
    shutil.copytree(first, inbox / first.name)

    # tick 1: the new export is registered and parsed once
    result, cursor = _tick(telegram_inbox_sensor, instance, resources, None)
    assert len(result.run_requests) == 1
    _apply_partition_requests(instance, result)
    assert len(instance.get_dynamic_partitions(telegram_exports_partitions.name)) == 1
    _execute(instance, resources, result.run_requests[0])

    # tick 2: the export's materialization names its days; one run per run of consecutive days
    result, cursor = _tick(telegram_inbox_sensor, instance, resources, cursor)
    days = {str(d) for d in resources["warehouse"].get().read("telegram_staged_calls").get_column("day")}
    covered = set()
    for req in result.run_requests:
        assert _assets_of(req) == ["telegram_calls"]
        start, end = dt.date.fromisoformat(req.tags[RANGE_START]), dt.date.fromisoformat(req.tags[RANGE_END])
        covered |= {str(start + dt.timedelta(days=i)) for i in range((end - start).days + 1)}
    assert covered == days
    for req in result.run_requests:
        _execute(instance, resources, req)

    # tick 3: nothing changed, nothing requested, nothing parsed
    result, cursor = _tick(telegram_inbox_sensor, instance, resources, cursor)
    assert result.run_requests == []

    # a second export: only its own days come back
    shutil.copytree(others[0], inbox / others[0].name)
    result, cursor = _tick(telegram_inbox_sensor, instance, resources, cursor)
    assert len(result.run_requests) == 1 and result.run_requests[0].partition_key != \
        instance.get_dynamic_partitions(telegram_exports_partitions.name)[0]
    _apply_partition_requests(instance, result)
    _execute(instance, resources, result.run_requests[0])
    result, cursor = _tick(telegram_inbox_sensor, instance, resources, cursor)
    assert result.run_requests and all(r.tags.get("quantbot/export") for r in result.run_requests)
    for req in result.run_requests:
        _execute(instance, resources, req)

    # the same export dropped again under another name: staged, but no day changes, so no day runs
    staged_before = resources["warehouse"].get().read("telegram_calls").height
    shutil.copytree(first, inbox / f"copy_of_{first.name}")
    result, cursor = _tick(telegram_inbox_sensor, instance, resources, cursor)
    _apply_partition_requests(instance, result)
    for req in result.run_requests:
        _execute(instance, resources, req)
    result, cursor = _tick(telegram_inbox_sensor, instance, resources, cursor)
    assert result.run_requests == []
    assert resources["warehouse"].get().read("telegram_calls").height == staged_before


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

    result, cursor = _tick(strategies_sensor, instance, resources, cursor)
    assert result.run_requests == [] and not result.dynamic_partitions_requests

    # changed file: re-requested; removed file: partition removed; broken file: skipped with a warning
    changed = folder / f"{stems[0]}.yaml"
    changed.write_text(changed.read_text() + "\n# tweaked\n")
    (folder / f"{stems[-1]}.yaml").unlink()
    (folder / "broken.yaml").write_text("name: [unclosed\n")
    result, cursor = _tick(strategies_sensor, instance, resources, cursor)
    assert [r.tags[RANGE_START] for r in result.run_requests] == [f"2025-09-01|{stems[0]}"]
    _apply_partition_requests(instance, result)
    assert stems[-1] not in instance.get_dynamic_partitions(strategy_files.name)
    assert "broken" not in instance.get_dynamic_partitions(strategy_files.name)


def test_refresh_schedule_requests_only_incomplete_days(tmp_path):
    from assets.candles.schedules import refresh_incomplete_windows
    from quantbot_pipelines.schemas import TOKEN_ANALYTICS

    resources = make_resources(tmp_path, strategies=False)
    wh = resources["warehouse"].get()
    context = build_schedule_context(instance=DagsterInstance.ephemeral(), resources=resources,
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
    ranges = [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in data.run_requests]
    assert ranges == [("2025-10-10", "2025-10-10"), ("2025-10-12", "2025-10-12")]
    assert [k.to_user_string() for k in data.run_requests[0].asset_selection] == ["raw_candles", "candle_ledger", "candle_answers"]


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
