"""Finer candles for single minutes: the ambiguous candles of docs/semantics.md#order-bounds.

The same machinery as the raw candles (quantbot_pipelines/candles/collect.py): a minute is a window asked once,
through a ledger of its own (`intrabar_ledger`), every answer kept the moment it arrives (`intrabar_answers`)
until the day's `intrabar_candles` and ledger are written. A day's tables grow by merge: each run adds the
minutes it needed to what the day holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from quantbot_pipelines.candles.base import CandleSource, interval_seconds, normalize_interval
from quantbot_pipelines.candles.collect import collect_candles
from quantbot_pipelines.candles.journal import AnswerJournal
from quantbot_pipelines.schemas import INTRABAR_ANSWERS, INTRABAR_CANDLES, INTRABAR_LEDGER

MINUTE_S = 60


@dataclass
class FinerBatch:
    candles: pl.DataFrame  # the day's intrabar_candles after the merge
    ledger: pl.DataFrame  # the day's intrabar_ledger after the merge
    requests: int = 0
    credits: int = 0
    minutes: int = 0


def finer_interval(interval: str) -> str:
    """A sub-minute interval dividing the minute ('15s', '1s', ...); raises ValueError otherwise."""
    iv = normalize_interval(interval)
    step = interval_seconds(iv)
    if not (step < MINUTE_S and MINUTE_S % step == 0):
        raise ValueError(f"refinement interval {interval!r}: expected seconds dividing a minute (1s, 15s, 30s)")
    return iv


def fetch_minutes(wh, source: CandleSource, minutes: pl.DataFrame, *, day: dt.date, interval: str,
                  now: int | None = None) -> FinerBatch:
    """The finer candles of `minutes` (chain, address, call_ts = the minute's open, first_call_ts: the token's
    anchor, as its 1m candles had), asked only where the day's ledger does not cover them; writes the day's
    intrabar_candles and intrabar_ledger (merged) and forgets the answers it stored."""
    interval = finer_interval(interval)
    step = interval_seconds(interval)
    old_ledger = wh.read(INTRABAR_LEDGER, where=[("day", "=", day)])
    old_candles = wh.read(INTRABAR_CANDLES, where=[("day", "=", day)])
    if minutes.height == 0:
        return FinerBatch(old_candles, old_ledger)
    journal = AnswerJournal(wh, INTRABAR_ANSWERS)
    paid = journal.read(source.name)

    def stored(ranges: pl.DataFrame) -> pl.DataFrame:
        return old_candles

    # a window of [minute, minute + 60): no candles before, the last finer candle of the minute included
    batch = collect_candles(minutes, day=day, source=source, ledger=old_ledger, read_stored=stored,
                            interval=interval, pre_window_s=0, horizon_s=MINUTE_S - step, now=now,
                            keep=journal.add, paid=paid)
    key_c = list(INTRABAR_CANDLES.key)
    key_l = list(INTRABAR_LEDGER.key)
    candles = pl.concat([batch.candles, old_candles], how="vertical_relaxed").unique(
        subset=key_c, keep="first", maintain_order=True).sort(key_c)
    ledger = pl.concat([batch.ledger.select(INTRABAR_LEDGER.columns).cast(old_ledger.schema),
                        old_ledger], how="vertical_relaxed").unique(
        subset=key_l, keep="first", maintain_order=True).sort(key_l)
    wh.write_partition(INTRABAR_CANDLES, {"day": day}, candles)
    wh.write_partition(INTRABAR_LEDGER, {"day": day}, ledger)
    journal.forget([a for a in batch.done_with() if a.worth_keeping])
    return FinerBatch(candles, ledger, requests=sum(int(a.row.get("requests") or 0) for a in batch.answers),
                      credits=sum(a.credits for a in batch.answers), minutes=minutes.height)
