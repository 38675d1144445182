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
