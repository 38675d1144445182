"""One call day's candles: stored candles reused, only the missing parts asked of the source, once.

For every token called that day the window union `[call - pre_window, call + horizon]` is needed
(docs/semantics.md). What the coverage ledger already holds is read back from the
warehouse (`read_stored`) and never requested again; the rest is planned in `windows.plan_requests` and fetched.
The result is the day's `raw_candles` partition and its `candle_ledger` rows.

A call whose address is a pair nobody resolved (`address_kind = pair`, docs/semantics.md#calls) names a pool,
not a token: it is never asked of the source, and shows in the coverage as `unresolved_pair`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa

from quantbot_pipelines.backtest import DEFAULT_HORIZON_S
from quantbot_pipelines.candles.base import (
    COVERING,
    EMPTY,
    CandleSource,
    FetchOutcome,
    FetchResult,
    floor_to,
    interval_seconds,
    normalize_interval,
)
from quantbot_pipelines.candles.windows import (
    TokenWindows,
    covered_spans,
    merge_spans,
    plan_requests,
    subtract_spans,
    token_windows,
)
from quantbot_pipelines.schemas import CANDLE_LEDGER, RAW_CANDLES

DAY_S = 86400
KEY = ["chain", "address", "interval", "open_ts"]
UNRESOLVED_PAIR_KIND = "pair"         # address_kind of a call that still names a pool
UNRESOLVED_PAIR = "unresolved_pair"   # its coverage status: not asked, no candles


@dataclass
class CandleBatch:
    candles: pl.DataFrame
    ledger: pl.DataFrame
    stats: dict = field(default_factory=dict)
    coverage: pl.DataFrame = field(default_factory=pl.DataFrame)


def _epoch(frame: pl.DataFrame, cols: tuple[str, ...]) -> pl.DataFrame:
    return frame.with_columns(
        *(pl.col(c).dt.epoch("s") if frame.schema[c].is_temporal() else pl.col(c).cast(pl.Int64)
          for c in cols if c in frame.columns))


def _ledger_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=CANDLE_LEDGER.schema)) if rows else \
        pl.from_arrow(CANDLE_LEDGER.empty())


def _retry_after(res: FetchResult, source: CandleSource, now: int) -> int | None:
    """Empty answers for windows touching the last day may fill in (late indexing, a token just launched);
    older empty windows stay empty, so they are not asked again (unless the source is free to re-read)."""
    if res.status not in EMPTY or source.empty_retry_s is None:
        return None
    if res.request.end_ts > now - DAY_S or source.retry_empty_old:
        return now + source.empty_retry_s
    return None


def _split_pairs(calls: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(calls of tokens, calls whose address is an unresolved pair); calls without address_kind are tokens."""
    if calls.is_empty() or "address_kind" not in calls.columns:
        return calls, calls.head(0)
    pair = pl.col("address_kind").fill_null("") == UNRESOLVED_PAIR_KIND
    return calls.filter(~pair), calls.filter(pair)


