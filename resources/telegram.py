"""Where Telegram exports arrive, and how to read times that carry no offset."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field


class TelegramInboxResource(ConfigurableResource):
    inbox: str = Field(description="folder watched for exports (result.json files, HTML export folders)")
    timezone: str | None = Field(default=None, description="IANA zone of exports whose times have no offset")
    bot_names: list[str] = Field(default_factory=list, description="extra bot names whose messages are cards")

    @property
    def path(self) -> Path:
        return Path(self.inbox)
