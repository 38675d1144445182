"""Staging exports and deriving the calls table: the warehouse-facing side of Telegram ingestion.

An export is parsed once into `telegram_staged_calls` / `telegram_quarantine` (partitioned by export);
`telegram_calls` day partitions are then derived from every staged export together, because `first_call`
and `repeat` depend on calls in other chats, files and days (docs/semantics.md#calls).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from quantbot_pipelines.candles.pairs import (
    OfflinePairs,
    PairResolver,
    PairTokenStore,
    pairs_to_resolve,
    resolve_pairs,
)
from quantbot_pipelines.schemas import PAIR_TOKENS, TELEGRAM_CALLS, TELEGRAM_QUARANTINE, TELEGRAM_STAGED_CALLS
from quantbot_pipelines.telegram import ExportRef, finalize_calls, find_exports, parse_export
from quantbot_pipelines.warehouse import Warehouse


@dataclass
class StageResult:
    export_id: str
    stats: dict
    calls: int
    quarantined: int
    by_reason: dict[str, int]
    affected_days: list[dt.date] = field(default_factory=list)
    pairs: dict[str, int] = field(default_factory=dict)  # pair lookups of the export's calls, by status
    pair_requests: int = 0  # requests the lookups made (cached pairs make none)
    pair_answers: int = 0  # answers kept in pair_tokens by this staging


def all_calls(warehouse: Warehouse) -> pl.DataFrame:
    """Every call of every staged export, de-duplicated, pair calls re-keyed by the pair lookups kept in
    pair_tokens, and flagged (TELEGRAM_CALLS columns)."""
    staged = warehouse.read(TELEGRAM_STAGED_CALLS)
    if staged.is_empty():
        return pl.from_arrow(TELEGRAM_CALLS.empty())
    return finalize_calls(staged.sort("export_id"), pair_tokens=warehouse.read(PAIR_TOKENS))


def _day_digests(calls: pl.DataFrame) -> dict[dt.date, int]:
    """One order-independent digest per day, to tell which days' rows a new export changes."""
    if calls.is_empty():
        return {}
    # provenance columns stay out: the same messages arriving in a second file change no day
    content = [c for c in TELEGRAM_CALLS.columns if c not in ("source_file", "source_format")]
    hashed = calls.select(pl.col("day"), pl.struct(content).hash(seed=0).alias("h"))
    out = hashed.group_by("day").agg(pl.col("h").sort().hash(seed=1).first().alias("d"), pl.len().alias("n"))
    return {row[0]: hash((row[1], row[2])) for row in out.iter_rows()}


def stage_export(warehouse: Warehouse, ref: ExportRef, *, tz: str | None = None, bot_names: Iterable[str] = (),
                 pairs: PairResolver | None = None) -> StageResult:
    """Parse one export into the staging tables and look up the pairs its calls name (`pairs`; default: none
    looked up); return the days whose calls changed (or are missing)."""
    before = _day_digests(all_calls(warehouse))
    started = time.perf_counter()
    try:
        parsed = parse_export(ref.path, tz=tz, export_id=ref.key, bot_names=bot_names)
        calls, quarantine, stats = parsed.calls, parsed.quarantine, dict(parsed.stats)
    except (ValueError, OSError, UnicodeError) as exc:
        # an unreadable file is recorded, not lost, and does not stop the other exports
        calls = TELEGRAM_CALLS.empty()
        quarantine = pa.Table.from_pylist([{
            "export_id": ref.key, "seq": 0, "source_file": str(ref.path), "reason": "unreadable_export",
            "detail": f"{ref.path}: {exc}", "raw": None, "raw_bytes": ref.size,
        }], schema=TELEGRAM_QUARANTINE.schema)
        stats = {"messages": 0, "calls": 0, "quarantined": 1, "error": str(exc)}
    stats.setdefault("seconds", time.perf_counter() - started)
    staged = pl.from_arrow(calls).with_columns(pl.lit(ref.key).alias("export_id"))
    warehouse.write_partition(TELEGRAM_STAGED_CALLS, {"export_id": ref.key}, staged)
    warehouse.write_partition(TELEGRAM_QUARANTINE, {"export_id": ref.key}, quarantine)
    # pair addresses no card resolved: asked once ever, each answer kept the moment it arrives
    store = PairTokenStore(warehouse)
    resolved, answers = resolve_pairs(pairs_to_resolve(staged), pairs or OfflinePairs(), store.read(),
                                      on_answer=store.add)
    after = _day_digests(all_calls(warehouse))
    existing = {p["day"] for p in warehouse.partitions(TELEGRAM_CALLS)}
    changed = {d for d in before.keys() | after.keys() if before.get(d) != after.get(d)}
    missing = {d for d in after if d not in existing}
    q = pl.from_arrow(quarantine)
    by_reason = dict(q.group_by("reason").len().iter_rows()) if q.height else {}
    return StageResult(export_id=ref.key, stats=stats, calls=calls.num_rows, quarantined=q.height,
                       by_reason=by_reason, affected_days=sorted(changed | missing),
                       pairs=dict(resolved.group_by("status").len().sort("status").iter_rows()),
                       pair_requests=int(resolved.get_column("requests").sum()), pair_answers=answers.height)


def quarantine_on_days(warehouse: Warehouse, days: Iterable[dt.date]) -> pl.DataFrame:
    days = list(days)
    q = warehouse.read(TELEGRAM_QUARANTINE)
    if q.is_empty():
        return q
    return q.filter(pl.col("message_ts").dt.date().is_in(days))


def inbox_exports(inbox: Path) -> dict[str, ExportRef]:
    return {ref.key: ref for ref in find_exports(inbox)} if inbox.exists() else {}
