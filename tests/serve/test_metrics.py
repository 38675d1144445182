"""/metrics of a live app, parsed as Prometheus parses it: the pipeline figures are the warehouse's, the
request metrics count the requests made, and Dagster's figures are there when it answers."""

from __future__ import annotations

import time

import httpx
import polars as pl
import pytest
from prometheus_client.parser import text_string_to_metric_families

from serve.dagster_api import DagsterClient


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    answer = httpx.get(f"{url}/metrics", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def expected_figures(warehouse) -> dict[str, float]:
    calls = warehouse.read("telegram_calls")
    credits = sum(warehouse.read(t).get_column("credits").sum() or 0
                  for t in ("candle_answers", "intrabar_answers"))
    exports = pl.concat([warehouse.read(t).get_column("export_id")
                         for t in ("telegram_staged_calls", "telegram_quarantine")]).n_unique()
    return {"quantbot_calls": calls.height, "quantbot_callers": calls.get_column("caller_id").n_unique(),
            "quantbot_candles": warehouse.read("raw_candles").height, "quantbot_credits_spent": credits,
            "quantbot_quarantined_messages": warehouse.read("telegram_quarantine").height,
            "quantbot_simulated_trades": warehouse.read("simulation_results").height,
            "quantbot_exports": exports}


def test_pipeline_figures_and_request_counts(start_api, warehouse):
    with start_api() as url:
        for _ in range(3):
            assert httpx.get(f"{url}/api/v1/health", timeout=30).status_code == 200
        assert httpx.get(f"{url}/api/v1/callers/nobody-at-all", timeout=30).status_code == 404
        assert httpx.get(f"{url}/no/such/page/{time.time()}", timeout=30).status_code == 404
        before = expected_figures(warehouse)
        metrics = scrape(url)
        after = expected_figures(warehouse)
        again = scrape(url)

    assert before == after, "the warehouse changed during the test"
    for name, value in before.items():
        assert metrics[(name, ())] == pytest.approx(value), name
    assert metrics[("quantbot_calls", ())] > 0 and metrics[("quantbot_simulated_trades", ())] > 0
    # Dagster is not reachable for this app (a closed port): up 0, and no asset figures
    assert metrics[("quantbot_dagster_up", ())] == 0
    assert not any(name.startswith("quantbot_asset_") for name, _ in metrics)

    def requests(route: str, status: str, m=metrics) -> float:
        labels = (("method", "GET"), ("route", route), ("status", status))
        return m.get(("quantbot_http_requests_total", labels), 0)

    assert requests("/api/v1/health", "200") == 3
    assert requests("/api/v1/callers/{caller_id:path}", "404") == 1
    assert requests("unmatched", "404") == 1  # one label value for every unknown path
    assert requests("/metrics", "200") == 0  # counted when its answer is done, after this scrape's text
    assert requests("/metrics", "200", again) == 1
    health = (("method", "GET"), ("route", "/api/v1/health"))
    latency = ("quantbot_http_request_duration_seconds_count", health)
    assert metrics[latency] == 3
    inf = ("quantbot_http_request_duration_seconds_bucket", (("le", "+Inf"), ("method", "GET"),
                                                             ("route", "/api/v1/health")))
    assert metrics[inf] == 3


def test_dagster_figures_when_it_answers(start_api, dagster_ui):
    client = DagsterClient(dagster_ui.url)
    # asked before the scrape: the scrape's can only be newer
    assets = {a["asset"]: a for a in client.latest_materializations()}
    with start_api(dagster=client) as url:
        metrics = scrape(url)
    assert metrics[("quantbot_dagster_up", ())] == 1
    assert metrics[("quantbot_dagster_failed_runs", ())] == client.failed_runs()
    ages = {dict(labels)["asset"]: v for (name, labels), v in metrics.items()
            if name == "quantbot_asset_last_materialization_age_seconds"}
    assert "telegram_calls" in ages and set(assets) <= set(ages)
    for asset, age in ages.items():
        assert 0 <= age <= time.time() - assets[asset]["last_materialized"] + 1, asset


def test_the_deploy_files_name_metrics_the_app_serves(start_api, dagster_ui):
    import json
    import re

    import yaml

    from tests.serve.conftest import REPO

    with start_api(dagster=DagsterClient(dagster_ui.url)) as url:
        httpx.get(f"{url}/api/v1/health", timeout=30)
        served = {name for name, _ in scrape(url)}
    dashboard = json.loads((REPO / "deploy" / "grafana" / "quantbot.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bquantbot_[a-z0-9_]+", e)}
    assert used and used <= served, used - served
    prometheus = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics" and job["static_configs"][0]["targets"] == ["127.0.0.1:8000"]
