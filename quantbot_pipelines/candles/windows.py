"""Which candles a day needs, and which of them must still be asked for.

`token_windows`: per token, the union of `[call - pre_window, call + horizon]` over its calls, aligned to the
interval and merged (overlapping calls share one window). `plan_requests`: those windows minus what the
coverage ledger already holds, cut at `now` (the candle in progress is not complete) and split into chunks a
source accepts. A ledger row covers its range while its status is ok, no_trades, token_unknown or bad_request
and its retry_after (if any) is still ahead; error and skipped rows never cover. An invalid row never covers
(its window is not complete), but it is not asked again before its retry_after
(docs/semantics.md#valid-candles).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from quantbot_pipelines.candles.base import COVERING, CandleRequest, FetchOutcome, floor_to, interval_seconds

Span = tuple[int, int]


def _as_epoch(frame: pl.DataFrame, cols: tuple[str, ...]) -> pl.DataFrame:
    return frame.with_columns(
        *(pl.col(c).dt.epoch("s") if frame.schema[c].is_temporal() else pl.col(c).cast(pl.Int64)
          for c in cols if c in frame.columns))


def merge_spans(spans: list[Span]) -> list[Span]:
    """Union of half-open spans; touching spans join."""
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def subtract_spans(spans: list[Span], minus: list[Span]) -> list[Span]:
    """Parts of `spans` not inside any of `minus` (both half-open)."""
    cut = merge_spans(minus)
    out: list[Span] = []
    for s, e in merge_spans(spans):
        cur = s
        for ms, me in cut:
            if me <= cur or ms >= e:
                continue
            if ms > cur:
                out.append((cur, ms))
            cur = max(cur, me)
            if cur >= e:
                break
        if cur < e:
            out.append((cur, e))
    return out


@dataclass
class TokenWindows:
    chain: str
    address: str
    calls: int
    first_call_ts: int     # earliest call of the token this day
    anchor_ts: int         # the token's first call across all chats (fallback: first call this day)
    spans: list[Span]      # merged, aligned, end exclusive


def token_windows(calls: pl.DataFrame, *, interval: str, pre_window_s: int, horizon_s: int) -> list[TokenWindows]:
    """Merged candle windows per (chain, address) of the calls. The candle holding `call + horizon` is included,
    so an entry a little after the call still has its full horizon's open times."""
    if calls.is_empty():
        return []
    step = interval_seconds(interval)
    c = _as_epoch(calls.select([x for x in ("chain", "address", "call_ts", "first_call_ts") if x in calls.columns]),
                  ("call_ts", "first_call_ts"))
    if "first_call_ts" not in c.columns:
        c = c.with_columns(pl.lit(None, pl.Int64).alias("first_call_ts"))
    c = c.with_columns(
        ((pl.col("call_ts") - pre_window_s) // step * step).alias("_s"),
        ((pl.col("call_ts") + horizon_s) // step * step + step).alias("_e"))
    out = []
    for (chain, address), g in c.sort("chain", "address", "call_ts").group_by(["chain", "address"],
                                                                              maintain_order=True):
        first = int(g["call_ts"].min())
        anchor = g["first_call_ts"].min()
        out.append(TokenWindows(
            chain=chain, address=address, calls=g.height, first_call_ts=first,
            anchor_ts=int(anchor) if anchor is not None else first,
            spans=merge_spans(list(zip(g["_s"].to_list(), g["_e"].to_list(), strict=True)))))
    return out


def covered_spans(ledger: pl.DataFrame, *, interval: str, now: int,
                  deferred: bool = False) -> dict[tuple[str, str], list[Span]]:
    """(chain, address) -> merged spans the ledger covers at `now` for this interval; with `deferred`, also the
    spans of invalid answers not to be asked again yet (what planning leaves out, but completeness does not)."""
    if ledger.is_empty():
        return {}
    lg = _as_epoch(ledger, ("start_ts", "end_ts", "retry_after"))
    covering = pl.col("status").is_in([str(s) for s in COVERING]) & (
        pl.col("retry_after").is_null() | (pl.col("retry_after") > now))
    if deferred:
        covering = covering | ((pl.col("status") == str(FetchOutcome.INVALID)) & (pl.col("retry_after") > now))
    lg = lg.filter((pl.col("interval") == interval) & covering)
    out: dict[tuple[str, str], list[Span]] = {}
    for (chain, address), g in lg.group_by(["chain", "address"]):
        out[(chain, address)] = merge_spans(list(zip(g["start_ts"].to_list(), g["end_ts"].to_list(), strict=True)))
    return out


def known_pools(ledger: pl.DataFrame) -> dict[tuple[str, str], str]:
    """The pool a pool-keyed source used last for each token (kept, so a series is not stitched from two pools)."""
    if ledger.is_empty() or "pool_address" not in ledger.columns:
        return {}
    lg = ledger.filter(pl.col("pool_address").is_not_null()).sort("fetched_at")
    return {(r["chain"], r["address"]): r["pool_address"] for r in lg.iter_rows(named=True)}


def plan_requests(windows: list[TokenWindows], ledger: pl.DataFrame, *, interval: str, now: int,
                  max_candles: int | None) -> list[CandleRequest]:
    """The requests still needed: windows up to `now` (aligned down) minus ledger coverage (and invalid answers
    not due again yet), in chunks of at most `max_candles` candles."""
    step = interval_seconds(interval)
    cut = floor_to(now, step)
    covered = covered_spans(ledger, interval=interval, now=now, deferred=True)
    pools = known_pools(ledger)
    out: list[CandleRequest] = []
    for w in windows:
        wanted = [(s, min(e, cut)) for s, e in w.spans]
        for s, e in subtract_spans(wanted, covered.get((w.chain, w.address), [])):
            size = (max_candles or 0) * step or (e - s)
            for cs in range(s, e, size):
                out.append(CandleRequest(w.chain, w.address, interval, cs, min(e, cs + size),
                                         anchor_ts=w.anchor_ts, pool_address=pools.get((w.chain, w.address))))
    return out


def to_utc(ts: int | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromtimestamp(int(ts), dt.UTC)


__all__ = ["TokenWindows", "covered_spans", "merge_spans", "plan_requests", "subtract_spans",
           "token_windows"]
