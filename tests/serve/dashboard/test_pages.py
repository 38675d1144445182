"""Every dashboard page in a real browser over the served warehouse: it draws with no console error and no
failed request, asks the API only on its own origin and only a few times, fits a 1366x768 screen, and shows
the API's numbers written as views.py writes them (docs/semantics.md#conventions)."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from quantbot_pipelines import views
from tests.serve.dashboard.conftest import open_tab


def cells(page, selector: str) -> list[list[str]]:
    """The text of each body row's cells of the first table under `selector`."""
    return page.eval_on_selector(selector, """el => [...el.querySelector("table").tBodies[0].rows]
        .map(r => [...r.cells].map(c => c.innerText.trim()))""")


def headers(page, selector: str) -> list[tuple[str, str]]:
    return page.eval_on_selector(selector, """el => [...el.querySelector("table").tHead.rows[0].cells]
        .map(c => [c.innerText.trim(), c.title])""")


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def assert_fits_and_stays_home(tab) -> None:
    """No sideways scroll of the page at 1366 px (wide tables scroll in their box); nothing asked off-host."""
    width = tab.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366, f"the page is {width} px wide"
    home = urlsplit(tab.base).netloc
    away = [u for u in tab.urls if urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc != home]
    assert not away, away


def csv_rows(http: httpx.Client, href: str) -> list[dict]:
    r = http.get(href)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text[:200]
    return list(csv.DictReader(io.StringIO(r.text)))


@pytest.fixture(scope="module")
def best_call(http) -> dict:
    """A call with an entry and trades: the rank-1 caller's call with the highest X."""
    caller = http.get("/api/v1/callers", params={"limit": 1}).json()["items"][0]["caller_id"]
    row = http.get("/api/v1/calls", params={"caller": caller, "sort": "x_from_call", "order": "desc",
                                            "limit": 1}).json()["items"][0]
    return http.get(f"/api/v1/calls/{quote(row['chat_id'], safe='')}/{row['message_id']}",
                    params={"interval": "5m"}).json()


def test_overview_shows_the_boards_and_says_dagster_is_down(tab, http):
    page = tab.open("/")
    board = http.get("/api/v1/callers", params={"limit": 10}).json()
    first = cells(page, "#callers")[0]
    top = board["items"][0]
    assert top["rank"] == 1
    assert first[:3] == ["1", top["caller_name"] or top["caller_id"], str(top["calls"])]
    assert first[3] == views.multiple(top["median_x"]) and first[-1] == f"{top['score']:.3f}"
    assert len(cells(page, "#callers")) == len(board["items"])
    # every column says what it is
    assert all(title for _, title in headers(page, "#callers")), headers(page, "#callers")

    strategies = http.get("/api/v1/strategies", params={"limit": 10}).json()["items"]
    rows = cells(page, "#strategies")
    assert [r[1] for r in rows[:len(strategies)]] == [s["strategy"] for s in strategies]
    assert rows[0][4] == views.signed_pct(strategies[0]["mean_return"])
    summary = http.get("/api/v1/walk-forward").json()["summary"]
    wf = page.inner_text("#walk-forward")
    for s in summary:
        assert s["policy"] in wf and views.signed_pct(s["oos_mean_return"]) in wf
        assert views.signed_pct(s["is_mean_return"]) in wf and (s["verdict"] or "") in wf
    # the session's API points at a closed port: said plainly, with the link to where it should be
    status = page.inner_text("#status")
    assert "Dagster UI not reachable" in status
    dagster = http.get("/api/v1/status").json()["dagster"]["url"]
    assert page.eval_on_selector("#callers a.dagster", "a => a.href") == f"{dagster}/assets/caller_boards"
    assert page.eval_on_selector("footer", "f => [...f.querySelectorAll('a')].map(a => a.href)").count(
        "https://www.tradingview.com/") == 1
    assert len(tab.api_calls()) <= 5, tab.api_calls()
    assert_fits_and_stays_home(tab)


def test_overview_window_and_chat_pickers(tab, http):
    chat = http.get("/api/v1/chats").json()["items"][0]
    page = tab.open("/")
    page.click("#chat-picker summary")
    page.wait_for_selector("#chat-picker .menu a")
    page.click(f"#chat-picker .menu a:has-text({json.dumps(chat['chat_name'] or chat['chat_id'])})")
    page.wait_for_selector("body[data-ready='1']", state="attached")
    assert query(page.url)["chat"] == [chat["chat_id"]]
    want = http.get("/api/v1/callers", params={"chat": chat["chat_id"], "limit": 10}).json()["items"]
    got = cells(page, "#callers") if want else []
    assert [r[1] for r in got] == [(w["caller_name"] or w["caller_id"]) for w in want]
    page = tab.open("/?window=7d")
    want = http.get("/api/v1/callers", params={"window": "7d", "limit": 10}).json()["items"]
    if want:
        assert [r[2] for r in cells(page, "#callers")] == [str(w["calls"]) for w in want]
    assert page.inner_text("#callers .tabs a.on") == "7d"


