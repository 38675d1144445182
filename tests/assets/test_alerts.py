"""The run-failure sensor on a real failed run: recorded in run_failures (an asset of its own) and posted."""

from tests.support.recorder import Recorder


def test_failed_run_is_recorded_and_posted(tmp_path):
    # a real failed run (an export that left the inbox) through the real run-failure sensor
    from dagster import (
        AssetKey,
        DagsterEventType,
        DagsterInstance,
        build_run_status_sensor_context,
        materialize,
    )

    from assets.ops.alerts import run_failure_alerts
    from assets.partitions import telegram_exports_partitions
    from resources import AlertResource
    from tests.support.pipeline import make_definitions, make_resources

    resources = make_resources(tmp_path, strategies=False)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(telegram_exports_partitions.name, ["gone--result.json"])
    result = materialize(list(make_definitions(resources).assets),
                         selection=["telegram_staged_calls", "telegram_quarantine", "pair_tokens"], partition_key="gone--result.json",
                         instance=instance,
                         resources=resources, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE)

    with Recorder() as hook:
        resources["alerts"] = AlertResource(webhook_url=f"{hook.url}/hook")
        context = build_run_status_sensor_context(sensor_name="run_failure_alerts", dagster_event=failure,
                                                  dagster_instance=instance, dagster_run=result.dagster_run,
                                                  resources=resources).for_run_failure()
        run_failure_alerts(context)
    assert len(hook.requests) == 1
    assert result.run_id in hook.requests[0]["json"]["text"]
    assert "gone--result.json" in hook.requests[0]["json"]["text"]
    rows = resources["warehouse"].get().read("run_failures")
    assert rows.get_column("run_id").to_list() == [result.run_id]
    assert '"webhook": "sent"' in rows.get_column("alerts")[0]
    # the table is an asset: the sensor reports what it recorded
    recorded = instance.fetch_materializations(AssetKey("run_failures"), limit=10).records
    assert [r.asset_materialization.metadata["run_id"].value for r in recorded] == [result.run_id]
