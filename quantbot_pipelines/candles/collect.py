"""One call day's candles: stored candles reused, only the missing parts asked of the source, once.

For every token called that day the window union `[call - pre_window, call + horizon]` is needed
(docs/semantics.md). What the coverage ledger already holds is read back from the
warehouse (`read_stored`) and never requested again; neither is what an earlier run was answered but did not
store (`paid`: the journal's answers, journal.py). The rest is planned in `windows.plan_requests` and fetched.
Each answer is checked as it arrives (`validate.check_candles`: only valid candles are kept; an answer with
invalid ones is recorded as `invalid`, which does not complete its window) and handed to `keep` at once, before
anything else can go wrong. The result is the day's `raw_candles` partition and its `candle_ledger` rows.

A call whose address is a pair nobody resolved (`address_kind = pair`, docs/semantics.md#calls) names a pool,
not a token: it is never asked of the source, and shows in the coverage as `unresolved_pair`.
"""

from __future__ import annotations

import datetime as dt
import threading
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
    CandleRequest,
    CandleSource,
    FetchOutcome,
    FetchResult,
    floor_to,
    interval_seconds,
    normalize_interval,
)
from quantbot_pipelines.candles.journal import Answer
from quantbot_pipelines.candles.validate import REASONS, check_candles, describe_invalid
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
ANSWERED = {str(s) for s in (*COVERING, FetchOutcome.INVALID)}  # statuses of rows where an answer came


@dataclass
class CandleBatch:
    candles: pl.DataFrame
    ledger: pl.DataFrame
    stats: dict = field(default_factory=dict)
    coverage: pl.DataFrame = field(default_factory=pl.DataFrame)
    answers: list[Answer] = field(default_factory=list)  # what this run was answered (all, kept or not)
    folded: list[Answer] = field(default_factory=list)   # earlier answers of this day now in its rows
    settled: list[Answer] = field(default_factory=list)  # earlier answers of this day folded or superseded

    def done_with(self) -> list[Answer]:
        """The answers the journal may forget once this batch is written: this run's, and the earlier ones of
        the day that it holds (an earlier answer for a window the day no longer has stays for other days)."""
        return [*self.answers, *self.settled]


def _epoch(frame: pl.DataFrame, cols: tuple[str, ...]) -> pl.DataFrame:
    return frame.with_columns(
        *(pl.col(c).dt.epoch("s") if frame.schema[c].is_temporal() else pl.col(c).cast(pl.Int64)
          for c in cols if c in frame.columns))


def _ledger_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=CANDLE_LEDGER.schema)) if rows else \
        pl.from_arrow(CANDLE_LEDGER.empty())


def _retry_after(status: FetchOutcome, request: CandleRequest, source: CandleSource, now: int) -> int | None:
    """Empty answers for windows touching the last day may fill in (late indexing, a token just launched);
    older empty windows stay empty, so they are not asked again (unless the source is free to re-read).
    Invalid answers are asked again after as long as the window is old, at least `invalid_retry_s`: a handful
    of tries over the window's life (docs/semantics.md#valid-candles)."""
    if status == FetchOutcome.INVALID:
        if source.invalid_retry_s is None:
            return None
        return now + max(source.invalid_retry_s, now - request.end_ts)
    if status not in EMPTY or source.empty_retry_s is None:
        return None
    if request.end_ts > now - DAY_S or source.retry_empty_old:
        return now + source.empty_retry_s
    return None


