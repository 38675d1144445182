"""Keeps the dynamic `strategy` partitions in step with the strategies/ folder.

New file: partition added and one run requested, its whole wave: simulation_results over every call day (one
2-D partition range, which the single-run backfill policy honours) with the strategy leaderboards, tagged
`quantbot/strategy=<stem>` and a wave id. Changed file: the same again. Removed file: partition removed (its
stored rows stay, but leave the leaderboards). A file the sensor has not seen (a fresh sensor, after
`make demo`) is checked against the instance first: when the simulation_results of its first and last call day
were materialized from the same version (`strategy_fingerprint` metadata) it is not requested again, and not
parsed. A file whose version already has a queued or running run of its own (launched by hand or by the bot,
tagged `quantbot/strategy=<stem>` and the wave id of that version) is not requested again; while a launcher
holds the file's LAUNCHING marker (it writes the file, adds the partition, launches, then removes it) the file
waits for the next tick. A file that cannot be read or is invalid (not UTF-8, too large, hostile YAML, a sweep
past the variant cap) is skipped with a warning naming it, once per version of the file; the other files go
ahead.
"""

import json
import time

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    PartitionsDefinition,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from assets.partitions import range_tags, strategy_files
from assets.waves import STRATEGY, WAVE, clip_days, simulation_job, wave_id
from quantbot_pipelines.schemas import SIMULATION_RESULTS, STRATEGY_FILE_TABLES, TELEGRAM_CALLS
from quantbot_pipelines.simulation import StrategyError, strategy_file_fingerprint
from resources.settings import Settings
from resources.strategies import StrategyFolderResource
from resources.warehouse import WarehouseResource

SIMULATION = AssetKey(SIMULATION_RESULTS.name)
# a new or changed file's wave: its trades (and the finer candles written in the same step), the books, the boards
STRATEGY_WAVE = [AssetKey(t.name) for t in STRATEGY_FILE_TABLES]
FINGERPRINT = "strategy_fingerprint"  # metadata of every simulation_results partition: the file's version
# beside <stem>.yaml while a launcher (serve/bot) writes the file and launches its run: the file is not
# requested meanwhile; a marker older than LAUNCHING_MAX_AGE_S is a launcher that died and is ignored
LAUNCHING = ".{stem}.launching"
LAUNCHING_MAX_AGE_S = 120.0
PENDING = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
           DagsterRunStatus.STARTED]


def launching(folder, stem: str) -> bool:
    """A launcher is writing and launching this file now (a fresh LAUNCHING marker beside it)."""
    try:
        age = time.time() - (folder / LAUNCHING.format(stem=stem)).stat().st_mtime
    except OSError:
        return False
    return age < LAUNCHING_MAX_AGE_S


def pending_run(instance: DagsterInstance, stem: str, wave: str) -> bool:
    """A run of this version of the file (its strategy and wave tags) is queued or running."""
    return bool(instance.get_run_ids(RunsFilter(tags={STRATEGY: stem, WAVE: wave}, statuses=PENDING),
                                     limit=1))


def simulated_fingerprints(instance: DagsterInstance, stem: str, days: list[str]) -> set[str | None]:
    """The file versions the latest simulations of the first and last call day read (None: not simulated)."""
    found = set()
    for day in {days[0], days[-1]}:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=SIMULATION, asset_partitions=[f"{day}|{stem}"]), limit=1).records
        meta = records[0].asset_materialization.metadata if records and records[0].asset_materialization else {}
        found.add(meta[FINGERPRINT].value if FINGERPRINT in meta else None)
    return found


def strategy_requests(context: SensorEvaluationContext, warehouse: WarehouseResource,
                      strategies: StrategyFolderResource, days_def: PartitionsDefinition) -> SensorResult:
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    files = strategies.files()
    known = set(context.instance.get_dynamic_partitions(strategy_files.name))
    call_days: list[str] | None = None  # read (and clipped, with a warning) only when a file needs runs

    def days() -> list[str]:
        nonlocal call_days
        if call_days is None:
            stored = [str(p["day"]) for p in warehouse.get().partitions(TELEGRAM_CALLS)]
            call_days = clip_days(stored, days_def, context.log.warning, "strategy runs")
        return call_days

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
        if stem not in seen and stem in known and days() and \
                simulated_fingerprints(context.instance, stem, days()) == {fingerprint}:
            continue  # the instance has this version's results already
        try:
            strategies.load(path)
        except (StrategyError, OSError) as exc:
            context.log.warning(f"skipping {path.name}: {exc}")
            continue
        seed = f"strategy:{stem}:{fingerprint}"
        if launching(strategies.path, stem):
            del fingerprints[stem]  # looked at again next tick, when its run is in the instance
            continue
        if pending_run(context.instance, stem, wave_id(seed)):
            continue  # launched by hand or by the bot: this version's run is under way
        if stem not in known:
            add.append(stem)
        if days():
            requests.append(RunRequest(
                run_key=seed, job_name=simulation_job.name, asset_selection=STRATEGY_WAVE,
                tags={**range_tags(f"{days()[0]}|{stem}", f"{days()[-1]}|{stem}"), STRATEGY: stem,
                      WAVE: wave_id(seed)},
            ))
    removed = sorted(known - files.keys())
    partition_requests = []
    if add:
        partition_requests.append(strategy_files.build_add_request(add))
    if removed:
        partition_requests.append(strategy_files.build_delete_request(removed))
    return SensorResult(run_requests=requests, dynamic_partitions_requests=partition_requests,
                        cursor=json.dumps(fingerprints))


def strategies_sensor(settings: Settings, days_def: PartitionsDefinition) -> SensorDefinition:
    def evaluate(context: SensorEvaluationContext, warehouse: WarehouseResource,
                 strategies: StrategyFolderResource) -> SensorResult:
        return strategy_requests(context, warehouse, strategies, days_def)

    return sensor(
        name="strategies_sensor",
        job=simulation_job,
        minimum_interval_seconds=settings.sensor_interval_s,
        default_status=DefaultSensorStatus.RUNNING,
        description="Adds, re-runs and removes strategy partitions as files appear in, change in or leave "
                    "strategies/; a new or changed file is one run: its simulations and the strategy boards.",
    )(evaluate)
