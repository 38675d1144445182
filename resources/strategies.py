"""Where strategy files live (YAML, one Dagster partition per file), and how large a sweep may grow."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from quantbot_pipelines.simulation.strategy import DEFAULT_MAX_VARIANTS, Strategy, load_strategy_file


class StrategyFolderResource(ConfigurableResource):
    folder: str = Field(description="folder of strategy YAML files")
    max_variants: int = Field(default=DEFAULT_MAX_VARIANTS, ge=1,
                              description="most strategies one file may expand to (QUANTBOT_MAX_VARIANTS)")

    @property
    def path(self) -> Path:
        return Path(self.folder)

    def files(self) -> dict[str, Path]:
        return {p.stem: p for p in sorted(self.path.glob("*.yaml"))}

    def file(self, stem: str) -> Path:
        return self.path / f"{stem}.yaml"

    def load(self, path: str | Path) -> list[Strategy]:
        """The strategies of one file, within this folder's variant cap; raises StrategyError naming the file."""
        return load_strategy_file(path, max_variants=self.max_variants)
