"""The warehouse as a Dagster resource: where the embedded and the production set-ups differ."""

from __future__ import annotations

from functools import lru_cache

from dagster import ConfigurableResource
from pydantic import Field

from quantbot_pipelines.warehouse import ParquetWarehouse, Warehouse


@lru_cache(maxsize=8)
def _open(url: str, password: str | None) -> Warehouse:
    if url.startswith("parquet://"):
        return ParquetWarehouse(url.removeprefix("parquet://"))
    if url.startswith(("chdb://", "http://", "https://")):
        from quantbot_pipelines.warehouse.clickhouse import ClickHouseWarehouse

        return ClickHouseWarehouse(url, password=password)
    raise ValueError(f"warehouse url must start with parquet://, chdb://, http:// or https:// (got {url.split(':')[0]}://...)")


class WarehouseResource(ConfigurableResource):
    """Partitioned tables: Parquet folders by default, ClickHouse for teams (same interface)."""

    url: str = Field(description="parquet://<dir>, chdb:///<dir> or http(s)://user@host:8123/database")
    password: str | None = Field(default=None, description="ClickHouse password; set it with EnvVar")

    def get(self) -> Warehouse:
        # one warehouse per process and configuration: chDB allows one engine per data folder and process
        return _open(self.url, self.password)
