"""The inbox sensor: a new or grown export in, its staging run out, the first run of the export's wave.

Each tick is cheap: it stats the inbox (sizes and mtimes, no parsing). The cursor holds each export's
fingerprint, so an unchanged file is never parsed again. An export the sensor has not seen (a fresh sensor,
after `make demo`) is checked against the instance first: when its latest `telegram_staged_calls`
materialization carries the same fingerprint it is staged already and not requested again. The rest of the wave
(the day range, then the simulations) is requested by the follow-through sensor (assets/waves.py) after each
run succeeds, with this run's tags. A missing inbox (or a file where the folder should be) is reported as the
tick's skip reason, naming the path, on every tick until the folder appears.
"""

import json

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from assets.partitions import telegram_exports_partitions
from assets.waves import EXPORT, WAVE, wave_id
from quantbot_pipelines.schemas import PAIR_TOKENS, TELEGRAM_CALLS, TELEGRAM_QUARANTINE, TELEGRAM_STAGED_CALLS
from quantbot_pipelines.telegram.staging import inbox_exports
from resources.settings import Settings
from resources.telegram import TelegramInboxResource

STAGED = AssetKey(TELEGRAM_STAGED_CALLS.name)

stage_export_job = define_asset_job("stage_telegram_export",
                                    selection=[TELEGRAM_STAGED_CALLS.name, TELEGRAM_QUARANTINE.name,
                                               PAIR_TOKENS.name],
                                    description="Parse one export of the inbox into the staging tables.")
# for deriving days by hand from the Jobs page; the follow-through sensor takes such a run on downstream
calls_job = define_asset_job("derive_telegram_calls", selection=[TELEGRAM_CALLS.name],
                             description="Derive the calls of a range of days from every staged export.")


def staged_fingerprint(instance: DagsterInstance, key: str) -> str | None:
    """The fingerprint of the export version the latest staging of partition `key` read."""
    records = instance.fetch_materializations(AssetRecordsFilter(asset_key=STAGED, asset_partitions=[key]),
                                              limit=1).records
    meta = records[0].asset_materialization.metadata if records and records[0].asset_materialization else {}
    return meta["fingerprint"].value if "fingerprint" in meta else None


def inbox_requests(context: SensorEvaluationContext, telegram_inbox: TelegramInboxResource) -> SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    files: dict[str, str] = cursor.get("files", {})

    requests: list[RunRequest] = []
    known = set(context.instance.get_dynamic_partitions(telegram_exports_partitions.name))
    problem = telegram_inbox.problem()
    if problem:
        context.log.warning(problem)
    refs = {} if problem else inbox_exports(telegram_inbox.path)
    new_keys = sorted(k for k in refs if k not in known)
    for key, ref in sorted(refs.items()):
        if files.get(key) == ref.fingerprint:
            continue
        files[key] = ref.fingerprint
        # one query per export the cursor does not know yet, so only on a fresh sensor or a changed file
        if key in known and staged_fingerprint(context.instance, key) == ref.fingerprint:
            continue
        seed = f"export:{key}:{ref.fingerprint}"
        requests.append(RunRequest(run_key=seed, job_name=stage_export_job.name, partition_key=key,
                                   tags={EXPORT: key, WAVE: wave_id(seed)}))

    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[telegram_exports_partitions.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps({"files": files}),
        skip_reason=SkipReason(problem) if problem and not requests else None,
    )


def telegram_inbox_sensor(settings: Settings) -> SensorDefinition:
    return sensor(
        name="telegram_inbox_sensor",
        job=stage_export_job,
        minimum_interval_seconds=settings.sensor_interval_s,
        default_status=DefaultSensorStatus.RUNNING,
        description="Watches the inbox for Telegram exports and stages each new or changed one once; the "
                    "follow-through sensor takes its wave on through the days it touches.",
    )(inbox_requests)
