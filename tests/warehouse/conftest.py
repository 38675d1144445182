"""Every conformance test runs against both warehouses, each in its own temporary folder."""

from __future__ import annotations

import pytest

from quantbot_pipelines.warehouse import ParquetWarehouse


def open_warehouse(kind: str, root):
    if kind == "parquet":
        return ParquetWarehouse(root / "parquet")
    from quantbot_pipelines.warehouse.clickhouse import ClickHouseWarehouse

    # chDB: one data folder per process at a time, so the fixture closes it before the next test opens its own
    return ClickHouseWarehouse(f"chdb://{root / 'chdb'}")


@pytest.fixture(params=["parquet", "clickhouse"])
def warehouse(request, tmp_path):
    wh = open_warehouse(request.param, tmp_path)
    yield wh
    wh.close()
