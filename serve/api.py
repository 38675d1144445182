"""The read API under /api/v1 (docs/api.md): routes over the read model, with response models so that
/openapi.json documents the shapes answered. Item fields are the tables' columns (docs/schemas.md), their
types and meanings taken from quantbot_pipelines/schemas.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Generic, TypeVar

import polars as pl
import pyarrow as pa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from quantbot_pipelines.schemas import ALL_TABLES
from serve.errors import ApiError, ErrorResponse
from serve.reader import (
    CALL_LIST_COLUMNS,
    WINDOWS_RE,
    NotFound,
    Reader,
    iso_time,
    page,
    plain,
    records,
    split_names,
)
from serve.settings import ServeSettings

CSV_MAX_ROWS = 10_000
DEFAULT_LIMIT = 50

try:
    VERSION = version("quantbot-pipelines")
except PackageNotFoundError:  # pragma: no cover - run from a checkout without install
    VERSION = "0.0.0"


# -- models ----------------------------------------------------------------------------------------------------

def _python_type(type_: pa.DataType) -> tuple[type, dict]:
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return str, {}
    if pa.types.is_integer(type_):
        return int, {}
    if pa.types.is_floating(type_):
        return float, {}
    if pa.types.is_boolean(type_):
        return bool, {}
    if pa.types.is_date(type_):
        return str, {"format": "date"}
    if pa.types.is_timestamp(type_):
        return str, {"format": "date-time"}
    raise TypeError(f"no API type for {type_}")


def _column(field: pa.Field, nullable: bool | None = None) -> tuple[Any, Any]:
    py, extra = _python_type(field.type)
    doc = (field.metadata or {}).get(b"doc", b"").decode() or None
    null = field.nullable if nullable is None else nullable
    return (py | None if null else py), Field(description=doc, json_schema_extra=extra or None)


def table_model(name: str, table: str, *, drop: tuple[str, ...] = (), only: list[str] | None = None,
                extra: dict[str, tuple[Any, Any]] | None = None, nullable: bool | None = None) -> type[BaseModel]:
    """A pydantic model of a table's rows (every field present, nullable as the schema says)."""
    spec = ALL_TABLES[table]
    fields: dict[str, tuple[Any, Any]] = {}
    for field in spec.schema:
        if field.name in drop or (only is not None and field.name not in only):
            continue
        fields[field.name] = _column(field, nullable)
    fields.update(extra or {})
    return create_model(name, __doc__=spec.doc, __config__=ConfigDict(extra="forbid"), **fields)


def _url(doc: str) -> tuple[Any, Any]:
    return (str, Field(description=doc))


def _opt_url(doc: str) -> tuple[Any, Any]:
    return (str | None, Field(description=doc))


CallerBoardRow = table_model("CallerBoardRow", "caller_boards",
                             extra={"caller_url": _url("the caller's dashboard page")})
CallerLeaderboardRow = table_model("CallerLeaderboardRow", "caller_leaderboard")
CallerStrategyRow = table_model("CallerStrategyRow", "caller_strategy_leaderboard",
                                extra={"caller_url": _url("the caller's dashboard page")})
CallRow = table_model("CallRow", "telegram_calls",
                      extra={"dex_url": _opt_url("DEX Screener page of the token (null for chains it does not name)")})
AnalyticsRow = table_model("AnalyticsRow", "token_analytics")
StrategyRow = table_model("StrategyRow", "strategy_leaderboard",
                          extra={"strategy_url": _url("the strategy's dashboard page")})
BookRow = table_model("BookRow", "portfolio_books")
TokenRow = table_model("TokenRow", "token_leaderboard",
                       extra={"dex_url": _opt_url("DEX Screener page of the token")})
QuarantineRow = table_model("QuarantineRow", "telegram_quarantine", drop=("raw_bytes",))
WalkForwardRow = table_model("WalkForwardRow", "walk_forward", drop=("random_sums", "random_counts"))
WalkForwardSummaryRow = table_model("WalkForwardSummaryRow", "walk_forward_summary")


class Fill(BaseModel):
    ts: str = Field(json_schema_extra={"format": "date-time"})
    price: float | None
    share: float | None = Field(description="fraction of the position sold (or bought) at this fill")
    reason: str | None


TradeRow = table_model("TradeRow", "simulation_results", drop=("fills",),
                       extra={"fills": (list[Fill], Field(description="the trade's fills, in time order"))})


