"""Where run-failure alerts go: a Telegram chat through a bot, and/or a generic webhook."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from quantbot_pipelines.alerts import AlertTargets


class AlertResource(ConfigurableResource):
    webhook_url: str | None = Field(default=None, description="generic webhook; set with EnvVar")
    telegram_token: str | None = Field(default=None, description="bot token; set with EnvVar")
    telegram_chat: str | None = Field(default=None, description="chat id the bot posts to")
    telegram_base_url: str = "https://api.telegram.org"

    def targets(self) -> AlertTargets:
        return AlertTargets(self.webhook_url, self.telegram_token, self.telegram_chat, self.telegram_base_url)
