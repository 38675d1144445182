"""The bot's settings, read once from the environment when it is built.

| variable | default | meaning |
|---|---|---|
| QUANTBOT_BOT_TOKEN | (required) | the bot's token from @BotFather |
| QUANTBOT_BOT_CHATS | (unset: nobody) | chat ids the bot answers, comma-separated |
| QUANTBOT_BOT_API_URL | https://api.telegram.org | the Telegram Bot API |
| QUANTBOT_API_URL | http://127.0.0.1:8000 | the read API the bot asks |
| QUANTBOT_API_KEY | (unset) | the key the bot sends when the API has keys on |
| QUANTBOT_DAGSTER_URL | http://127.0.0.1:3000 | the Dagster webserver (status, backtests) |
| QUANTBOT_DASHBOARD_URL | http://127.0.0.1:8000 | public base URL used in links |
| QUANTBOT_STRATEGIES | ./strategies | the strategies folder /backtest writes into |

The token and the key are kept out of the repr, so no log line can show them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from resources.settings import REPO_ROOT, SettingsError


@dataclass(frozen=True)
class BotSettings:
    token: str = field(repr=False)
    chats: frozenset[int] = frozenset()
    bot_api_url: str = "https://api.telegram.org"
    api_url: str = "http://127.0.0.1:8000"
    api_key: str | None = field(default=None, repr=False)
    dagster_url: str = "http://127.0.0.1:3000"
    dashboard_url: str = "http://127.0.0.1:8000"
    strategies: Path = REPO_ROOT / "strategies"
    poll_timeout_s: int = 25  # getUpdates long-poll seconds
    run_poll_s: float = 5.0  # how often a backtest's run is asked about
    run_max_wait_s: float = 6 * 3600.0  # a run still going after this is reported so, and left

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> BotSettings:
        """Read and check the bot's variables; SettingsError lists every problem, none quoting a secret."""
        env = os.environ if env is None else env
        problems: list[str] = []

        def get(name: str, default: str = "") -> str:
            value = env.get(name, "").strip()
            return value or default

        token = get("QUANTBOT_BOT_TOKEN")
        if not token:
            problems.append("QUANTBOT_BOT_TOKEN: not set (the bot's token from @BotFather)")
        elif any(c.isspace() or c == "/" for c in token):
            problems.append("QUANTBOT_BOT_TOKEN: not a bot token (no spaces or slashes; value not shown)")
        chats: set[int] = set()
        for raw in get("QUANTBOT_BOT_CHATS").split(","):
            if raw.strip():
                try:
                    chats.add(int(raw.strip()))
                except ValueError:
                    problems.append(f"QUANTBOT_BOT_CHATS: {raw.strip()!r} is not a chat id (a whole number)")
        urls = {}
        for name, default in (("QUANTBOT_BOT_API_URL", "https://api.telegram.org"),
                              ("QUANTBOT_API_URL", "http://127.0.0.1:8000"),
                              ("QUANTBOT_DAGSTER_URL", "http://127.0.0.1:3000"),
                              ("QUANTBOT_DASHBOARD_URL", "http://127.0.0.1:8000")):
            url = get(name, default).rstrip("/")
            if not url.startswith(("http://", "https://")):
                problems.append(f"{name}: expected http(s)://host[:port]")
            urls[name] = url
        if problems:
            raise SettingsError(problems)
        return cls(**{"token": token, "chats": frozenset(chats), "bot_api_url": urls["QUANTBOT_BOT_API_URL"],
                      "api_url": urls["QUANTBOT_API_URL"], "api_key": get("QUANTBOT_API_KEY") or None,
                      "dagster_url": urls["QUANTBOT_DAGSTER_URL"],
                      "dashboard_url": urls["QUANTBOT_DASHBOARD_URL"],
                      "strategies": Path(get("QUANTBOT_STRATEGIES", str(REPO_ROOT / "strategies"))),
                      **overrides})
