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

    def problem(self) -> str | None:
        """Why the inbox cannot be watched (missing, or a file given as the folder), or None when it can.
        A missing inbox is not "0 exports": the sensor says so on every tick until the folder appears."""
        path = self.path
        try:
            if path.is_dir():
                return None
            if not path.exists():
                return (f"the inbox {path} does not exist: create the folder (or set QUANTBOT_INBOX to the one "
                        f"you export into) and put Telegram exports in it")
        except OSError as exc:
            return f"the inbox {path} cannot be read: {exc}"
        return (f"the inbox {path} is not a folder: set QUANTBOT_INBOX to the folder that holds the exports "
                f"(result.json files, HTML export folders), not to one file")
