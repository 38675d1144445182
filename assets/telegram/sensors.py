"""The inbox sensor: new or grown exports in, runs for exactly the day partitions they touch out.

Each tick is cheap: it stats the inbox (sizes and mtimes, no parsing) and reads the metadata of the
`telegram_staged_calls` materializations that finished since the last tick. The cursor holds both, so an
unchanged file is never parsed again and every staged export leads to exactly one wave of day runs.
A missing inbox (or a file where the folder should be) is reported as the tick's skip reason, naming the
path, on every tick until the folder appears; staged exports are still followed up meanwhile.
"""

import json

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from assets.partitions import day_ranges, range_tags, telegram_exports_partitions
from quantbot_pipelines.schemas import PAIR_TOKENS, TELEGRAM_CALLS, TELEGRAM_QUARANTINE, TELEGRAM_STAGED_CALLS
from quantbot_pipelines.telegram.staging import inbox_exports
from resources.settings import Settings
from resources.telegram import TelegramInboxResource

STAGED = AssetKey(TELEGRAM_STAGED_CALLS.name)

# two jobs, because one sensor target may not mix partitions definitions (exports vs call days)
stage_export_job = define_asset_job("stage_telegram_export",
                                    selection=[TELEGRAM_STAGED_CALLS.name, TELEGRAM_QUARANTINE.name,
                                               PAIR_TOKENS.name],
                                    description="Parse one export of the inbox into the staging tables.")
calls_job = define_asset_job("derive_telegram_calls", selection=[TELEGRAM_CALLS.name],
                             description="Derive the calls of a range of days from every staged export.")


def inbox_requests(context: SensorEvaluationContext, telegram_inbox: TelegramInboxResource) -> SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    files: dict[str, str] = cursor.get("files", {})
    last_event = cursor.get("event")

    requests: list[RunRequest] = []
    known = set(context.instance.get_dynamic_partitions(telegram_exports_partitions.name))
    problem = telegram_inbox.problem()
    if problem:
        context.log.warning(problem)
    refs = {} if problem else inbox_exports(telegram_inbox.path)
    new_keys = sorted(k for k in refs if k not in known)
    for key, ref in sorted(refs.items()):
        if files.get(key) != ref.fingerprint:
            requests.append(RunRequest(run_key=f"export:{key}:{ref.fingerprint}", job_name=stage_export_job.name,
                                       partition_key=key))
            files[key] = ref.fingerprint

    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=STAGED, after_storage_id=last_event), limit=1000, ascending=True).records
    # a day already derived after the export was staged (by hand, a backfill, `make demo`) is not asked again
    derived = context.instance.get_latest_storage_id_by_partition(
        AssetKey(TELEGRAM_CALLS.name), DagsterEventType.ASSET_MATERIALIZATION) if records else {}
    for record in records:
        last_event = max(last_event or 0, record.storage_id)
        meta = record.asset_materialization.metadata if record.asset_materialization else {}
        days = [d for d in (meta["affected_days"].value if "affected_days" in meta else [])
                if derived.get(d, -1) < record.storage_id]
        for first, last in day_ranges(days):
            requests.append(RunRequest(
                run_key=f"calls:{record.storage_id}:{first}:{last}",
                job_name=calls_job.name,
                tags={**range_tags(first, last), "quantbot/export": record.partition_key or ""},
            ))

    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[telegram_exports_partitions.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps({"files": files, "event": last_event}),
        skip_reason=SkipReason(problem) if problem and not requests else None,
    )


def telegram_inbox_sensor(settings: Settings) -> SensorDefinition:
    return sensor(
        name="telegram_inbox_sensor",
        jobs=[stage_export_job, calls_job],
        minimum_interval_seconds=settings.sensor_interval_s,
        default_status=DefaultSensorStatus.RUNNING,
        description="Watches the inbox for Telegram exports; parses new or changed ones once and then "
                    "materializes the telegram_calls days they touch.",
    )(inbox_requests)
