"""Warehouses: partitioned tables with atomic partition replace (see base.py for the contract)."""

from quantbot_pipelines.warehouse.base import Partition, Predicate, Warehouse, spec_of
from quantbot_pipelines.warehouse.parquet import ParquetWarehouse


def open_warehouse(url: str, password: str | None = None) -> Warehouse:
    """The warehouse a URL names: parquet://<dir>, chdb://<dir> or http(s)://user@host:port/db (ClickHouse).

    The caller checks the URL first (resources/settings.py: warehouse_url_problem); a password is passed
    apart from the URL so that no message about the URL can carry it."""
    url = url.strip()
    if url.lower().startswith("parquet://"):
        return ParquetWarehouse(url[len("parquet://"):].strip())
    from quantbot_pipelines.warehouse.clickhouse import ClickHouseWarehouse  # chDB loads only when asked for

    return ClickHouseWarehouse(url, password=password)


__all__ = ["ParquetWarehouse", "Partition", "Predicate", "Warehouse", "open_warehouse", "spec_of"]