def _call_list_fields() -> dict[str, tuple[Any, Any]]:
    calls, analytics = ALL_TABLES["telegram_calls"].schema, ALL_TABLES["token_analytics"].schema
    fields: dict[str, tuple[Any, Any]] = {}
    for name in CALL_LIST_COLUMNS:
        if name in ("dex_url", "call_url"):
            continue
        if name in calls.names:
            fields[name] = _column(calls.field(name))
        else:  # from token_analytics, null when the call has no analytics row yet
            fields[name] = _column(analytics.field(name), nullable=True)
    fields["dex_url"] = _opt_url("DEX Screener page of the token")
    fields["call_url"] = _url("the call's dashboard page")
    return fields


CallListRow = create_model("CallListRow", __config__=ConfigDict(extra="forbid"), **_call_list_fields())

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="items matching, before paging")
    limit: int
    offset: int
    next: str | None = Field(description="the next page's URL (path and query), null on the last page")


class Health(BaseModel):
    status: str
    version: str
    warehouse: str = Field(description="parquet, chdb or clickhouse")
    calls: int
    data_as_of: str | None = Field(description="time of the newest call", json_schema_extra={"format": "date-time"})


class DagsterInfo(BaseModel):
    reachable: bool
    url: str = Field(description="the Dagster UI")


class AssetStatus(BaseModel):
    asset: str
    last_materialized: str | None = Field(json_schema_extra={"format": "date-time"})
    age_s: float | None
    run_id: str | None
    partition: str | None


class RunStatus(BaseModel):
    run_id: str
    job: str | None
    status: str | None
    start_time: str | None = Field(json_schema_extra={"format": "date-time"})
    end_time: str | None = Field(json_schema_extra={"format": "date-time"})
    tags: dict[str, str]


class Status(BaseModel):
    dagster: DagsterInfo
    assets: list[AssetStatus]
    runs: list[RunStatus]
    failed_runs: int


class ChatRow(BaseModel):
    chat_id: str
    chat_name: str | None
    calls: int
    callers: int
    first_day: str = Field(json_schema_extra={"format": "date"})
    last_day: str = Field(json_schema_extra={"format": "date"})


class ChatCalls(BaseModel):
    chat_id: str
    chat_name: str | None
    calls: int


class CallerInfo(BaseModel):
    caller_id: str
    caller_name: str | None
    chats: list[ChatCalls]


class XBucket(BaseModel):
    bucket: str
    low: float
    high: float | None = Field(description="exclusive; null for the open last bucket")
    calls: int


class CallerPage(BaseModel):
    caller: CallerInfo
    boards: list[CallerBoardRow]
    leaderboard: CallerLeaderboardRow | None
    best_exits: list[CallerStrategyRow] = Field(description="the caller under each strategy, best score first (docs/semantics.md#which-exit-suits-a-caller)")
    x_distribution: list[XBucket] = Field(description="X from the call over the caller's counted calls")
    calls: int = Field(description="every call of the caller (telegram_calls rows)")


class Candle(BaseModel):
    t: int = Field(description="open time, epoch seconds")
    o: float | None
    h: float | None
    l: float | None
    c: float | None
    v: float | None = Field(description="volume, USD")


class Candles(BaseModel):
    interval: str
    rows: list[Candle]


class TokenRef(BaseModel):
    chain: str
    address: str


class CallPage(BaseModel):
    call: CallRow
    analytics: AnalyticsRow | None
    candles: Candles
    trades: list[TradeRow] = Field(description="one per strategy, best net return first")
    other_tokens: list[TokenRef] = Field(description="the message's other tokens (pick one with ?address=)")


class EquityPoint(BaseModel):
    t: int = Field(description="epoch seconds")
    equity_usd: float | None


class ExitReason(BaseModel):
    reason: str
    share: float
    trades: int


class Skips(BaseModel):
    no_cash: int | None
    max_open: int | None
    holding_token: int | None


class StrategyCompared(BaseModel):
    strategy: StrategyRow
    book: BookRow | None
    equity: list[EquityPoint]
    exit_reasons: list[ExitReason]
    skips: Skips


class StrategyPage(StrategyCompared):
    callers: list[CallerStrategyRow] = Field(description="callers under this strategy by rank (the first 200)")


class Compare(BaseModel):
    strategies: list[StrategyCompared]


class ExportRow(BaseModel):
    export_id: str
    calls: int
    days: int
    first_day: str | None = Field(json_schema_extra={"format": "date"})
    last_day: str | None = Field(json_schema_extra={"format": "date"})
    quarantined: int


class WalkForward(BaseModel):
    summary: list[WalkForwardSummaryRow]
    folds: list[WalkForwardRow]


# -- lists ----------------------------------------------------------------------------------------------------

