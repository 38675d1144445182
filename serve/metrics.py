"""Prometheus metrics of the API process: request metrics, and the pipeline's figures at scrape time.

Each app gets its own CollectorRegistry (two apps in one process, as in the tests, do not share counters).
The pipeline figures are read from the warehouse and Dagster when Prometheus scrapes, then kept for `cache_s`
seconds: only the columns a figure needs are read, so a scrape of a 100k-call warehouse stays cheap.

Figures (docs/semantics.md#calls for what a call is):
- quantbot_calls, quantbot_callers: rows and distinct caller_id of telegram_calls;
- quantbot_candles: raw_candles rows;
- quantbot_credits_spent: provider credits, sum of candle_answers.credits and intrabar_answers.credits;
- quantbot_quarantined_messages: telegram_quarantine rows;
- quantbot_simulated_trades: simulation_results rows (one per call and strategy);
- quantbot_exports: distinct export_id of telegram_staged_calls and telegram_quarantine (as /api/v1/exports);
- quantbot_dagster_up, quantbot_dagster_failed_runs, quantbot_asset_last_materialization_age_seconds{asset}
  and its _timestamp_seconds twin, from the Dagster webserver's GraphQL API.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import polars as pl
from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# request latency buckets (s): the API answers from memory in milliseconds; a cold read can take seconds
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"  # every path no route matched: one label value, however many paths are tried


def _warehouse_of(reader):
    return getattr(reader, "warehouse", reader)


def _parquet_files(warehouse, table: str) -> list | None:
    """The files of a Parquet warehouse's table (None for another warehouse): its reads take every column of a
    file, while a footer holds the row count and one column can be read alone."""
    from quantbot_pipelines.warehouse import ParquetWarehouse, spec_of

    if not isinstance(warehouse, ParquetWarehouse):
        return None
    return warehouse._matching_files(spec_of(table), [])


def _rows(warehouse, table: str, column: str) -> pl.DataFrame:
    """One column of a table (every partition)."""
    files = _parquet_files(warehouse, table)
    if files is None:
        return warehouse.read(table, columns=[column])
    import pyarrow.parquet as pq

    from quantbot_pipelines.warehouse import spec_of

    parts = []
    for f in files:
        try:
            parts.append(pl.from_arrow(pq.read_table(f, columns=[column])))
        except FileNotFoundError:
            continue  # replaced since it was listed: its partition is read again on the next scrape
    return pl.concat(parts) if parts else pl.from_arrow(spec_of(table).empty().select([column]))


def _count(warehouse, table: str, column: str) -> int:
    """Rows of a table: the Parquet footers' counts, or one column read."""
    files = _parquet_files(warehouse, table)
    if files is None:
        return warehouse.read(table, columns=[column]).height
    import pyarrow.parquet as pq

    total = 0
    for f in files:
        try:
            total += pq.read_metadata(f).num_rows
        except FileNotFoundError:
            continue
    return total


def pipeline_figures(warehouse) -> dict[str, float]:
    """The warehouse's figures by metric name; a table that cannot be read leaves its figure out."""
    out: dict[str, float] = {}

    def figure(name: str, compute: Callable[[], float]) -> None:
        try:
            out[name] = float(compute())
        except Exception as exc:  # noqa: BLE001 - a missing table (fresh warehouse) costs only its figure
            log.debug("metric %s not computed (%s)", name, type(exc).__name__)

    calls: list[pl.DataFrame] = []

    def read_calls() -> pl.DataFrame:
        if not calls:
            calls.append(_rows(warehouse, "telegram_calls", "caller_id"))
        return calls[0]

    figure("quantbot_calls", lambda: read_calls().height)
    figure("quantbot_callers", lambda: read_calls().get_column("caller_id").n_unique())
    figure("quantbot_candles", lambda: _count(warehouse, "raw_candles", "open_ts"))
    figure("quantbot_credits_spent", lambda: sum(
        _rows(warehouse, t, "credits").get_column("credits").sum() or 0
        for t in ("candle_answers", "intrabar_answers")))
    figure("quantbot_quarantined_messages", lambda: _count(warehouse, "telegram_quarantine", "seq"))
    figure("quantbot_simulated_trades", lambda: _count(warehouse, "simulation_results", "strategy"))
    figure("quantbot_exports", lambda: pl.concat([
        _rows(warehouse, t, "export_id").get_column("export_id")
        for t in ("telegram_staged_calls", "telegram_quarantine")]).n_unique())
    return out


