"""Small builders for hand-computed candle paths."""

from __future__ import annotations

import datetime as dt

import polars as pl

T0 = 1_767_225_600  # 2026-01-01 00:00 UTC
UTC_MS = pl.Datetime("ms", "UTC")


def candles(rows: dict[str, list[tuple]], interval: str = "1m", step: int = 60) -> pl.DataFrame:
    """rows: address -> [(minute, open, high, low, close[, volume])] on chain solana."""
    out = []
    for addr, cs in rows.items():
        for r in cs:
            out.append(
                {
                    "day": dt.date(2026, 1, 1),
                    "chain": "solana",
                    "address": addr,
                    "interval": interval,
                    "open_ts": (T0 + r[0] * step) * 1000,
                    "open": float(r[1]),
                    "high": float(r[2]),
                    "low": float(r[3]),
                    "close": float(r[4]),
                    "volume_usd": float(r[5]) if len(r) > 5 else 1.0,
                    "source": "synthetic",
                }
            )
    return pl.DataFrame(out, schema_overrides={"open_ts": pl.Int64}).with_columns(
        pl.col("open_ts").cast(UTC_MS)
    )


def calls(rows: list[tuple]) -> pl.DataFrame:
    """rows: (address, call second offset from T0[, caller_id, repeat])."""
    out = []
    for i, r in enumerate(rows):
        out.append(
            {
                "day": dt.date(2026, 1, 1),
                "chat_id": "c1",
                "message_id": i + 1,
                "caller_id": r[2] if len(r) > 2 else "u1",
                "caller_name": "Alice",
                "chain": "solana",
                "address": r[0],
                "card_ticker": r[0].upper(),
                "call_ts": (T0 + r[1]) * 1000,
                "first_call": True,
                "repeat": r[3] if len(r) > 3 else False,
            }
        )
    return pl.DataFrame(out, schema_overrides={"call_ts": pl.Int64}).with_columns(
        pl.col("call_ts").cast(UTC_MS)
    )
