"""Warehouses: partitioned tables with atomic partition replace (see base.py for the contract)."""

from quantbot_pipelines.warehouse.base import Partition, Predicate, Warehouse, spec_of
from quantbot_pipelines.warehouse.parquet import ParquetWarehouse

__all__ = ["ParquetWarehouse", "Partition", "Predicate", "Warehouse", "spec_of"]