def answer_of(res: FetchResult, *, day: dt.date, source: CandleSource, now: int) -> Answer:
    """A source's result as it will be stored: only its valid candles, and `invalid` when some were not."""
    req = res.request
    checked = check_candles(res.candles, req)
    status, detail = res.status, res.detail
    if checked.invalid_count:
        status = FetchOutcome.INVALID
        detail = "; ".join(d for d in (describe_invalid(checked.invalid), res.detail) if d)
    elif status == FetchOutcome.OK and checked.valid.is_empty():
        status, detail = FetchOutcome.NO_TRADES, "no candles in the window"
    candles = checked.valid if status in (FetchOutcome.OK, FetchOutcome.INVALID) else checked.valid.head(0)
    answered = str(status) in ANSWERED
    row = {
        "day": day, "source": source.name, "chain": req.chain, "address": req.address,
        "interval": normalize_interval(req.interval), "start_ts": req.start_ts, "end_ts": req.end_ts,
        "status": str(status), "candles": candles.height, "requests": res.requests, "detail": detail,
        "fetched_at": now, "retry_after": _retry_after(status, req, source, now),
        "pool_address": res.pool_address, "invalid_candles": checked.invalid_count if answered else None,
        "pool_liquidity_usd": res.pool_liquidity_usd,
    }
    return Answer(row=row, candles=candles, credits=res.credits, invalid=checked.invalid)


