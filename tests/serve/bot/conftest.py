"""The bot against a fake Telegram Bot API on loopback, the real API server over `world` (a copy of the served
warehouse) and a real `dagster dev` over the same copy: the bot's backtests never reach what other tests read."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tests.serve.bot.fake_telegram import FakeTelegram

CHAT, STRANGER = 1001, 999
DASHBOARD = "http://dash.example:8000"


class Records(logging.Handler):
    """Every log record of the process while the bot runs, formatted (httpx's too, were it to log)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@dataclass
class RunningBot:
    bot: object
    telegram: FakeTelegram
    token: str
    logs: Records


@contextmanager
def running_bot(api_url: str, dagster_url: str, strategies, **settings) -> Iterator[RunningBot]:
    """A bot polling its own fake Bot API in a thread; on exit it is stopped, and any exception it or the fake
    server met fails the test."""
    from serve.bot.bot import Bot
    from serve.bot.settings import BotSettings

    token = f"{secrets.randbelow(10**9)}:AA{secrets.token_urlsafe(24)}"
    logs = Records()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(logs)
    root.setLevel(logging.DEBUG)
    with FakeTelegram(token) as telegram:
        bot = Bot(BotSettings(token=token, chats=frozenset({CHAT}), bot_api_url=telegram.url, api_url=api_url,
                              dagster_url=dagster_url, dashboard_url=DASHBOARD, strategies=strategies,
                              poll_timeout_s=1, run_poll_s=1.0, **settings))
        failure: list[BaseException] = []

        def run():
            try:
                bot.run()
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                failure.append(exc)

        thread = threading.Thread(target=run, name="bot", daemon=True)
        thread.start()
        try:
            yield RunningBot(bot=bot, telegram=telegram, token=token, logs=logs)
        finally:
            bot.stop.set()
            thread.join(timeout=15)
            bot.close()
            root.removeHandler(logs)
            root.setLevel(old_level)
        assert not thread.is_alive(), "the bot did not stop"
        assert not failure, failure
        assert not bot.errors, bot.errors
        assert not telegram.errors, telegram.errors
        assert not any(token in line for line in logs.lines), "the bot token is in a log line"


@pytest.fixture(scope="module")
def world_api(world, start_api) -> Iterator[str]:
    """The API over `world`: the one the bot asks, which sees what its backtests write."""
    with start_api(QUANTBOT_WAREHOUSE=world.warehouse_url) as url:
        yield url


@pytest.fixture(scope="module")
def http(world_api):
    """The bot's tests compare its answers with what the API over `world` gives."""
    import httpx

    with httpx.Client(base_url=world_api, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def bot(world_api, world, dagster_ui) -> Iterator[RunningBot]:
    with running_bot(world_api, dagster_ui.url, world.strategies) as running:
        yield running
