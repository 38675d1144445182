"""Materialize the whole pipeline on one instance: what `make demo`, the tests and the pipeline benchmark run.
The UI does the same through sensors; this is the scripted path, and it runs the very runs of a wave
(assets/waves.py): one staging run per export, then one run over the whole day range through every day stage
and the caller and token boards, then one run of every strategy file over those days with the strategy boards,
then one run of every walk-forward fold with the stitched summary.
A year of days costs a handful of runs, not one process per day.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dagster import AssetKey, DagsterInstance, Definitions

from assets.partitions import (
    fold_changes,
    range_tags,
    strategy_files,
    telegram_exports_partitions,
    walk_forward_folds,
)
from assets.validation import FOLD_PLAN, fold_keys
from assets.waves import DAY_X_STRATEGY, DAYS, EXPORTS, FOLDS, kind, next_stage
from quantbot_pipelines.schemas import WALK_FORWARD
from quantbot_pipelines.telegram.staging import all_calls, inbox_exports
from quantbot_pipelines.validation import FoldPlan


def _label(keys) -> str:
    # aggregated_candles/5m ... /1d read as one name
    return ", ".join(sorted({k.path[0] for k in keys}))


def _add_partitions(instance: DagsterInstance, name: str, keys: list[str]) -> None:
    new = [k for k in keys if not instance.has_dynamic_partition(name, k)]
    for i in range(0, len(new), 500):  # SQLite caps the variables of one statement
        instance.add_dynamic_partitions(name, new[i:i + 500])


def sync_folds(instance: DagsterInstance, planned: list[str]) -> list[str]:
    """Make the instance's fold partitions the planned ones (assets/partitions.py, fold_changes)."""
    add, delete = fold_changes(instance.get_dynamic_partitions(walk_forward_folds.name), planned)
    for key in delete:
        instance.delete_dynamic_partition(walk_forward_folds.name, key)
    _add_partitions(instance, walk_forward_folds.name, add)
    return planned


def materialize_pipeline(instance: DagsterInstance, defs: Definitions, *, log: Callable[[str], None] = print,
                         console_level: str = "WARNING") -> dict[str, str]:
    """Stage every export in the inbox, then the rest of the wave over the days that have calls. Returns run
    ids by run label."""
    resources = defs.resources
    graph = defs.resolve_asset_graph()
    # one job for the whole graph, resolved once; each run executes a selection of it (building a job per
    # run costs about a second of graph resolution each time)
    job = defs.resolve_implicit_global_asset_job_def()
    runs: dict[str, str] = {}
    # the instance keeps every event for the UI; the terminal only needs warnings
    quiet = {"loggers": {"console": {"config": {"log_level": console_level}}}}

    def run(label: str, keys, *, partition_key: str | None = None, tags: dict | None = None) -> None:
        started = time.perf_counter()
        result = job.execute_in_process(instance=instance, asset_selection=sorted(keys), partition_key=partition_key,
                                        tags=tags or {}, raise_on_error=True, run_config=quiet)
        runs[label] = result.run_id
        log(f"  {label:<56} {time.perf_counter() - started:6.1f}s  run {result.run_id[:8]}")

    exports = sorted(inbox_exports(resources["telegram_inbox"].path))
    _add_partitions(instance, telegram_exports_partitions.name, exports)
    stems = sorted(resources["strategies"].files())
    if stems:
        _add_partitions(instance, strategy_files.name, stems)
    staging = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable
               and graph.get(k).is_executable and kind(graph.get(k).partitions_def) == EXPORTS}
    for key in exports:
        run(f"{_label(staging)}[{key[:28]}]", staging, partition_key=key)
    days = sorted({str(d) for d in all_calls(resources["warehouse"].get()).get_column("day").to_list()})
    if not days:
        log("  no calls in the inbox's exports: nothing downstream to do")
        return runs
    done: set[AssetKey] = set(staging)
    while True:
        part_kind, keys = next_stage(graph, done)
        if not keys:
            return runs
        if part_kind == DAYS:
            run(f"{_label(keys)} {days[0]}..{days[-1]}", keys, tags=range_tags(days[0], days[-1]))
        elif part_kind == DAY_X_STRATEGY:
            # a range over a dynamic dimension follows the instance's order of its keys, not sorted order
            ordered = [k for k in instance.get_dynamic_partitions(strategy_files.name) if k in stems]
            if not ordered:  # no strategy file: nothing to simulate, and no board of simulations
                return runs
            run(f"{_label(keys)} ({len(ordered)} files)", keys,
                tags=range_tags(f"{days[0]}|{ordered[0]}", f"{days[-1]}|{ordered[-1]}"))
        elif part_kind == FOLDS:
            plan = FoldPlan(**graph.get(AssetKey(WALK_FORWARD.name)).metadata[FOLD_PLAN].value)
            folds = sync_folds(instance, fold_keys(resources["warehouse"].get(), plan))
            if not folds:
                log(f"  no walk-forward fold yet: the calls span fewer than {plan.train_days} + 1 days")
                return runs
            run(f"{_label(keys)} ({len(folds)} folds)", keys, tags=range_tags(folds[0], folds[-1]))
        else:
            run(_label(keys), keys)
        done |= keys