class ListParams:
    def __init__(self, limit: int = Query(DEFAULT_LIMIT, ge=1, le=CSV_MAX_ROWS,
                                          description="items per page (JSON: at most QUANTBOT_API_MAX_LIMIT; "
                                                      "CSV: at most 10,000)"),
                 offset: int = Query(0, ge=0, le=10_000_000),
                 sort: str | None = Query(None, description="a field of the items"),
                 order: str | None = Query(None, pattern="^(asc|desc)$"),
                 format: str | None = Query(None, pattern="^(json|csv)$",
                                            description="csv: the same items as CSV (also with Accept: text/csv)")):
        self.limit, self.offset, self.sort, self.order, self.format = limit, offset, sort, order, format


Params = Annotated[ListParams, Depends()]


def _wants_csv(request: Request, params: ListParams) -> bool:
    if params.format:
        return params.format == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


def csv_text(items: list[dict[str, Any]], columns: list[str]) -> str:
    """Items as CSV: one column per field, null empty, booleans true/false, nested fields as JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for item in items:
        row = []
        for c in columns:
            v = item.get(c)
            if v is None:
                row.append("")
            elif isinstance(v, bool):
                row.append("true" if v else "false")
            elif isinstance(v, dict | list):
                row.append(json.dumps(v, separators=(",", ":")))
            else:
                row.append(v)
        writer.writerow(row)
    return out.getvalue()


def list_answer(request: Request, params: ListParams, frame: pl.DataFrame, *, max_limit: int,
                default_sort: list[str], default_desc: bool | list[bool] = False, name: str = "items"):
    """One page of `frame` as the list shape, or as CSV."""
    as_csv = _wants_csv(request, params)
    if not as_csv and params.limit > max_limit:
        raise ApiError(400, f"limit must be at most {max_limit} (CSV: {CSV_MAX_ROWS})")
    cut, total = page(frame, sort=params.sort, order=params.order, default_sort=default_sort,
                      default_desc=default_desc, limit=params.limit, offset=params.offset)
    items = records(cut)
    if as_csv:
        return Response(csv_text(items, cut.columns), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"',
                                 "X-Total-Count": str(total)})
    nxt = None
    if params.offset + params.limit < total:
        url = request.url.include_query_params(offset=params.offset + params.limit, limit=params.limit)
        nxt = f"{url.path}?{url.query}"
    return {"items": items, "total": total, "limit": params.limit, "offset": params.offset, "next": nxt}


CSV_RESPONSE = {200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                      "description": "the items, as JSON (the list shape) or as CSV"}}
ERRORS = {status: {"model": ErrorResponse, "description": what} for status, what in (
    (400, "a parameter out of range or of the wrong kind"), (401, "no or a wrong API key"),
    (403, "a client off loopback while no keys are set"), (404, "not found"),
    (503, "the warehouse cannot be read now"))}


# -- routes ---------------------------------------------------------------------------------------------------

def build_router(reader: Reader, settings: ServeSettings, dagster=None) -> APIRouter:
    router = APIRouter(prefix="/api/v1", responses=ERRORS)
    max_limit = settings.max_limit

    @router.get("/health", response_model=Health, summary="The API is up; the warehouse it reads")
    def health():
        h = reader.health()
        return {"status": "ok", "version": VERSION, "warehouse": h["warehouse"], "calls": h["calls"],
                "data_as_of": iso_time(h["data_as_of"])}

    @router.get("/status", response_model=Status, summary="The pipeline's assets and runs (Dagster)")
    def status():
        from serve.dagster_api import DagsterUnavailable

        url = getattr(dagster, "url", settings.dagster_url)
        empty = {"dagster": {"reachable": False, "url": url}, "assets": [], "runs": [], "failed_runs": 0}
        if dagster is None:
            return empty
        try:
            assets = dagster.latest_materializations()
            runs = dagster.recent_runs()
            failed = dagster.failed_runs()
        except DagsterUnavailable:
            return empty
        now = time.time()
        return {"dagster": {"reachable": True, "url": url},
                "assets": [{"asset": a.get("asset"), "last_materialized": _epoch_iso(a.get("last_materialized")),
                            "age_s": (now - a["last_materialized"]) if a.get("last_materialized") else None,
                            "run_id": a.get("run_id"), "partition": a.get("partition")} for a in assets],
                "runs": [{"run_id": r.get("run_id"), "job": r.get("job"), "status": r.get("status"),
                          "start_time": _epoch_iso(r.get("start_time")), "end_time": _epoch_iso(r.get("end_time")),
                          "tags": {str(k): str(v) for k, v in (r.get("tags") or {}).items()}} for r in runs],
                "failed_runs": int(failed)}

    @router.get("/chats", response_model=Page[ChatRow], responses=CSV_RESPONSE, summary="The chats of the calls")
    def chats(request: Request, params: Params):
        return list_answer(request, params, reader.chats(), max_limit=max_limit, default_sort=["calls", "chat_id"],
                           default_desc=[True, False], name="chats")

    @router.get("/callers", response_model=Page[CallerBoardRow], responses=CSV_RESPONSE,
                summary="A caller board (caller_boards: one window, one scope)")
    def callers(request: Request, params: Params,
                window: str = Query("all", pattern=WINDOWS_RE, description="all, 90d, 30d or 7d"),
                chat: str | None = Query(None, description="a chat id; omitted: every chat together"),
                min_calls: int | None = Query(None, ge=0, le=1_000_000)):
        frame = reader.callers(window=window, chat=chat, min_calls=min_calls)
        return list_answer(request, params, frame, max_limit=max_limit, default_sort=["rank"], name="callers")

    @router.get("/callers/{caller_id:path}", response_model=CallerPage, summary="One caller")
    def caller(caller_id: str):
        answer = reader.caller(caller_id)
        if answer is None:
            raise NotFound(f"no caller {caller_id!r}")
        return answer

    @router.get("/calls", response_model=Page[CallListRow], responses=CSV_RESPONSE, summary="Calls, newest first")
    def calls(request: Request, params: Params,
              chat: str | None = Query(None, description="chat id"),
              caller: str | None = Query(None, description="caller id"),
              token: str | None = Query(None, description="token address"),
              chain: str | None = None,
              day_from: Annotated[dt.date | None, Query(description="first call day, YYYY-MM-DD")] = None,
              day_to: Annotated[dt.date | None, Query(description="last call day, YYYY-MM-DD")] = None):
        if day_from and day_to and day_from > day_to:
            raise ApiError(400, "day_from is after day_to")
        frame = reader.calls(chat=chat, caller=caller, token=token, chain=chain, day_from=day_from, day_to=day_to)
        return list_answer(request, params, frame, max_limit=max_limit,
                           default_sort=["call_ts", "chat_id", "message_id"], default_desc=[True, False, False],
                           name="calls")

    @router.get("/calls/{chat_id:path}/{message_id}", response_model=CallPage,
                summary="One call: its row, analytics, candles and trades")
    def call(chat_id: str, message_id: int,
             interval: str = Query("5m", pattern="^(1m|5m|15m|1h|4h|1d)$"),
             address: str | None = Query(None, description="the token, for a message that names several")):
        answer = reader.call(chat_id, message_id, interval=interval, address=address)
        if answer is None:
            raise NotFound(f"no call {message_id} in chat {chat_id!r}")
        return answer

    @router.get("/strategies", response_model=Page[StrategyRow], responses=CSV_RESPONSE,
                summary="Every strategy (strategy_leaderboard)")
    def strategies(request: Request, params: Params):
        return list_answer(request, params, reader.strategies(), max_limit=max_limit,
                           default_sort=["rank", "strategy"], name="strategies")

    @router.get("/strategies/{strategy:path}", response_model=StrategyPage, summary="One strategy and its book")
    def strategy(strategy: str):
        answer = reader.strategy(strategy)
        if answer is None:
            raise NotFound(f"no strategy {strategy!r}")
        return answer

    @router.get("/compare", response_model=Compare, summary="Two to six strategies side by side")
    def compare(strategies: Annotated[list[str], Query(description="names, comma-separated (commas inside a "
                                                                   "sweep variant's [...] belong to its name)")]):
        return {"strategies": reader.compare(split_names(strategies))}

    @router.get("/tokens", response_model=Page[TokenRow], responses=CSV_RESPONSE, summary="Tokens by their run")
    def tokens(request: Request, params: Params, chain: str | None = None):
        return list_answer(request, params, reader.tokens(chain=chain), max_limit=max_limit,
                           default_sort=["rank", "chain", "address"], name="tokens")

    @router.get("/exports", response_model=Page[ExportRow], responses=CSV_RESPONSE, summary="Exports read")
    def exports(request: Request, params: Params):
        return list_answer(request, params, reader.exports(), max_limit=max_limit,
                           default_sort=["last_day", "export_id"], default_desc=[True, False], name="exports")

    @router.get("/quarantine", response_model=Page[QuarantineRow], responses=CSV_RESPONSE,
                summary="Messages that could not be read")
    def quarantine(request: Request, params: Params,
                   export: str | None = Query(None, description="export id"), reason: str | None = None):
        return list_answer(request, params, reader.quarantine(export=export, reason=reason), max_limit=max_limit,
                           default_sort=["export_id", "seq"], name="quarantine")

    @router.get("/walk-forward", response_model=WalkForward, summary="Walk-forward folds and their summary")
    def walk_forward():
        wf = reader.walk_forward()
        return {"summary": records(wf["summary"]), "folds": records(wf["folds"])}

    return router


def _epoch_iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return iso_time(dt.datetime.fromtimestamp(value, dt.UTC))
    return plain(value) if not isinstance(value, str) else value
