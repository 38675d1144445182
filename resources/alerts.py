"""Where run-failure alerts go: a Telegram chat through a bot, and/or a generic webhook.

Tokens and webhook URLs are secrets (a Telegram bot token sits inside its URL): they never appear in the
errors this module raises or returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from dagster import ConfigurableResource, EnvVar
from pydantic import Field


@dataclass(frozen=True)
class AlertTargets:
    webhook_url: str | None = None
    telegram_token: str | None = None
    telegram_chat: str | None = None
    telegram_base_url: str = "https://api.telegram.org"

    @property
    def configured(self) -> bool:
        return bool(self.webhook_url or (self.telegram_token and self.telegram_chat))


def _scrub(text: str, secrets: list[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def send_alert(targets: AlertTargets, text: str, *, timeout_s: float = 10.0) -> dict[str, str]:
    """Post `text` to every configured target; returns target -> 'sent' or a scrubbed error."""
    results: dict[str, str] = {}
    secrets = [targets.webhook_url, targets.telegram_token]
    with httpx.Client(timeout=timeout_s) as client:
        if targets.webhook_url:
            try:
                client.post(targets.webhook_url, json={"text": text}).raise_for_status()
                results["webhook"] = "sent"
            except httpx.HTTPError as exc:
                results["webhook"] = _scrub(f"{type(exc).__name__}: {exc}", secrets)
        if targets.telegram_token and targets.telegram_chat:
            url = f"{targets.telegram_base_url.rstrip('/')}/bot{targets.telegram_token}/sendMessage"
            try:
                resp = client.post(url, json={"chat_id": targets.telegram_chat, "text": text[:4000],
                                              "disable_web_page_preview": True})
                resp.raise_for_status()
                results["telegram"] = "sent"
            except httpx.HTTPError as exc:
                results["telegram"] = _scrub(f"{type(exc).__name__}: {exc}", secrets)
    return results


class AlertResource(ConfigurableResource):
    webhook_url: str | None = Field(default=None, description="generic webhook; set with EnvVar")
    telegram_token: str | None = Field(default=None, description="bot token; set with EnvVar")
    telegram_chat: str | None = Field(default=None, description="chat id the bot posts to")
    telegram_base_url: str = "https://api.telegram.org"

    def targets(self) -> AlertTargets:
        # EnvVar fields are resolved by Dagster inside runs and sensors; used directly, read them here
        def value(v: str | None) -> str | None:
            return v.get_value() if isinstance(v, EnvVar) else v

        return AlertTargets(value(self.webhook_url), value(self.telegram_token), self.telegram_chat,
                            self.telegram_base_url)
