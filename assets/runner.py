"""Materialize the whole pipeline in stage order on one instance: what `make demo`, the tests and the pipeline
benchmark run. The UI does the same through backfills, sensors and automation; this is the scripted path.

Each stage is one run over the full day range (the stage assets use single-run backfill policies), so a
year of days costs a handful of runs, not one process per day.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dagster import AssetKey, DagsterInstance, Definitions

from assets.partitions import RANGE_END, RANGE_START, strategy_files, telegram_exports_partitions
from assets.telegram.sensors import day_ranges
from quantbot_pipelines.telegram.staging import all_calls, inbox_exports


def _definitions():
    import definitions

    return definitions.defs


def _add_partitions(instance: DagsterInstance, name: str, keys: list[str]) -> None:
    new = [k for k in keys if not instance.has_dynamic_partition(name, k)]
    for i in range(0, len(new), 500):  # SQLite caps the variables of one statement
        instance.add_dynamic_partitions(name, new[i:i + 500])


def materialize_pipeline(instance: DagsterInstance, resources: dict, *, intervals: tuple[str, ...],
                         log: Callable[[str], None] = print, console_level: str = "WARNING") -> dict:
    """Stage every export in the inbox, then each stage over the days that have calls. Returns run ids by stage."""
    base = _definitions()
    # one job for the whole graph, resolved once; each stage runs a selection of it (building a job per
    # run costs about a second of graph resolution each time)
    job = Definitions(assets=list(base.assets), asset_checks=list(base.asset_checks),
                      resources=resources).resolve_implicit_global_asset_job_def()
    runs: dict[str, str] = {}
    # the instance keeps every event for the UI; the terminal only needs warnings
    quiet = {"loggers": {"console": {"config": {"log_level": console_level}}}}

    def run(label: str, keys: list[str], *, partition_key: str | None = None, tags: dict | None = None) -> None:
        started = time.perf_counter()
        result = job.execute_in_process(instance=instance, asset_selection=[AssetKey.from_user_string(k)
                                                                            for k in keys],
                                        partition_key=partition_key, tags=tags or {}, raise_on_error=True,
                                        run_config=quiet)
        runs[label] = result.run_id
        log(f"  {label:<40} {time.perf_counter() - started:6.1f}s  run {result.run_id[:8]}")

    exports = inbox_exports(resources["telegram_inbox"].path)
    _add_partitions(instance, telegram_exports_partitions.name, sorted(exports))
    for key in sorted(exports):
        run(f"telegram_exports[{key[:28]}]", ["telegram_exports"], partition_key=key)

    calls = all_calls(resources["warehouse"].get())
    days = sorted({str(d) for d in calls.get_column("day").to_list()})
    if not days:
        log("  no calls in the inbox's exports: nothing downstream to do")
        return runs
    for first, last in day_ranges(days):
        run(f"telegram_calls {first}..{last}", ["telegram_calls"], tags={RANGE_START: first, RANGE_END: last})
    first, last = days[0], days[-1]
    span = {RANGE_START: first, RANGE_END: last}
    run("raw_candles", ["raw_candles"], tags=span)
    run("aggregated_candles", [f"aggregated_candles/{i}" for i in intervals], tags=span)
    run("token_analytics", ["token_analytics"], tags=span)
    run("caller/token leaderboards", ["caller_leaderboard", "token_leaderboard"])

    stems = sorted(resources["strategies"].files())
    if stems:
        _add_partitions(instance, strategy_files.name, stems)
        # a range over a dynamic dimension follows the instance's order of its keys, not sorted order
        ordered = [k for k in instance.get_dynamic_partitions(strategy_files.name) if k in stems]
        run(f"simulation_results ({len(stems)} files)", ["simulation_results"],
            tags={RANGE_START: f"{first}|{ordered[0]}", RANGE_END: f"{last}|{ordered[-1]}"})
        run("strategy leaderboards", ["strategy_leaderboard", "caller_strategy_leaderboard"])
    return runs