HELP = {
    "quantbot_calls": "Calls in telegram_calls",
    "quantbot_callers": "Distinct callers in telegram_calls",
    "quantbot_candles": "Rows of raw_candles",
    "quantbot_credits_spent": "Provider credits spent: candle_answers.credits + intrabar_answers.credits",
    "quantbot_quarantined_messages": "Messages in telegram_quarantine",
    "quantbot_simulated_trades": "Rows of simulation_results (call x strategy)",
    "quantbot_exports": "Telegram exports staged",
}


class PipelineCollector(Collector):
    """Warehouse and Dagster figures, computed on scrape and cached for `cache_s` seconds."""

    def __init__(self, reader, dagster, cache_s: float = 10.0):
        self.reader, self.dagster, self.cache_s = reader, dagster, cache_s
        self._lock = threading.Lock()
        self._at = -float("inf")
        self._warehouse: dict[str, float] = {}
        self._dagster: dict | None = None

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._at < self.cache_s:
                return
            self._warehouse = pipeline_figures(_warehouse_of(self.reader))
            self._dagster = self._ask_dagster()
            self._at = time.monotonic()

    def _ask_dagster(self) -> dict | None:
        if self.dagster is None:
            return None
        try:
            return {"assets": self.dagster.latest_materializations(), "failed": self.dagster.failed_runs()}
        except Exception as exc:  # noqa: BLE001 - DagsterUnavailable or anything else: Dagster is down to us
            log.info("Dagster not read for metrics: %s", exc)
            return None

    def describe(self):
        return []  # computed at scrape time only: registering must not read the warehouse

    def collect(self):
        self._refresh()
        for name, value in self._warehouse.items():
            g = GaugeMetricFamily(name, HELP[name])
            g.add_metric([], value)
            yield g
        up = GaugeMetricFamily("quantbot_dagster_up", "1 when the Dagster webserver answered the last scrape")
        up.add_metric([], 0.0 if self._dagster is None else 1.0)
        yield up
        if self._dagster is None:
            return
        failed = GaugeMetricFamily("quantbot_dagster_failed_runs", "Runs on the Dagster instance that failed")
        failed.add_metric([], float(self._dagster["failed"]))
        yield failed
        now = time.time()
        age = GaugeMetricFamily("quantbot_asset_last_materialization_age_seconds",
                                "Seconds since the asset's latest materialization", labels=["asset"])
        stamp = GaugeMetricFamily("quantbot_asset_last_materialization_timestamp_seconds",
                                  "Epoch seconds of the asset's latest materialization", labels=["asset"])
        for a in self._dagster["assets"]:
            age.add_metric([a["asset"]], max(0.0, now - a["last_materialized"]))
            stamp.add_metric([a["asset"]], a["last_materialized"])
        yield age
        yield stamp


class RequestMetrics:
    """ASGI middleware: requests and latency by method, route template and status."""

    def __init__(self, app, requests: Counter, latency: Histogram):
        self.app, self.requests, self.latency = app, requests, latency

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            # the router writes the matched route into this same scope; its template bounds the label values
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = scope.get("method", "")
            self.latency.labels(method, template).observe(time.perf_counter() - started)
            self.requests.labels(method, template, str(status["code"])).inc()


def install(app, reader, dagster, *, cache_s: float = 10.0) -> CollectorRegistry:
    """Add request metrics and the /metrics endpoint to `app`; the app's registry."""
    registry = CollectorRegistry()
    requests = Counter("quantbot_http_requests", "HTTP requests answered", ["method", "route", "status"],
                       registry=registry)
    latency = Histogram("quantbot_http_request_duration_seconds", "Time to answer an HTTP request",
                        ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry)
    registry.register(PipelineCollector(reader, dagster, cache_s))
    app.add_middleware(RequestMetrics, requests=requests, latency=latency)
    app.state.metrics_registry = registry

    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=True, tags=["metrics"],
                      summary="Prometheus metrics (text exposition format)", response_class=Response)
    return registry
