"""The warehouse as a Dagster resource: where the embedded and the production set-ups differ.

A URL with a password in it reaches the resource as `EnvVar("QUANTBOT_WAREHOUSE")` (resources/__init__.py):
Dagster resolves it when a run starts and stores only the variable's name, never the value.
"""

from __future__ import annotations

from functools import lru_cache

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from quantbot_pipelines.warehouse import Warehouse, open_warehouse
from resources.settings import shown_url, warehouse_url_problem


@lru_cache(maxsize=8)
def _open(url: str, password: str | None) -> Warehouse:
    # checked here too: the resource may be configured directly, not through Settings
    problem = warehouse_url_problem(url)
    if problem:
        raise ValueError(f"warehouse url {shown_url(url)}: {problem}")
    return open_warehouse(url, password)


class WarehouseResource(ConfigurableResource):
    """Partitioned tables: Parquet folders by default, ClickHouse for teams (same interface)."""

    url: str = Field(description="parquet://<dir>, chdb://<dir> or http(s)://user@host:8123/database; "
                                 "set with EnvVar when it carries a password")
    password: str | None = Field(default=None, description="ClickHouse password; set it with EnvVar")

    def get(self) -> Warehouse:
        # one warehouse per process and configuration: chDB allows one engine per data folder and process
        return _open(_resolved(self.url), _resolved(self.password))


def _resolved(value: str | None) -> str | None:
    """A field's value: inside a run Dagster has resolved EnvVar fields already; used directly (scripts,
    tests), the resource still holds the EnvVar, whose value is read here."""
    return value.get_value() if isinstance(value, EnvVar) else value
