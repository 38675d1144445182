"""Storage benchmark: candles written and read through each warehouse, Parquet and ClickHouse (chDB engine).

    python -m benchmarks.bench_storage            # 20 million rows
    BENCH_STORAGE_ROWS=1000000 python -m benchmarks.bench_storage

The rows are split into 30 daily `raw_candles` partitions (1-minute candles of many tokens). Writes are timed
per `write_partition` call (generation excluded); reads fetch every partition back, one at a time
(`read_partitions`), the way an analytics stage consumes them. Both warehouses run in this process on the
local disk; ClickHouse is the in-process chDB engine, so no network is involved (see
quantbot_pipelines/warehouse/clickhouse.py for why no server is measured).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from benchmarks._report import table, write_section
from quantbot_pipelines.schemas import RAW_CANDLES, TS
from quantbot_pipelines.warehouse import ParquetWarehouse
from quantbot_pipelines.warehouse.clickhouse import ClickHouseWarehouse

DAYS = 30
FIRST_DAY = dt.date(2025, 3, 1)
TOKENS_PER_DAY = 400


def day_candles(day: dt.date, n: int, seed: int) -> pa.Table:
    """`n` 1-minute candles of TOKENS_PER_DAY tokens from `day` 00:00 UTC, a random walk per token."""
    rng = np.random.default_rng(seed)
    per_token = -(-n // TOKENS_PER_DAY)
    i = np.arange(n)
    token = i // per_token
    start = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
    close = np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    addresses = np.array([f"{seed:03d}Tok{t:05d}pump{'x' * 28}" for t in range(TOKENS_PER_DAY)])
    return pa.table({
        "day": pa.array(np.full(n, (day - dt.date(1970, 1, 1)).days, dtype=np.int32), pa.date32()),
        "chain": pa.array(np.full(n, "solana")),
        "address": pa.array(addresses[token]),
        "interval": pa.array(np.full(n, "1m")),
        "open_ts": pa.array(start + (i % per_token) * 60, TS),
        "open": close * 0.999, "high": close * 1.01, "low": close * 0.99, "close": close,
        "volume_usd": rng.random(n) * 1e4,
        "source": pa.array(np.full(n, "synthetic")),
    }, schema=RAW_CANDLES.schema)


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run(name: str, warehouse, root: Path, per_day: list[int]) -> dict:
    write_s = 0.0
    for k, n in enumerate(per_day):
        day = FIRST_DAY + dt.timedelta(days=k)
        data = day_candles(day, n, seed=k)
        t0 = time.perf_counter()
        warehouse.write_partition(RAW_CANDLES, {"day": day}, data)
        write_s += time.perf_counter() - t0
        del data
    read_rows, t0 = 0, time.perf_counter()
    for k in range(len(per_day)):
        read_rows += warehouse.read_partitions(RAW_CANDLES, [{"day": FIRST_DAY + dt.timedelta(days=k)}]).height
    read_s = time.perf_counter() - t0
    total = sum(per_day)
    assert read_rows == total, (name, read_rows, total)
    t0 = time.perf_counter()
    one = warehouse.read(RAW_CANDLES, where=[("address", "=", f"{DAYS // 2:03d}Tok00007pump{'x' * 28}")])
    point_ms = (time.perf_counter() - t0) * 1000
    assert one.height == -(-per_day[DAYS // 2] // TOKENS_PER_DAY)
    out = {"warehouse": name, "rows": f"{total:,}", "write rows/s": f"{total / write_s:,.0f}",
           "write s": f"{write_s:.1f}", "read rows/s": f"{total / read_s:,.0f}", "read s": f"{read_s:.1f}",
           "one token (ms)": f"{point_ms:.0f}", "on disk (MB)": f"{du(root) / 2**20:,.0f}"}
    print(" | ".join(f"{k}={v}" for k, v in out.items()), flush=True)
    return {**out, "_w": total / write_s, "_r": total / read_s}


def main() -> None:
    rows = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BENCH_STORAGE_ROWS", "20000000"))
    per_day = [rows // DAYS + (1 if k < rows % DAYS else 0) for k in range(DAYS)]
    base = Path(tempfile.mkdtemp(prefix="bench_storage_"))
    try:
        pq_root, ch_root = base / "parquet", base / "chdb"
        results = [run("Parquet (zstd)", ParquetWarehouse(pq_root), pq_root, per_day)]
        ch = ClickHouseWarehouse(f"chdb://{ch_root}")
        try:
            results.append(run("ClickHouse (chDB)", ch, ch_root, per_day))
        finally:
            ch.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    body = (f"{rows:,} `raw_candles` rows in {DAYS} daily partitions ({TOKENS_PER_DAY} tokens a day, 1-minute "
            "candles), written one partition per `write_partition` call and read back one partition at a "
            "time; `one token` is a filtered read of one address across all partitions. ClickHouse is the "
            "in-process chDB engine (the tests' ClickHouse). Single process.\n\n"
            + table([{k: v for k, v in r.items() if not k.startswith("_")} for r in results]))
    write_section("storage", "Storage: Parquet vs ClickHouse warehouse", body)
    p, c = results
    print(f"parquet_write_rows_s={p['_w']:.0f} clickhouse_write_rows_s={c['_w']:.0f} "
          f"parquet_read_rows_s={p['_r']:.0f} clickhouse_read_rows_s={c['_r']:.0f}")


if __name__ == "__main__":
    main()
