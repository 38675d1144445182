"""Run failures: recorded in the warehouse (`run_failures`) and, where configured, posted as alerts.

The table is written by a sensor, not a run, so it is an asset of its own (`run_failures`) whose
materializations the sensor reports: the UI lists it in the graph and shows each recorded failure.
"""

import datetime as dt
import json

import polars as pl
from dagster import (
    AssetMaterialization,
    AssetSpec,
    DefaultSensorStatus,
    RunFailureSensorContext,
    run_failure_sensor,
)

from assets.partitions import RANGE_END, RANGE_START
from quantbot_pipelines.schemas import RUN_FAILURES
from resources.alerts import AlertResource, send_alert
from resources.warehouse import WarehouseResource

run_failures = AssetSpec(
    RUN_FAILURES.name, group_name="ops", kinds={"python", "parquet"},
    description="Every failed run of this code location (job, partition, first lines of the error, where the "
                "alert went), recorded by the run_failure_alerts sensor.")


def _partition(tags: dict) -> str | None:
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    if RANGE_START in tags:
        return f"{tags[RANGE_START]}..{tags.get(RANGE_END, '')}"
    return None


@run_failure_sensor(default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=15,
                    description="Records every failed run and posts an alert where one is configured.")
def run_failure_alerts(context: RunFailureSensorContext, warehouse: WarehouseResource, alerts: AlertResource):
    run = context.dagster_run
    error = context.failure_event.message or ""
    partition = _partition(dict(run.tags))
    text = (f"QuantBot run failed: {run.job_name}"
            + (f" [{partition}]" if partition else "") + f"\nrun {run.run_id}\n{error[:1500]}")
    targets = alerts.targets()
    sent = send_alert(targets, text) if targets.configured else {}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    wh = warehouse.get()
    day = now.date()
    rows = wh.read(RUN_FAILURES, where=[("day", "=", day)])
    row = pl.DataFrame([{"day": day, "run_id": run.run_id, "job_name": run.job_name, "failed_at": now,
                         "partition": partition, "error": error[:4000], "alerts": json.dumps(sent)}],
                       schema=pl.from_arrow(RUN_FAILURES.empty()).schema)
    rows = pl.concat([rows.filter(pl.col("run_id") != run.run_id), row])
    wh.write_partition(RUN_FAILURES, {"day": day}, rows)
    context.instance.report_runless_asset_event(AssetMaterialization(
        RUN_FAILURES.name, metadata={"run_id": run.run_id, "job_name": run.job_name, "partition": partition or "",
                                     "failures_today": rows.height, "alerts": json.dumps(sent)}))
    context.log.info(f"recorded failure of run {run.run_id}; alerts: {sent or 'none configured'}")