def test_callers_list_sorts_on_the_server_and_offers_csv(tab, http):
    page = tab.open("/callers?sort=calls&order=desc")
    want = http.get("/api/v1/callers", params={"sort": "calls", "order": "desc"}).json()
    rows = cells(page, "main section")
    assert [r[2] for r in rows] == [str(w["calls"]) for w in want["items"]]
    assert f"of {want['total']}" in page.inner_text(".pager")
    # the header links flip the order; the CSV link is the same list
    assert "order=asc" in page.eval_on_selector("th.sorted a", "a => a.href")
    href = page.eval_on_selector("a:has-text('CSV')", "a => a.getAttribute('href')")
    assert "format=csv" in href and "sort=calls" in href
    assert [r["caller_id"] for r in csv_rows(http, href)] == [w["caller_id"] for w in want["items"]]
    assert len(tab.api_calls()) <= 3
    assert_fits_and_stays_home(tab)


def test_caller_page(tab, http):
    board = http.get("/api/v1/callers", params={"limit": 1}).json()["items"][0]
    body = http.get(f"/api/v1/callers/{quote(board['caller_id'], safe='')}").json()
    page = tab.open(board["caller_url"])
    assert (board["caller_name"] or board["caller_id"]) in page.inner_text("h1")
    # the X distribution: every bucket with its count
    xd = page.inner_text("#x-distribution")
    for b in body["x_distribution"]:
        assert b["bucket"] in xd
    counts = page.eval_on_selector_all("#x-distribution .bars > span.num", "s => s.map(x => x.innerText)")
    assert [c.split(" ")[0] for c in counts] == [str(b["calls"]) for b in body["x_distribution"]]
    # which exit suits them: best first, as the API orders them
    exits = cells(page, "#best-exits")
    assert exits[0][0] == body["best_exits"][0]["strategy"]
    assert exits[0][3] == views.signed_pct(body["best_exits"][0]["mean_return"])
    scores = [e["score"] for e in body["best_exits"] if e["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    # stats per window: every board of the caller
    assert len(cells(page, "#stats")) == len(body["boards"])
    # their calls, each linking to its call page, newest first
    calls = http.get("/api/v1/calls", params={"caller": board["caller_id"], "limit": 25}).json()
    links = page.eval_on_selector_all("#calls tbody tr td:first-child a", "a => a.map(x => x.getAttribute('href'))")
    assert links == [c["call_url"] for c in calls["items"]]
    assert len(tab.api_calls()) <= 3
    assert_fits_and_stays_home(tab)


def test_call_page_shows_the_message_the_chart_and_every_trade(tab, best_call):
    call, trades = best_call["call"], best_call["trades"]
    assert trades and best_call["candles"]["rows"]
    page = tab.open(f"/calls/{quote(call['chat_id'], safe='')}/{call['message_id']}")
    assert page.inner_text("#message-text") == (call["text"] or "")
    assert page.locator("#chart canvas").count() > 0
    chart = page.locator("#chart")
    assert chart.get_attribute("data-strategy") == trades[0]["strategy"]  # the best trade by default
    kinds = chart.get_attribute("data-markers").split(",")
    assert {"call", "entry", "exit"} <= set(kinds)
    assert kinds.count("fill") + kinds.count("exit") == len(trades[0]["fills"])
    rows = cells(page, "#trades")
    assert [r[0] for r in rows] == [t["strategy"] for t in trades]
    assert [r[2] for r in rows] == [views.signed_pct(t["net_return"]) for t in trades]
    a = best_call["analytics"]
    analytics = page.inner_text("#analytics")
    for figure in (views.multiple(a["ath_multiple"]), views.multiple(a["min_multiple"]),
                   views.multiple(a["end_multiple"]), views.signed_pct(a["drawdown_before_2x"])):
        assert figure in analytics
    if a["time_to_2x_s"] is not None:
        assert views.hmm(a["time_to_2x_s"]) in analytics
    # another strategy from the selector: its markers, its row
    other = trades[-1]
    page.select_option("#strategy", other["strategy"])
    assert chart.get_attribute("data-strategy") == other["strategy"]
    assert query(page.url)["strategy"] == [other["strategy"]]
    assert page.inner_text("#trades tr.chosen td:first-child") == other["strategy"]
    assert len(tab.api_calls()) == 1
    assert_fits_and_stays_home(tab)


def test_call_page_interval_and_strategy_from_the_url(tab, http, best_call):
    call, trades = best_call["call"], best_call["trades"]
    pick = trades[len(trades) // 2]["strategy"]
    page = tab.open(f"/calls/{quote(call['chat_id'], safe='')}/{call['message_id']}?interval=1h"
                    f"&strategy={quote(pick, safe='')}")
    assert page.locator("#chart").get_attribute("data-strategy") == pick
    assert page.inner_text("#intervals a.on") == "1h"
    asked = tab.api_calls()
    assert len(asked) == 1 and "interval=1h" in asked[0]


def test_strategies_list_shows_every_strategy_and_compares(tab, http):
    total = http.get("/api/v1/strategies", params={"limit": 1}).json()["total"]
    page = tab.open("/strategies")
    names = page.eval_on_selector_all("input[data-strategy]", "i => i.map(x => x.dataset.strategy)")
    assert len(names) == min(total, 100)
    assert f"of {total}" in page.inner_text(".pager")
    href = page.eval_on_selector("a:has-text('CSV')", "a => a.getAttribute('href')")
    assert len(csv_rows(http, href)) == total  # every strategy, none cut
    button = page.locator(".compare-bar button")
    assert button.is_disabled()
    page.check(f"input[data-strategy={json.dumps(names[0])}]")
    page.check(f"input[data-strategy={json.dumps(names[1])}]")
    assert button.is_enabled()
    button.click()
    page.wait_for_url("**/compare?**")
    page.wait_for_selector("body[data-ready='1']", state="attached")
    assert page.locator("#equity canvas").count() > 0
    assert page.locator("#equity").get_attribute("data-series") == "2"
    figures = page.inner_text("#figures")
    compared = http.get("/api/v1/compare", params={"strategies": ",".join(names[:2])}).json()["strategies"]
    for s in compared:
        assert s["strategy"]["strategy"] in figures
        assert views.signed_pct(s["strategy"]["mean_return"]) in figures
    assert_fits_and_stays_home(tab)


def test_strategy_page_lists_every_exit_reason(tab, http):
    name = http.get("/api/v1/strategies", params={"limit": 1}).json()["items"][0]["strategy"]
    body = http.get(f"/api/v1/strategies/{quote(name, safe='')}").json()
    page = tab.open(f"/strategies/{quote(name, safe='')}")
    assert page.inner_text("h1").startswith(name)
    reasons = page.inner_text("#exit-reasons")
    assert body["exit_reasons"]
    for r in body["exit_reasons"]:
        assert f"{r['reason']}" in reasons and f"{views.share(r['share'])} ({r['trades']})" in reasons
    figures = page.inner_text("#figures")
    s = body["strategy"]
    for figure in (views.signed_pct(s["mean_return"]), views.profit_factor(s["profit_factor"]),
                   views.share(s["win_rate"])):
        assert figure in figures
    if body["book"]:
        assert views.signed_pct(body["book"]["book_return"]) in figures
        assert page.locator("#equity canvas").count() > 0
        assert page.locator("#equity").get_attribute("data-points") == str(len(body["equity"]))
    assert [r[1] for r in cells(page, "#callers")] == [c["caller_name"] or c["caller_id"] for c in body["callers"]]
    assert len(tab.api_calls()) == 1
    assert_fits_and_stays_home(tab)


def test_strategy_names_with_brackets_reach_the_page_whole(tab):
    name = "sweep_tp_sl_time[tp=2,sl=0.5,time=1h]"
    tab.allowed += ["HTTP 404", "status of 404"]  # no such strategy in the served warehouse
    page = tab.open(f"/strategies/{quote(name, safe='')}")
    assert page.evaluate("JSON.parse(document.getElementById('config').textContent).params.strategy") == name
    assert name in page.inner_text("main")  # the API's "no strategy '...'" message
    assert tab.api_calls() == [f"{tab.base}/api/v1/strategies/{quote(name, safe='')}"]


def test_calls_and_tokens_lists(tab, http):
    calls = http.get("/api/v1/calls", params={"limit": 50}).json()
    page = tab.open("/calls")
    links = page.eval_on_selector_all("main tbody tr td:first-child a", "a => a.map(x => x.getAttribute('href'))")
    assert links == [c["call_url"] for c in calls["items"]]
    assert f"of {calls['total']}" in page.inner_text(".pager")
    assert_fits_and_stays_home(tab)

    tokens = http.get("/api/v1/tokens", params={"sort": "ath_multiple", "order": "desc"}).json()
    page = tab.open("/tokens?sort=ath_multiple&order=desc")
    rows = cells(page, "main section")
    assert [r[8] for r in rows] == [views.multiple(t["ath_multiple"]) for t in tokens["items"]]
    href = page.eval_on_selector("a:has-text('CSV')", "a => a.getAttribute('href')")
    every = csv_rows(http, href)  # the whole list, not only the page shown
    assert len(every) == tokens["total"]
    assert [r["address"] for r in every[:len(rows)]] == [t["address"] for t in tokens["items"]]
    assert_fits_and_stays_home(tab)


def test_with_keys_on_the_dashboard_asks_once_and_reads_through_the_cookie(browser, start_api):
    with start_api(QUANTBOT_API_KEYS="dash-key-0123456789") as base, open_tab(browser, base) as tab:
        page = tab.page
        page.goto(base + "/callers?window=30d")
        assert urlsplit(page.url).path == "/login"
        page.fill("#key", "dash-key-0123456789")
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-ready='1']", state="attached")
        assert urlsplit(page.url).path == "/callers" and query(page.url)["window"] == ["30d"]
        assert cells(page, "main section"), "the board drew from the API with the cookie's key"
        assert page.inner_text(".tabs a.on") == "30d"
        # without the cookie, a page sends the browser back to the form
        page.context.clear_cookies()
        page.goto(base + "/strategies")
        assert urlsplit(page.url).path == "/login" and query(page.url)["next"] == ["/strategies"]