def collect_candles(calls: pl.DataFrame, *, day: dt.date, source: CandleSource, ledger: pl.DataFrame,
                    read_stored: Callable[[pl.DataFrame], pl.DataFrame], interval: str = "1m",
                    pre_window_s: int = 3600, horizon_s: int = DEFAULT_HORIZON_S,
                    now: int | None = None) -> CandleBatch:
    interval = normalize_interval(interval)
    step = interval_seconds(interval)
    now = int(time.time()) if now is None else int(now)
    cut = floor_to(now, step)
    calls, pair_calls = _split_pairs(calls)
    windows = token_windows(calls, interval=interval, pre_window_s=pre_window_s, horizon_s=horizon_s)
    pair_windows = token_windows(pair_calls, interval=interval, pre_window_s=pre_window_s, horizon_s=horizon_s)
    fetchable = [w for w in windows if source.chain_id(w.chain) is not None]
    skipped = [w for w in windows if source.chain_id(w.chain) is None]
    skipped_keys = {(w.chain, w.address) for w in skipped}

    old = ledger if ledger is not None and not ledger.is_empty() else pl.from_arrow(CANDLE_LEDGER.empty())
    if "source" in old.columns:
        old = old.filter(pl.col("source") == source.name)
    old = _epoch(old, ("start_ts", "end_ts", "fetched_at", "retry_after"))

    plan = plan_requests(fetchable, old, interval=interval, now=now, max_candles=source.max_candles_per_request)
    results = source.fetch_many(plan) if plan else []

    # -- ledger rows: new answers, plus this day's earlier rows that still cover its windows --------------
    new_rows = [{
        "day": day, "source": source.name, "chain": r.request.chain, "address": r.request.address,
        "interval": interval, "start_ts": r.request.start_ts, "end_ts": r.request.end_ts, "status": str(r.status),
        "candles": r.candles.height, "requests": r.requests, "detail": r.detail, "fetched_at": now,
        "retry_after": _retry_after(r, source, now), "pool_address": r.pool_address,
    } for r in results]
    for w in skipped:
        reason = "unknown chain: never guessed" if w.chain in ("", "unknown", None) else \
            f"chain {w.chain!r} not served by {source.name}"
        new_rows += [{"day": day, "source": source.name, "chain": w.chain, "address": w.address, "interval": interval,
                      "start_ts": s, "end_ts": e, "status": str(FetchOutcome.SKIPPED), "candles": 0, "requests": 0,
                      "detail": reason, "fetched_at": now, "retry_after": None, "pool_address": None}
                     for s, e in w.spans]
    new_keys = {(r["chain"], r["address"], r["start_ts"]) for r in new_rows}
    spans_of = {(w.chain, w.address): w.spans for w in fetchable}
    kept = []
    if not old.is_empty() and "day" in old.columns:
        for r in old.filter((pl.col("day") == day) & (pl.col("interval") == interval)
                            & pl.col("status").is_in([str(s) for s in COVERING])
                            & (pl.col("retry_after").is_null() | (pl.col("retry_after") > now))
                            ).iter_rows(named=True):
            spans = spans_of.get((r["chain"], r["address"]), [])
            if (r["chain"], r["address"], r["start_ts"]) not in new_keys and \
                    any(r["start_ts"] < e and r["end_ts"] > s for s, e in spans):
                kept.append({c: r.get(c) for c in CANDLE_LEDGER.columns} | {"day": day})
    day_ledger = _ledger_frame(kept + new_rows).sort("chain", "address", "start_ts")

    # -- candles: stored ones inside the windows, then the fetched gaps ----------------------------------
    ranges = pl.DataFrame(
        [(w.chain, w.address, interval, s, e) for w in fetchable for s, e in w.spans],
        schema={"chain": pl.String, "address": pl.String, "interval": pl.String, "start_ts": pl.Int64,
                "end_ts": pl.Int64}, orient="row")
    parts = []
    stored = read_stored(ranges) if ranges.height else None
    if stored is not None and not stored.is_empty():
        parts.append(_epoch(stored.select(RAW_CANDLES.columns), ("open_ts",))
                     .with_columns(pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close", "volume_usd"))
                     .drop("day"))
    fetched = [r.candles.with_columns(pl.lit(r.request.chain).alias("chain"), pl.lit(r.request.address).alias("address"),
                                      pl.lit(interval).alias("interval"), pl.lit(source.name).alias("source"))
               for r in results if r.status == FetchOutcome.OK and r.candles.height]
    parts += [f.select([c for c in RAW_CANDLES.columns if c != "day"]) for f in fetched]
    if parts:
        cand = pl.concat(parts, how="vertical_relaxed").unique(subset=KEY, keep="first", maintain_order=True)
        inside = ranges.join(cand, on=["chain", "address", "interval"], how="inner").filter(
            (pl.col("open_ts") >= pl.col("start_ts")) & (pl.col("open_ts") < pl.col("end_ts")))
        cand = inside.select(cand.columns).sort(KEY)
    else:
        cand = pl.DataFrame(schema={"chain": pl.String, "address": pl.String, "interval": pl.String,
                                    "open_ts": pl.Int64})
    cand = cand.with_columns(pl.lit(day).alias("day"),
                             pl.from_epoch(pl.col("open_ts"), time_unit="s").dt.replace_time_zone("UTC"))
    candles = pl.from_arrow(RAW_CANDLES.conform(cand.to_arrow())) if cand.height else \
        pl.from_arrow(RAW_CANDLES.empty())

    # -- per-token coverage: complete when ledger rows cover the whole window and it lies before now -------
    all_rows = pl.concat([old.select(CANDLE_LEDGER.columns).with_columns(pl.col("day").cast(pl.Date)),
                          _epoch(day_ledger, ("start_ts", "end_ts", "fetched_at", "retry_after"))],
                         how="vertical_relaxed")
    covered = covered_spans(all_rows, interval=interval, now=now)
    per_token = candles.group_by("chain", "address").len() if candles.height else None
    n_candles = {(r[0], r[1]): r[2] for r in per_token.iter_rows()} if per_token is not None else {}
    res_by: dict[tuple[str, str], list[FetchResult]] = defaultdict(list)
    for r in results:
        res_by[(r.request.chain, r.request.address)].append(r)
    status_rows = all_rows.filter(pl.col("status").is_in([str(s) for s in COVERING])) \
        .group_by("chain", "address").agg(pl.col("status").unique())
    statuses = {(r[0], r[1]): set(r[2]) for r in status_rows.iter_rows()}
    cov_rows = []
    complete = incomplete = 0
    for w in windows:
        k = (w.chain, w.address)
        mine = res_by.get(k, [])
        if k in skipped_keys:
            status = "skipped"
        else:
            missing = subtract_spans(w.spans, covered.get(k, []))
            done = not missing and max(e for _, e in w.spans) <= cut
            complete += done
            incomplete += not done
            seen = statuses.get(k, set())
            if any(r.status == FetchOutcome.ERROR for r in mine):
                status = "error"
            elif n_candles.get(k):
                status = "ok" if done else "incomplete"
            else:
                status = next((s for s in ("token_unknown", "bad_request", "no_trades") if s in seen), "pending")
        cov_rows.append({"chain": w.chain, "address": w.address, "calls": w.calls,
                         "window_start": dt.datetime.fromtimestamp(w.spans[0][0], dt.UTC),
                         "window_end": dt.datetime.fromtimestamp(w.spans[-1][1], dt.UTC),
                         "candles": n_candles.get(k, 0), "requests": sum(r.requests for r in mine), "status": status})
    cov_rows += [{"chain": w.chain, "address": w.address, "calls": w.calls,
                  "window_start": dt.datetime.fromtimestamp(w.spans[0][0], dt.UTC),
                  "window_end": dt.datetime.fromtimestamp(w.spans[-1][1], dt.UTC),
                  "candles": 0, "requests": 0, "status": UNRESOLVED_PAIR} for w in pair_windows]
    coverage = pl.DataFrame(cov_rows, schema={
        "chain": pl.String, "address": pl.String, "calls": pl.Int64,
        "window_start": pl.Datetime("us", "UTC"), "window_end": pl.Datetime("us", "UTC"),
        "candles": pl.Int64, "requests": pl.Int64, "status": pl.String})
    by_status = Counter(r["status"] for r in cov_rows)
    stats = {
        "tokens": len(windows), "requests": sum(r.requests for r in results),
        "credits": sum(r.credits for r in results), "windows_complete": int(complete),
        "windows_incomplete": int(incomplete), "skipped_unknown_chain": len(skipped),
        "skipped_unresolved_pair": len(pair_windows), "unresolved_pair_calls": pair_calls.height,
        "errors": by_status.get("error", 0), "by_status": dict(by_status),
        "candles": candles.height, "candles_fetched": sum(f.height for f in fetched),
    }
    return CandleBatch(candles=candles, ledger=day_ledger, stats=stats, coverage=coverage)


__all__ = ["CandleBatch", "TokenWindows", "collect_candles", "merge_spans"]
