"""Synthetic rows for the warehouse tests and benchmark: candles at scale, any table in small numbers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa

from quantbot_pipelines.schemas import RAW_CANDLES, TS, TableSpec

EPOCH_DAY = dt.date(1970, 1, 1)


def candles(day: dt.date, n: int, *, tokens: int = 50, seed: int = 0, price: float | None = None) -> pa.Table:
    """`n` 1-minute candles of `tokens` tokens starting at `day` 00:00 UTC (unique per key)."""
    rng = np.random.default_rng(seed)
    per_token = -(-n // tokens)
    i = np.arange(n)
    token = i // per_token
    start = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
    close = rng.lognormal(0.0, 0.2, n) if price is None else np.full(n, price)
    addresses = np.array([f"Tok{t:05d}{day:%Y%m%d}pump" for t in range(tokens)])
    return pa.table({
        "day": pa.array(np.full(n, (day - EPOCH_DAY).days, dtype=np.int32), pa.date32()),
        "chain": pa.array(np.where(token % 3 == 0, "ethereum", "solana")),
        "address": pa.array(addresses[token]),
        "interval": pa.array(np.full(n, "1m")),
        "open_ts": pa.array(start + (i % per_token) * 60, TS),
        "open": close * 0.99, "high": close * 1.02, "low": close * 0.97, "close": close,
        "volume_usd": pa.array(np.where(i % 7 == 0, np.nan, rng.random(n) * 1e4),
                               mask=i % 7 == 0),
        "source": pa.array(np.full(n, "synthetic")),
        "volume_tokens": pa.array(np.where(i % 7 == 0, np.nan, rng.random(n) * 1e8), mask=i % 7 == 0),
    }, schema=RAW_CANDLES.schema)


def rows(spec: TableSpec, n: int, partition: dict[str, Any], *, seed: int = 0) -> pa.Table:
    """`n` rows of any table, unique per key, every third value of a nullable column null."""
    cols = {}
    base = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    for f in spec.schema:
        if f.name in partition:
            cols[f.name] = pa.array([partition[f.name]] * n, f.type)
            continue
        t = f.type
        if pa.types.is_string(t):
            v: list = [f"{f.name}-{seed}-{i}" for i in range(n)]
        elif pa.types.is_int64(t):
            v = [seed * 1_000_000 + i for i in range(n)]
        elif pa.types.is_float64(t):
            v = [i * 0.5 + seed for i in range(n)]
        elif pa.types.is_boolean(t):
            v = [i % 2 == 0 for i in range(n)]
        elif pa.types.is_date32(t):
            v = [dt.date(2025, 3, 1) + dt.timedelta(days=i % 40) for i in range(n)]
        elif pa.types.is_timestamp(t):
            v = [base + dt.timedelta(minutes=i) for i in range(n)]
        else:
            raise TypeError(t)
        if f.nullable:
            v = [None if i % 3 == 2 else x for i, x in enumerate(v)]
        cols[f.name] = pa.array(v, t)
    return pa.table(cols, schema=spec.schema)