def _split_pairs(calls: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(calls of tokens, calls whose address is an unresolved pair); calls without address_kind are tokens."""
    if calls.is_empty() or "address_kind" not in calls.columns:
        return calls, calls.head(0)
    pair = pl.col("address_kind").fill_null("") == UNRESOLVED_PAIR_KIND
    return calls.filter(~pair), calls.filter(pair)


def _tokens_of(windows: list[TokenWindows]) -> pl.DataFrame:
    return pl.DataFrame([(w.chain, w.address) for w in windows], schema={"chain": pl.String, "address": pl.String},
                        orient="row")


def _overlaps(row: dict, spans: list[tuple[int, int]]) -> bool:
    return any(row["start_ts"] < e and row["end_ts"] > s for s, e in spans)


def _candle_rows(a: Answer, interval: str) -> pl.DataFrame:
    return a.candles.with_columns(pl.lit(a.row["chain"]).alias("chain"), pl.lit(a.row["address"]).alias("address"),
                                  pl.lit(interval).alias("interval"), pl.lit(a.row["source"]).alias("source"))


def collect_candles(calls: pl.DataFrame, *, day: dt.date, source: CandleSource, ledger: pl.DataFrame,
                    read_stored: Callable[[pl.DataFrame], pl.DataFrame], interval: str = "1m",
                    pre_window_s: int = 3600, horizon_s: int = DEFAULT_HORIZON_S,
                    now: int | None = None, keep: Callable[[Answer], None] | None = None,
                    paid: list[Answer] | None = None) -> CandleBatch:
    """The day's candles and ledger rows. `keep` is handed each answer worth keeping the moment it arrives
    (before the next is handed over; an exception there stops the run). `paid`: answers an earlier run got but
    did not store (any day): never asked again; those of `day` become its rows, and their candles serve every
    window they overlap."""
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
    spans_of = {(w.chain, w.address): w.spans for w in fetchable}

    old = ledger if ledger is not None and not ledger.is_empty() else pl.from_arrow(CANDLE_LEDGER.empty())
    # the rest of the ledger cannot cover, plan or fill any of the day's windows: narrowed first, so that a
    # day costs its own tokens whatever the ledger's size
    old = old.join(_tokens_of(windows), on=["chain", "address"], how="semi")
    if "source" in old.columns:
        old = old.filter(pl.col("source") == source.name)
    old = _epoch(old, ("start_ts", "end_ts", "fetched_at", "retry_after"))
    paid = [a for a in (paid or []) if a.row["source"] == source.name and a.row["interval"] == interval]
    paid_rows = _epoch(_ledger_frame([a.row for a in paid]), ("start_ts", "end_ts", "fetched_at", "retry_after"))
    known = pl.concat([old.select(CANDLE_LEDGER.columns).with_columns(pl.col("day").cast(pl.Date)),
                       paid_rows.select(CANDLE_LEDGER.columns)], how="vertical_relaxed")

    plan = plan_requests(fetchable, known, interval=interval, now=now, max_candles=source.max_candles_per_request)

    # -- each answer checked and kept the moment it arrives ------------------------------------------------
    answers: list[Answer] = []
    seen: set[int] = set()
    lock = threading.Lock()

    def arrived(res: FetchResult) -> None:
        with lock:
            if id(res) in seen:
                return
            seen.add(id(res))
            a = answer_of(res, day=day, source=source, now=now)
            if keep is not None and a.worth_keeping:
                keep(a)
            answers.append(a)

    results = source.fetch_many(plan, on_result=arrived) if plan else []
    for r in results:  # a source that did not report some result as it came
        arrived(r)

    # -- ledger rows: new answers, earlier answers of this day (journal, then ledger) that still serve it --
    new_rows = [a.row for a in answers]
    for w in skipped:
        reason = "unknown chain: never guessed" if w.chain in ("", "unknown", None) else \
            f"chain {w.chain!r} not served by {source.name}"
        new_rows += [{"day": day, "source": source.name, "chain": w.chain, "address": w.address, "interval": interval,
                      "start_ts": s, "end_ts": e, "status": str(FetchOutcome.SKIPPED), "candles": 0, "requests": 0,
                      "detail": reason, "fetched_at": now, "retry_after": None, "pool_address": None,
                      "invalid_candles": None, "pool_liquidity_usd": None}
                     for s, e in w.spans]
    taken = {(r["chain"], r["address"], r["start_ts"]) for r in new_rows}
    folded: list[Answer] = []
    settled: list[Answer] = []
    for a in reversed(paid):  # newest first: of two answers for one window, the later one holds
        k = (a.row["chain"], a.row["address"], a.row["start_ts"])
        if a.day != day:
            continue
        if k in taken:
            settled.append(a)  # superseded by a later answer
        elif _overlaps(a.row, spans_of.get(k[:2], [])):
            folded.append(a)
            settled.append(a)
            taken.add(k)
    folded.reverse()
    kept = []
    if not old.is_empty() and "day" in old.columns:
        still = (pl.col("status").is_in([str(s) for s in COVERING])
                 & (pl.col("retry_after").is_null() | (pl.col("retry_after") > now))) | (
            (pl.col("status") == str(FetchOutcome.INVALID)) & (pl.col("retry_after") > now))
        for r in old.filter((pl.col("day") == day) & (pl.col("interval") == interval) & still).iter_rows(named=True):
            if (r["chain"], r["address"], r["start_ts"]) not in taken and \
                    _overlaps(r, spans_of.get((r["chain"], r["address"]), [])):
                kept.append({c: r.get(c) for c in CANDLE_LEDGER.columns} | {"day": day})
    day_ledger = _ledger_frame(kept + [a.row for a in folded] + new_rows).sort("chain", "address", "start_ts")

    # -- candles: stored ones inside the windows, then those of earlier answers, then the fetched gaps -----
    ranges = pl.DataFrame(
        [(w.chain, w.address, interval, s, e) for w in fetchable for s, e in w.spans],
        schema={"chain": pl.String, "address": pl.String, "interval": pl.String, "start_ts": pl.Int64,
                "end_ts": pl.Int64}, orient="row")
    parts = []
    stored = read_stored(ranges) if ranges.height else None
    if stored is not None and not stored.is_empty():
        parts.append(_epoch(stored.select(RAW_CANDLES.columns), ("open_ts",))
                     .with_columns(pl.col(c).cast(pl.Float64)
                                   for c in ("open", "high", "low", "close", "volume_usd", "volume_tokens"))
                     .drop("day"))
    cols = [c for c in RAW_CANDLES.columns if c != "day"]
    parts += [_candle_rows(a, interval).select(cols) for a in paid if a.candles.height]
    fetched = [_candle_rows(a, interval) for a in answers if a.candles.height]
    parts += [f.select(cols) for f in fetched]
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
    all_rows = pl.concat([known, _epoch(day_ledger, ("start_ts", "end_ts", "fetched_at", "retry_after"))],
                         how="vertical_relaxed")
    covered = covered_spans(all_rows, interval=interval, now=now)
    per_token = candles.group_by("chain", "address").len() if candles.height else None
    n_candles = {(r[0], r[1]): r[2] for r in per_token.iter_rows()} if per_token is not None else {}
    res_by: dict[tuple[str, str], list[Answer]] = defaultdict(list)
    for a in answers:
        res_by[(a.row["chain"], a.row["address"])].append(a)
    status_rows = all_rows.filter(pl.col("status").is_in([str(s) for s in COVERING])) \
        .group_by("chain", "address").agg(pl.col("status").unique())
    statuses = {(r[0], r[1]): set(r[2]) for r in status_rows.iter_rows()}
    invalid_tokens = set(day_ledger.filter(pl.col("status") == str(FetchOutcome.INVALID))
                         .select("chain", "address").iter_rows())
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
            seen_statuses = statuses.get(k, set())
            if any(a.row["status"] == str(FetchOutcome.ERROR) for a in mine):
                status = "error"
            elif k in invalid_tokens:
                status = str(FetchOutcome.INVALID)
            elif n_candles.get(k):
                status = "ok" if done else "incomplete"
            else:
                status = next((s for s in ("token_unknown", "bad_request", "no_trades") if s in seen_statuses),
                              "pending")
        cov_rows.append({"chain": w.chain, "address": w.address, "calls": w.calls,
                         "window_start": dt.datetime.fromtimestamp(w.spans[0][0], dt.UTC),
                         "window_end": dt.datetime.fromtimestamp(w.spans[-1][1], dt.UTC),
                         "candles": n_candles.get(k, 0), "requests": sum(a.row["requests"] for a in mine),
                         "status": status})
    cov_rows += [{"chain": w.chain, "address": w.address, "calls": w.calls,
                  "window_start": dt.datetime.fromtimestamp(w.spans[0][0], dt.UTC),
                  "window_end": dt.datetime.fromtimestamp(w.spans[-1][1], dt.UTC),
                  "candles": 0, "requests": 0, "status": UNRESOLVED_PAIR} for w in pair_windows]
    coverage = pl.DataFrame(cov_rows, schema={
        "chain": pl.String, "address": pl.String, "calls": pl.Int64,
        "window_start": pl.Datetime("us", "UTC"), "window_end": pl.Datetime("us", "UTC"),
        "candles": pl.Int64, "requests": pl.Int64, "status": pl.String})
    by_status = Counter(r["status"] for r in cov_rows)
    invalid = Counter()
    for a in [*answers, *folded]:
        invalid.update(a.invalid)
    errors_by_detail = Counter(a.row["detail"] or "error" for a in answers
                               if a.row["status"] == str(FetchOutcome.ERROR))
    stats = {
        "tokens": len(windows), "requests": sum(a.row["requests"] for a in answers),
        "credits": sum(a.credits for a in answers), "windows_complete": int(complete),
        "windows_incomplete": int(incomplete), "skipped_unknown_chain": len(skipped),
        "skipped_unresolved_pair": len(pair_windows), "unresolved_pair_calls": pair_calls.height,
        "errors": by_status.get("error", 0), "by_status": dict(by_status),
        "candles": candles.height, "candles_fetched": sum(f.height for f in fetched),
        # tokens asked this run, and those of them whose every answer failed
        "tokens_fetched": len(res_by), "tokens_failed": by_status.get("error", 0),
        "errors_by_detail": dict(errors_by_detail),
        "invalid_windows": sum(a.row["status"] == str(FetchOutcome.INVALID) for a in [*answers, *folded]),
        "invalid_candles": {r: invalid[r] for r in REASONS if invalid.get(r)},
        "answers_recovered": len(folded),
        "requests_recovered": sum(a.row["requests"] or 0 for a in folded),
    }
    return CandleBatch(candles=candles, ledger=day_ledger, stats=stats, coverage=coverage, answers=answers,
                       folded=folded, settled=settled)


__all__ = ["CandleBatch", "TokenWindows", "answer_of", "collect_candles", "merge_spans"]
