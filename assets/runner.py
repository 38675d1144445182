"""Materialize the whole pipeline on one instance: what `make demo`, the tests and the pipeline benchmark run.
The UI does the same through backfills, sensors and automation; this is the scripted path.

The order comes from the asset graph: its levels (an asset's inputs are all on earlier levels), and within a
level one run per partitions definition. Day stages run as one run over the whole day range (the stage assets
use single-run backfill policies), so a year of days costs a handful of runs, not one process per day.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from dagster import (
    AssetKey,
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
)

from assets.partitions import range_tags, strategy_files, telegram_exports_partitions
from quantbot_pipelines.telegram.staging import all_calls, inbox_exports


@dataclass(frozen=True)
class Stage:
    keys: tuple[AssetKey, ...]
    partitions: str  # "exports", "days", "day_x_strategy" or "none"

    @property
    def label(self) -> str:
        # aggregated_candles/5m ... /1d read as one name
        return ", ".join(sorted({k.path[0] for k in self.keys}))


def _kind(pdef) -> str:
    if pdef is None:
        return "none"
    if isinstance(pdef, DynamicPartitionsDefinition) and pdef.name == telegram_exports_partitions.name:
        return "exports"
    if isinstance(pdef, DailyPartitionsDefinition):
        return "days"
    if isinstance(pdef, MultiPartitionsDefinition):
        return "day_x_strategy"
    raise ValueError(f"the runner does not know how to run partitions {pdef}")


def pipeline_stages(defs: Definitions) -> list[Stage]:
    """The runs of one pass over the graph, in order: per level of the graph, one per partitions definition."""
    graph = defs.resolve_asset_graph()
    stages = []
    for level in graph.toposorted_asset_keys_by_level:
        by_kind: dict[str, list[AssetKey]] = {}
        for key in sorted(level, key=lambda k: k.to_user_string()):
            node = graph.get(key)
            if node.is_executable and node.is_materializable:
                by_kind.setdefault(_kind(node.partitions_def), []).append(key)
        stages += [Stage(tuple(keys), kind) for kind, keys in sorted(by_kind.items())]
    return stages


def _add_partitions(instance: DagsterInstance, name: str, keys: list[str]) -> None:
    new = [k for k in keys if not instance.has_dynamic_partition(name, k)]
    for i in range(0, len(new), 500):  # SQLite caps the variables of one statement
        instance.add_dynamic_partitions(name, new[i:i + 500])


def materialize_pipeline(instance: DagsterInstance, defs: Definitions, *, log: Callable[[str], None] = print,
                         console_level: str = "WARNING") -> dict[str, str]:
    """Stage every export in the inbox, then each stage over the days that have calls. Returns run ids by
    stage label."""
    resources = defs.resources
    # one job for the whole graph, resolved once; each stage runs a selection of it (building a job per
    # run costs about a second of graph resolution each time)
    job = defs.resolve_implicit_global_asset_job_def()
    runs: dict[str, str] = {}
    # the instance keeps every event for the UI; the terminal only needs warnings
    quiet = {"loggers": {"console": {"config": {"log_level": console_level}}}}

    def run(label: str, keys, *, partition_key: str | None = None, tags: dict | None = None) -> None:
        started = time.perf_counter()
        result = job.execute_in_process(instance=instance, asset_selection=list(keys), partition_key=partition_key,
                                        tags=tags or {}, raise_on_error=True, run_config=quiet)
        runs[label] = result.run_id
        log(f"  {label:<56} {time.perf_counter() - started:6.1f}s  run {result.run_id[:8]}")

    exports = sorted(inbox_exports(resources["telegram_inbox"].path))
    _add_partitions(instance, telegram_exports_partitions.name, exports)
    stems = sorted(resources["strategies"].files())
    if stems:
        _add_partitions(instance, strategy_files.name, stems)
    days: list[str] = []
    for stage in pipeline_stages(defs):
        if stage.partitions == "exports":
            for key in exports:
                run(f"{stage.label}[{key[:28]}]", stage.keys, partition_key=key)
            continue
        if not days:  # the day range is known once the exports are staged
            days = sorted({str(d) for d in all_calls(resources["warehouse"].get()).get_column("day").to_list()})
            if not days:
                log("  no calls in the inbox's exports: nothing downstream to do")
                return runs
        if stage.partitions == "days":
            run(f"{stage.label} {days[0]}..{days[-1]}", stage.keys, tags=range_tags(days[0], days[-1]))
        elif stage.partitions == "day_x_strategy":
            if stems:
                # a range over a dynamic dimension follows the instance's order of its keys, not sorted order
                ordered = [k for k in instance.get_dynamic_partitions(strategy_files.name) if k in stems]
                run(f"{stage.label} ({len(stems)} files)", stage.keys,
                    tags=range_tags(f"{days[0]}|{ordered[0]}", f"{days[-1]}|{ordered[-1]}"))
        else:
            run(stage.label, stage.keys)
    return runs
