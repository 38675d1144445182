"""The contract: every answer of every endpoint validates against the schema /openapi.json declares for it
(its 200 schema, or the error schema for errors), and every /api/v1 route is documented."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import jsonschema
import polars as pl
import pytest


@pytest.fixture(scope="session")
def spec(http) -> dict:
    answer = http.get("/openapi.json")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _schema(spec: dict, path: str, status: int) -> dict:
    op = spec["paths"][path]["get"]
    response = op["responses"].get(str(status))
    assert response is not None, f"{path} documents no {status} answer"
    schema = response["content"]["application/json"]["schema"]
    # refs are "#/components/schemas/...": resolved against a document holding the components
    return {**schema, "components": spec["components"]}


def validate(spec: dict, template: str, response: httpx.Response) -> None:
    schema = _schema(spec, template, response.status_code)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(response.json())


def _requests(warehouse) -> list[tuple[str, str, dict]]:
    """(documented path, URL, params) for every endpoint, answering with rows where the warehouse has them."""
    calls = warehouse.read("token_analytics").filter(pl.col("status") == "ok").sort("candles", descending=True)
    a = calls.row(0, named=True)
    caller = warehouse.read("caller_boards").sort("rank").get_column("caller_id")[0]
    names = warehouse.read("strategy_leaderboard").sort("rank").get_column("strategy").to_list()
    call_url = f"/api/v1/calls/{quote(a['chat_id'], safe='')}/{a['message_id']}"
    out = [
        ("/api/v1/health", "/api/v1/health", {}),
        ("/api/v1/status", "/api/v1/status", {}),
        ("/api/v1/chats", "/api/v1/chats", {}),
        ("/api/v1/callers", "/api/v1/callers", {}),
        ("/api/v1/callers", "/api/v1/callers", {"window": "7d", "limit": 2}),
        ("/api/v1/callers/{caller_id}", f"/api/v1/callers/{quote(caller, safe='')}", {}),
        ("/api/v1/calls", "/api/v1/calls", {"limit": 500}),
        ("/api/v1/calls/{chat_id}/{message_id}", call_url, {"address": a["address"]}),
        ("/api/v1/strategies", "/api/v1/strategies", {}),
        ("/api/v1/compare", "/api/v1/compare", {"strategies": ",".join(names[:2])}),
        ("/api/v1/tokens", "/api/v1/tokens", {"limit": 500}),
        ("/api/v1/exports", "/api/v1/exports", {}),
        ("/api/v1/quarantine", "/api/v1/quarantine", {}),
        ("/api/v1/walk-forward", "/api/v1/walk-forward", {}),
    ]
    out += [("/api/v1/calls/{chat_id}/{message_id}", call_url, {"interval": i, "address": a["address"]})
            for i in ("1m", "15m", "4h", "1d")]
    out += [("/api/v1/strategies/{strategy}", f"/api/v1/strategies/{quote(n, safe='')}", {}) for n in names]
    # a call of each status and chain, so that the nulls of calls without an entry or candles are checked too
    kinds = warehouse.read("token_analytics").unique(["status", "chain"], keep="first", maintain_order=True)
    for chat, msg, address in kinds.select("chat_id", "message_id", "address").iter_rows():
        out.append(("/api/v1/calls/{chat_id}/{message_id}", f"/api/v1/calls/{quote(chat, safe='')}/{msg}",
                    {"address": address, "interval": "1h"}))
    return out


def _documented(path: str) -> str:
    """FastAPI documents `{name:path}` parameters as `{name}`."""
    return path.replace(":path}", "}")


def test_every_api_route_is_documented(spec, served):
    from serve.api import build_router
    from serve.reader import Reader
    from tests.serve.conftest import serve_settings

    router = build_router(Reader(served.warehouse_url), serve_settings(served.warehouse_url))
    routes = {_documented(r.path) for r in router.routes}
    assert routes <= set(spec["paths"]), routes - set(spec["paths"])
    assert {"/api/v1/health", "/api/v1/status", "/api/v1/chats", "/api/v1/callers", "/api/v1/callers/{caller_id}",
            "/api/v1/calls", "/api/v1/calls/{chat_id}/{message_id}", "/api/v1/strategies",
            "/api/v1/strategies/{strategy}", "/api/v1/compare", "/api/v1/tokens", "/api/v1/exports",
            "/api/v1/quarantine", "/api/v1/walk-forward"} <= routes


def test_every_answer_matches_its_schema(spec, http, warehouse):
    seen = set()
    for template, url, params in _requests(warehouse):
        answer = http.get(url, params=params)
        assert answer.status_code == 200, (url, answer.text)
        validate(spec, template, answer)
        seen.add(template)
    assert seen == {p for p in spec["paths"] if p.startswith("/api/v1")}


def test_lists_document_csv(spec):
    for path in ("/api/v1/calls", "/api/v1/callers", "/api/v1/strategies", "/api/v1/tokens", "/api/v1/chats",
                 "/api/v1/exports", "/api/v1/quarantine"):
        op = spec["paths"][path]["get"]
        assert "text/csv" in op["responses"]["200"]["content"], path
        assert {"limit", "offset", "sort", "order", "format"} <= {p["name"] for p in op["parameters"]}, path


@pytest.mark.parametrize(("template", "url", "params", "status"), [
    ("/api/v1/callers", "/api/v1/callers", {"sort": "nope"}, 400),
    ("/api/v1/callers", "/api/v1/callers", {"limit": 100_000}, 400),
    ("/api/v1/calls", "/api/v1/calls", {"day_to": "soon"}, 400),
    ("/api/v1/callers/{caller_id}", "/api/v1/callers/nobody", {}, 404),
    ("/api/v1/calls/{chat_id}/{message_id}", "/api/v1/calls/x/1", {}, 404),
    ("/api/v1/calls/{chat_id}/{message_id}", "/api/v1/calls/x/1", {"interval": "7m"}, 400),
    ("/api/v1/strategies/{strategy}", "/api/v1/strategies/none", {}, 404),
    ("/api/v1/compare", "/api/v1/compare", {"strategies": "a"}, 400),
])
def test_errors_match_the_error_schema(spec, http, template, url, params, status):
    answer = http.get(url, params=params)
    assert answer.status_code == status
    validate(spec, template, answer)


def test_keys_errors_match_the_error_schema(spec, start_api):
    with start_api(QUANTBOT_API_KEYS="contract-key-123456") as url:
        answer = httpx.get(f"{url}/api/v1/callers", timeout=30)
    assert answer.status_code == 401
    validate(spec, "/api/v1/callers", answer)


def test_swagger_ui_renders_offline(api, spec):
    """In Chromium, /docs draws every operation from /openapi.json, asking nothing of another host."""
    import shutil

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("no chromium on PATH: the docs page is tested in the machine's browser (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    asked, problems = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("request", lambda r: asked.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(f"{api}/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=20_000)
            shown = page.locator(".opblock-summary-path").count()
        finally:
            browser.close()
    documented = sum(len(ops) for ops in spec["paths"].values())
    assert shown == documented > 10
    assert all(u.startswith(api) for u in asked), [u for u in asked if not u.startswith(api)]
    assert problems == []
