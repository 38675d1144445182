"""Keeps the dynamic `strategy` partitions in step with the strategies/ folder.

New file: partition added and its results requested for every call day. Changed file: re-requested.
Removed file: partition removed (its stored rows stay, but leave the leaderboards). One run per file:
the request spans all call days as one 2-D partition range, which the single-run backfill policy honours.
A file that cannot be read or is invalid (not UTF-8, too large, hostile YAML, a sweep past the variant cap)
is skipped with a warning naming it, once per version of the file; the other files go ahead.
"""

import json

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from assets.partitions import range_tags, strategy_files
from quantbot_pipelines.schemas import SIMULATION_RESULTS, TELEGRAM_CALLS
from quantbot_pipelines.simulation import StrategyError, strategy_file_fingerprint
from resources.settings import Settings
from resources.strategies import StrategyFolderResource
from resources.warehouse import WarehouseResource

SIMULATION = AssetKey(SIMULATION_RESULTS.name)


def strategy_requests(context: SensorEvaluationContext, warehouse: WarehouseResource,
                      strategies: StrategyFolderResource) -> SensorResult:
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    files = strategies.files()
    known = set(context.instance.get_dynamic_partitions(strategy_files.name))
    days = sorted(str(p["day"]) for p in warehouse.get().partitions(TELEGRAM_CALLS))

    add, requests, fingerprints = [], [], {}
    for stem, path in files.items():
        try:
            fingerprint = strategy_file_fingerprint(path)
        except OSError as exc:  # a folder named *.yaml, no permission, removed since the listing: asked again
            context.log.warning(f"skipping {path.name}: cannot read it: {exc}")
            continue
        fingerprints[stem] = fingerprint
        if seen.get(stem) == fingerprint and stem in known:
            continue
        try:
            strategies.load(path)
        except (StrategyError, OSError) as exc:
            context.log.warning(f"skipping {path.name}: {exc}")
            continue
        if stem not in known:
            add.append(stem)
        if days:
            requests.append(RunRequest(
                run_key=f"strategy:{stem}:{fingerprint}",
                asset_selection=[SIMULATION],
                tags=range_tags(f"{days[0]}|{stem}", f"{days[-1]}|{stem}"),
            ))
    removed = sorted(known - files.keys())
    partition_requests = []
    if add:
        partition_requests.append(strategy_files.build_add_request(add))
    if removed:
        partition_requests.append(strategy_files.build_delete_request(removed))
    return SensorResult(run_requests=requests, dynamic_partitions_requests=partition_requests,
                        cursor=json.dumps(fingerprints))


def strategies_sensor(settings: Settings) -> SensorDefinition:
    return sensor(
        name="strategies_sensor",
        target=[SIMULATION],
        minimum_interval_seconds=settings.sensor_interval_s,
        default_status=DefaultSensorStatus.RUNNING,
        description="Adds, re-runs and removes strategy partitions as files appear in, change in or leave "
                    "strategies/.",
    )(strategy_requests)
