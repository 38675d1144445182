"""Answers kept the moment they arrive (`candle_answers`), so that nothing paid for is ever asked for again.

Each answer of the source (a window asked, what came back, the valid candles) is written to its own
`CANDLE_ANSWERS` partition before the next result is handed over. A run reads the journal before planning and
takes its answers as already paid: their ledger rows and candles join the day they belong to, and they cover
their windows for every day. An answer leaves the journal only once its day has been written to raw_candles and
candle_ledger. A refused key, a crash or a kill therefore costs at most the answers in flight: those that came
before are stored by the next run without a request.

Errors (no usable answer) and skipped windows are not kept: nothing came that could be stored, and they are
asked again anyway.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from quantbot_pipelines.candles.base import CANDLE_COLUMNS, FetchOutcome, empty_candles
from quantbot_pipelines.schemas import CANDLE_ANSWERS, CANDLE_LEDGER, TableSpec

if TYPE_CHECKING:
    from quantbot_pipelines.warehouse import Warehouse

LEDGER_TIMES = ("start_ts", "end_ts", "fetched_at", "retry_after")
NOT_KEPT = (FetchOutcome.ERROR, FetchOutcome.SKIPPED)


@dataclass
class Answer:
    """One answer as it will be stored: its candle_ledger row (times in epoch seconds) and its valid candles."""

    row: dict
    candles: pl.DataFrame = field(default_factory=empty_candles)
    credits: int = 0
    invalid: dict[str, int] = field(default_factory=dict)
    answer_id: str = ""

    def __post_init__(self) -> None:
        if not self.answer_id:
            self.answer_id = f"{self.row['day'].isoformat()}.{uuid.uuid4().hex}"

    @property
    def day(self) -> dt.date:
        return self.row["day"]

    @property
    def key(self) -> tuple:
        """The candle_ledger key of its row (source, chain, address, interval, start_ts)."""
        return tuple(self.row[c] for c in CANDLE_LEDGER.key)

    @property
    def worth_keeping(self) -> bool:
        return self.row["status"] not in {str(s) for s in NOT_KEPT}


def _utc(ts: int | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromtimestamp(int(ts), dt.UTC)


def answer_rows(a: Answer) -> pa.Table:
    """The CANDLE_ANSWERS rows of one answer: one per candle, or one without candle when it kept none."""
    header = {c: a.row.get(c) for c in CANDLE_ANSWERS.columns if c in a.row}
    header |= {c: _utc(a.row.get(c)) for c in LEDGER_TIMES}
    header |= {"answer_id": a.answer_id, "credits": a.credits,
               "invalid_reasons": orjson.dumps(a.invalid).decode() if a.invalid else None}
    head = pa.Table.from_pylist([header])
    if a.candles.is_empty():
        return CANDLE_ANSWERS.conform(head)
    # the header repeated by one gather, the candles as columns: no Python loop over candles
    rows = head.take(pa.array(np.zeros(a.candles.height, dtype=np.int64)))
    cand = a.candles.select(list(CANDLE_COLUMNS)).with_columns(
        pl.from_epoch("open_ts", time_unit="s").dt.replace_time_zone("UTC")).to_arrow()
    for c in CANDLE_COLUMNS:
        rows = rows.append_column(c, cand.column(c))
    return CANDLE_ANSWERS.conform(rows)


def answers_from(rows: pl.DataFrame) -> list[Answer]:
    """The answers of CANDLE_ANSWERS rows (as read back), oldest first."""
    if rows.is_empty():
        return []
    times = [c for c in (*LEDGER_TIMES, "open_ts") if c in rows.columns]
    rows = rows.with_columns(pl.col(c).dt.epoch("s") for c in times)
    out = []
    for (answer_id,), g in rows.group_by(["answer_id"], maintain_order=True):
        first = g.row(0, named=True)
        row = {c: first.get(c) for c in CANDLE_LEDGER.columns}
        candles = (g.filter(pl.col("open_ts").is_not_null()).select(list(CANDLE_COLUMNS))
                   .cast(CANDLE_COLUMNS).sort("open_ts"))
        invalid = orjson.loads(first["invalid_reasons"]) if first.get("invalid_reasons") else {}
        out.append(Answer(row=row, candles=candles, credits=int(first.get("credits") or 0), invalid=invalid,
                          answer_id=answer_id))
    return sorted(out, key=lambda a: (a.row["fetched_at"], a.answer_id))


class AnswerJournal:
    """CANDLE_ANSWERS in a warehouse: `add` each answer as it arrives, `read` them back, `forget` them once their
    day is stored."""

    def __init__(self, warehouse: Warehouse, table: TableSpec = CANDLE_ANSWERS):
        self.warehouse = warehouse
        self.table = table  # another journal of the same shape (intrabar_answers for finer candles)

    def add(self, answer: Answer) -> None:
        if answer.worth_keeping:
            self.warehouse.write_partition(self.table, {"answer_id": answer.answer_id}, answer_rows(answer))

    def read(self, source: str | None = None) -> list[Answer]:
        where = [("source", "=", source)] if source else None
        return answers_from(self.warehouse.read(self.table, where=where))

    def forget(self, answers: list[Answer]) -> None:
        for a in answers:
            self.warehouse.delete_partition(self.table, {"answer_id": a.answer_id})


__all__ = ["Answer", "AnswerJournal", "answer_rows", "answers_from"]
