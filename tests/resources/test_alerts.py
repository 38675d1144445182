"""Failure alerts against real HTTP servers on loopback: webhook and Telegram bot API shapes, no leaked secrets."""

from resources.alerts import AlertTargets, send_alert
from tests.support.recorder import Recorder

TOKEN = "123456:SECRET-bot-token"


def test_webhook_and_telegram_receive_the_alert():
    with Recorder() as hook, Recorder() as tg:
        targets = AlertTargets(webhook_url=f"{hook.url}/hooks/abc", telegram_token=TOKEN, telegram_chat="-1001",
                               telegram_base_url=tg.url)
        result = send_alert(targets, "run failed: raw_candles")
    assert result == {"webhook": "sent", "telegram": "sent"}
    assert hook.requests == [{"path": "/hooks/abc", "json": {"text": "run failed: raw_candles"}}]
    assert tg.requests[0]["path"] == f"/bot{TOKEN}/sendMessage"
    assert tg.requests[0]["json"]["chat_id"] == "-1001"
    assert tg.requests[0]["json"]["text"] == "run failed: raw_candles"


def test_errors_are_reported_without_the_token():
    with Recorder(status=401) as tg:
        targets = AlertTargets(telegram_token=TOKEN, telegram_chat="1", telegram_base_url=tg.url)
        result = send_alert(targets, "x")
    assert result["telegram"].startswith("HTTPStatusError")
    assert "SECRET" not in result["telegram"] and "***" in result["telegram"]


def test_unreachable_webhook_is_an_error_not_a_crash():
    with Recorder() as hook:
        url = hook.url
    result = send_alert(AlertTargets(webhook_url=f"{url}/gone"), "x", timeout_s=2)
    assert result["webhook"].startswith("ConnectError")
    assert url not in result["webhook"]


def test_nothing_configured():
    assert not AlertTargets().configured
    assert send_alert(AlertTargets(), "x") == {}


def test_failed_run_is_recorded_and_posted(tmp_path):
    # a real failed run (an export that left the inbox) through the real run-failure sensor
    from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context, materialize

    from assets.ops.alerts import run_failure_alerts
    from assets.partitions import telegram_exports_partitions
    from assets.telegram import telegram_exports
    from resources import AlertResource
    from tests.support.pipeline import make_resources

    resources = make_resources(tmp_path, strategies=False)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(telegram_exports_partitions.name, ["gone--result.json"])
    result = materialize([telegram_exports], partition_key="gone--result.json", instance=instance,
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
