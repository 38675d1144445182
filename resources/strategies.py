"""Where strategy files live (YAML, one Dagster partition per file)."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field


class StrategyFolderResource(ConfigurableResource):
    folder: str = Field(description="folder of strategy YAML files")

    @property
    def path(self) -> Path:
        return Path(self.folder)

    def files(self) -> dict[str, Path]:
        return {p.stem: p for p in sorted(self.path.glob("*.yaml"))}

    def file(self, stem: str) -> Path:
        return self.path / f"{stem}.yaml"
