"""Builders for simulation tests: calls and 1m candles from OHLC tuples (one token per path)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from quantbot_pipelines.simulation import Strategy, simulate

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)  # first candle opens at T0 + 1 min; calls at T0 + 30 s


def calls_frame(n: int, *, call_offset_s: int = 30, callers: int = 3, repeat_every: int = 0) -> pl.DataFrame:
    return pl.DataFrame({
        "day": [T0.date()] * n,
        "chat_id": ["chat"] * n,
        "message_id": list(range(n)),
        "caller_id": [f"user{i % callers}" for i in range(n)],
        "caller_name": [f"Caller {i % callers}" for i in range(n)],
        "chain": ["solana"] * n,
        "address": [f"Tok{i}" for i in range(n)],
        "call_ts": [T0 + dt.timedelta(seconds=call_offset_s)] * n,
        "repeat": [bool(repeat_every) and i % repeat_every == repeat_every - 1 for i in range(n)],
    })


def candles_frame(paths: list[list[tuple]], *, minutes: list[list[int]] | None = None) -> pl.DataFrame:
    """paths[i] = [(open, high, low, close), ...] for token Tok{i}; candle k opens at T0 + minutes[i][k]
    (default k + 1) minutes."""
    rows = []
    for i, path in enumerate(paths):
        for k, (o, h, low, c) in enumerate(path):
            m = minutes[i][k] if minutes else k + 1
            rows.append(("solana", f"Tok{i}", "1m", T0 + dt.timedelta(minutes=m), float(o), float(h), float(low),
                         float(c)))
    return pl.DataFrame(rows, schema=["chain", "address", "interval", "open_ts", "open", "high", "low", "close"],
                        orient="row")


def trade(path: list[tuple], strategy: Strategy, **kw) -> dict:
    """The single trade of one path under one strategy, fills parsed."""
    out = simulate(calls_frame(1, **kw), candles_frame([path]), [strategy])
    row = out.row(0, named=True)
    row["fills"] = json.loads(row["fills"]) if row["fills"] else None
    return row


def minute(k: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=k + 1)
