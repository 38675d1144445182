"""The candles step over a range of call days, against a warehouse: what the raw_candles asset runs.

For each day: its calls are read, `collect_candles` asks the source for what neither the ledger nor the answer
journal holds, every answer is journaled the moment it arrives (`candle_answers`), then the day's raw_candles
and candle_ledger partitions are written, candles first (a ledger row never claims candles that are not
stored), and only then are the day's answers forgotten by the journal. Whatever stops the step (a refused key,
a crash, a kill), the answers that came are in the journal or the day's partitions, and the next run stores
them without asking again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from quantbot_pipelines.backtest import DEFAULT_HORIZON_S
from quantbot_pipelines.candles.base import CandleSource
from quantbot_pipelines.candles.collect import CandleBatch, collect_candles
from quantbot_pipelines.candles.journal import Answer, AnswerJournal
from quantbot_pipelines.candles.store import days_of, stored_candles, token_days
from quantbot_pipelines.schemas import CANDLE_LEDGER, RAW_CANDLES, TELEGRAM_CALLS
from quantbot_pipelines.warehouse import Warehouse

log = logging.getLogger(__name__)


@dataclass
class CandleDays:
    """Runs the step; its counters stay readable when `run` raises (what was kept before the failure)."""

    warehouse: Warehouse
    source: CandleSource
    interval: str = "1m"
    pre_window_s: int = 3600
    horizon_s: int = DEFAULT_HORIZON_S
    now: int | None = None
    log: logging.Logger = field(default=log)
    batches: dict[dt.date, CandleBatch] = field(default_factory=dict)
    kept: int = 0        # answers journaled by this run
    recovered: int = 0   # answers of earlier runs stored by this one, without a request
    forgotten: int = 0   # answers the journal let go once their day was written
    pending: int = 0     # answers left in the journal (days not in this run)

    def run(self, days: list[dt.date],
            on_day: Callable[[dt.date, CandleBatch], None] | None = None) -> dict[dt.date, CandleBatch]:
        wh, source = self.warehouse, self.source
        journal = AnswerJournal(wh)
        # the ledger is read once and held by day; a day looks only at the days that share a token with it
        # (token_days), so its cost follows its own calls, not the length of the history
        ledger = wh.read(CANDLE_LEDGER, where=[("source", "=", source.name)])
        by_day = {d: g for (d,), g in ledger.partition_by("day", as_dict=True).items()} if ledger.height else {}
        index = token_days(wh.read(TELEGRAM_CALLS, columns=["chain", "address", "day"]), ledger)
        empty_ledger = ledger.head(0)
        del ledger
        paid = journal.read(source.name)
        if paid:
            self.log.info("%d answers of an earlier run are kept in candle_answers: stored without asking again",
                          len(paid))

        def keep(a: Answer) -> None:
            journal.add(a)
            self.kept += 1

        for day in days:
            calls = wh.read(TELEGRAM_CALLS, where=[("day", "=", day)])
            near = days_of(index, calls)
            known = [by_day[d] for d in near if d in by_day]
            batch = collect_candles(
                calls, day=day, source=source,
                ledger=pl.concat(known, how="vertical_relaxed") if known else empty_ledger,
                read_stored=lambda r, near=near: stored_candles(wh, r, days=near),
                interval=self.interval, pre_window_s=self.pre_window_s, horizon_s=self.horizon_s, now=self.now,
                keep=keep, paid=paid)
            # candles before ledger: a ledger row must never claim candles that are not stored
            wh.write_partition(RAW_CANDLES, {"day": day}, batch.candles)
            wh.write_partition(CANDLE_LEDGER, {"day": day}, batch.ledger)
            # the day is written: its answers may leave the journal
            done = batch.done_with()
            journal.forget([a for a in done if a.worth_keeping])
            gone = {a.answer_id for a in done}
            paid = [a for a in paid if a.answer_id not in gone]
            self.recovered += len(batch.folded)
            self.forgotten += sum(a.worth_keeping for a in done)
            by_day[day] = batch.ledger.select(empty_ledger.columns).cast(empty_ledger.schema)
            if on_day is not None:
                on_day(day, batch)
            # what the run reports of the day, without its candles: memory stays flat over a long range
            self.batches[day] = CandleBatch(candles=batch.candles.head(0), ledger=batch.ledger.select("status"),
                                            stats=batch.stats, coverage=batch.coverage)
        self.pending = len(paid)
        return self.batches


__all__ = ["CandleDays"]
