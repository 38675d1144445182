"""The read API over HTTP, against the warehouse the demo pipeline wrote: every endpoint's shape and figures
checked against the warehouse's own rows, lists (filters, sorting, pages, CSV), errors, keys and loopback."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import socket
import subprocess
import sys
from urllib.parse import quote

import httpx
import polars as pl
import pytest

from tests.serve.conftest import REPO, running_api, serve_settings

KEYS = ("key-one-0123456789", "key-two-9876543210")


def iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def as_api(row: dict) -> dict:
    """A warehouse row as the API writes it (days and times as ISO text, NaN as null)."""
    out = {}
    for k, v in row.items():
        if isinstance(v, dt.date):
            v = iso(v)
        elif isinstance(v, float) and math.isnan(v):
            v = None
        out[k] = v
    return out


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message"}, body
    assert body["error"]["status"] == status and body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


def all_items(http: httpx.Client, path: str, **params) -> list[dict]:
    """Every item of a list, following `next`."""
    items, url = [], path
    answer = http.get(url, params={"limit": 500, **params}).json()
    while True:
        items += answer["items"]
        if not answer["next"]:
            return items
        answer = http.get(answer["next"]).json()


# -- health, status ----------------------------------------------------------------------------------------

def test_health(http, warehouse):
    calls = warehouse.read("telegram_calls")
    body = http.get("/api/v1/health").json()
    assert body["status"] == "ok" and body["warehouse"] == "parquet" and body["version"]
    assert body["calls"] == calls.height > 0
    assert body["data_as_of"] == iso(calls.get_column("call_ts").max())


def test_status_with_dagster_down(http):
    body = http.get("/api/v1/status").json()
    assert body["dagster"]["reachable"] is False and body["dagster"]["url"].startswith("http://127.0.0.1:")
    assert body["assets"] == [] and body["runs"] == [] and body["failed_runs"] == 0


class _Instance:
    """What a Dagster instance reports, as the client hands it over (epoch seconds)."""
    url = "http://127.0.0.1:3999"

    def latest_materializations(self):
        return [{"asset": "telegram_calls", "last_materialized": 1_760_000_000.0, "run_id": "r1",
                 "partition": "2025-10-12"}]

    def recent_runs(self, limit=20):
        return [{"run_id": "r1", "job": "__ASSET_JOB", "status": "SUCCESS", "start_time": 1_760_000_000.0,
                 "end_time": None, "tags": {"quantbot/export": "a"}}]

    def failed_runs(self):
        return 3


def test_status_with_dagster(start_api):
    with start_api(dagster=_Instance()) as url:
        body = httpx.get(f"{url}/api/v1/status").json()
    assert body["dagster"] == {"reachable": True, "url": "http://127.0.0.1:3999"}
    asset = body["assets"][0]
    assert asset["asset"] == "telegram_calls" and asset["last_materialized"] == "2025-10-09T08:53:20Z"
    assert asset["age_s"] > 0 and asset["partition"] == "2025-10-12"
    assert body["runs"] == [{"run_id": "r1", "job": "__ASSET_JOB", "status": "SUCCESS",
                             "start_time": "2025-10-09T08:53:20Z", "end_time": None,
                             "tags": {"quantbot/export": "a"}}]
    assert body["failed_runs"] == 3


# -- chats, callers ----------------------------------------------------------------------------------------

def test_chats(http, warehouse):
    calls = warehouse.read("telegram_calls")
    items = http.get("/api/v1/chats").json()["items"]
    assert {i["chat_id"] for i in items} == set(calls.get_column("chat_id").unique())
    assert sum(i["calls"] for i in items) == calls.height
    one = items[0]
    mine = calls.filter(pl.col("chat_id") == one["chat_id"])
    assert one["calls"] == mine.height == max(i["calls"] for i in items)
    assert one["callers"] == mine.get_column("caller_id").n_unique()
    assert one["first_day"] == iso(mine.get_column("day").min()) and one["last_day"] == iso(mine.get_column("day").max())


def test_caller_boards_match_the_table(http, warehouse):
    boards = warehouse.read("caller_boards")
    for (window, scope), rows in boards.group_by("window", "scope"):
        params = {"window": window, **({} if scope == "all" else {"chat": scope})}
        body = http.get("/api/v1/callers", params=params).json()
        want = rows.sort("rank")
        assert body["total"] == want.height
        first = body["items"][0]
        assert {k: v for k, v in first.items() if k != "caller_url"} == as_api(want.row(0, named=True))
        assert first["caller_url"] == f"/callers/{quote(first['caller_id'], safe='')}"
        assert [i["rank"] for i in body["items"]] == sorted(want.get_column("rank").to_list())


def test_callers_filters_and_sorting(http, warehouse):
    board = warehouse.read("caller_boards").filter((pl.col("window") == "all") & (pl.col("scope") == "all"))
    cut = int(board.get_column("calls").median())
    body = http.get("/api/v1/callers", params={"min_calls": cut}).json()
    assert body["total"] == board.filter(pl.col("calls") >= cut).height
    assert all(i["calls"] >= cut for i in body["items"])
    by_calls = http.get("/api/v1/callers", params={"sort": "calls", "order": "desc"}).json()["items"]
    assert [i["calls"] for i in by_calls] == sorted(board.get_column("calls").to_list(), reverse=True)
    asc = http.get("/api/v1/callers", params={"sort": "mean_x", "order": "asc"}).json()["items"]
    xs = [i["mean_x"] for i in asc if i["mean_x"] is not None]
    assert xs == sorted(xs)
    assert http.get("/api/v1/callers", params={"chat": "no-such-chat"}).json()["total"] == 0
    assert_error(http.get("/api/v1/callers", params={"sort": "nope"}), 400, "bad_request")
    assert_error(http.get("/api/v1/callers", params={"window": "yesterday"}), 400, "bad_request")
    assert_error(http.get("/api/v1/callers", params={"order": "up"}), 400, "bad_request")
    assert_error(http.get("/api/v1/callers", params={"min_calls": -1}), 400, "bad_request")


def test_caller_page(http, warehouse):
    board = warehouse.read("caller_boards")
    top = board.filter((pl.col("window") == "all") & (pl.col("scope") == "all")).sort("rank").row(0, named=True)
    cid = top["caller_id"]
    body = http.get(f"/api/v1/callers/{quote(cid, safe='')}").json()
    calls = warehouse.read("telegram_calls").filter(pl.col("caller_id") == cid)
    assert body["caller"]["caller_id"] == cid and body["caller"]["caller_name"] == top["caller_name"]
    assert sum(c["calls"] for c in body["caller"]["chats"]) == body["calls"] == calls.height
    assert {c["chat_id"] for c in body["caller"]["chats"]} == set(calls.get_column("chat_id"))
    mine = board.filter(pl.col("caller_id") == cid)
    assert len(body["boards"]) == mine.height
    assert body["boards"][0]["window"] == "all" and body["boards"][0]["scope"] == "all"
    leader = warehouse.read("caller_leaderboard").filter(pl.col("caller_id") == cid).row(0, named=True)
    assert body["leaderboard"] == as_api(leader)
    exits = warehouse.read("caller_strategy_leaderboard").filter(pl.col("caller_id") == cid)
    assert len(body["best_exits"]) == exits.height
    scores = [e["score"] for e in body["best_exits"] if e["score"] is not None]
    assert scores == sorted(scores, reverse=True) and len(scores) > 1
    # rows without a score (under 5 trades) come last
    assert all(e["score"] is None for e in body["best_exits"][len(scores):])
    counted = warehouse.read("token_analytics").filter(
        (pl.col("caller_id") == cid) & (pl.col("status") == "ok") & ~pl.col("repeat")
        & pl.col("x_from_call").is_not_null())
    buckets = body["x_distribution"]
    assert [b["bucket"] for b in buckets] == ["<0.5x", "0.5-1x", "1-2x", "2-5x", "5-10x", "10-100x", "100x+"]
    assert sum(b["calls"] for b in buckets) == counted.height == top["calls"]
    two_five = next(b for b in buckets if b["bucket"] == "2-5x")
    assert two_five["calls"] == counted.filter((pl.col("x_from_call") >= 2) & (pl.col("x_from_call") < 5)).height
    assert_error(http.get("/api/v1/callers/nobody-here"), 404, "not_found")


# -- calls -------------------------------------------------------------------------------------------------

def test_calls_list_and_filters(http, warehouse):
    calls = warehouse.read("telegram_calls")
    body = http.get("/api/v1/calls").json()
    assert body["total"] == calls.height and body["limit"] == 50 and len(body["items"]) == 50
    times = [i["call_ts"] for i in body["items"]]
    assert times == sorted(times, reverse=True) and times[0] == iso(calls.get_column("call_ts").max())
    first = body["items"][0]
    assert first["call_url"] == f"/calls/{quote(first['chat_id'], safe='')}/{first['message_id']}"
    row = calls.filter((pl.col("chat_id") == first["chat_id"]) & (pl.col("message_id") == first["message_id"])
                       & (pl.col("address") == first["address"])).row(0, named=True)
    for k in ("chat_name", "caller_id", "chain", "card_ticker", "text", "first_call", "repeat"):
        assert first[k] == row[k], k
    analytics = warehouse.read("token_analytics")
    some = analytics.filter(pl.col("ath_multiple").is_not_null()).row(0, named=True)
    item = next(i for i in all_items(http, "/api/v1/calls", chat=some["chat_id"])
                if i["message_id"] == some["message_id"] and i["address"] == some["address"])
    assert item["ath_multiple"] == some["ath_multiple"] and item["x_from_call"] == some["x_from_call"]
    assert item["status"] == some["status"] and item["time_to_2x_s"] == some["time_to_2x_s"]

    chat = calls.get_column("chat_id").mode()[0]
    caller = calls.get_column("caller_id").drop_nulls().mode()[0]
    token = calls.get_column("address").mode()[0]
    days = sorted(calls.get_column("day").unique())
    lo, hi = days[len(days) // 4], days[len(days) // 2]
    for params, want in [({"chat": chat}, calls.filter(pl.col("chat_id") == chat)),
                         ({"caller": caller}, calls.filter(pl.col("caller_id") == caller)),
                         ({"token": token}, calls.filter(pl.col("address") == token)),
                         ({"chain": "ethereum"}, calls.filter(pl.col("chain") == "ethereum")),
                         ({"day_from": lo.isoformat(), "day_to": hi.isoformat()},
                          calls.filter(pl.col("day").is_between(lo, hi))),
                         ({"chat": chat, "chain": "solana"},
                          calls.filter((pl.col("chat_id") == chat) & (pl.col("chain") == "solana")))]:
        got = http.get("/api/v1/calls", params={**params, "limit": 500}).json()
        assert got["total"] == want.height > 0, params
        assert {(i["chat_id"], i["message_id"], i["address"]) for i in got["items"]} == \
            set(want.select("chat_id", "message_id", "address").iter_rows()), params
    dex = {i["chain"]: i["dex_url"] for i in all_items(http, "/api/v1/calls")}
    assert dex["unknown"] is None and dex["solana"].startswith("https://dexscreener.com/solana/")
    assert_error(http.get("/api/v1/calls", params={"day_from": "2025-13-01"}), 400, "bad_request")
    assert_error(http.get("/api/v1/calls", params={"day_from": "2025-10-02", "day_to": "2025-10-01"}), 400,
                 "bad_request")


def test_pagination(http, warehouse):
    total = warehouse.read("telegram_calls").height
    whole = http.get("/api/v1/calls", params={"limit": 500}).json()
    assert whole["total"] == total and whole["next"] is None and len(whole["items"]) == total
    pages, answer = [], http.get("/api/v1/calls", params={"limit": 40, "chain": "solana"}).json()
    solana = [i for i in whole["items"] if i["chain"] == "solana"]
    while True:
        assert answer["total"] == len(solana) and answer["limit"] == 40
        pages += answer["items"]
        if answer["next"] is None:
            break
        assert answer["next"].startswith("/api/v1/calls?") and "chain=solana" in answer["next"]
        answer = http.get(answer["next"]).json()
    assert pages == solana
    beyond = http.get("/api/v1/calls", params={"offset": total + 10}).json()
    assert beyond["items"] == [] and beyond["total"] == total and beyond["next"] is None
    assert beyond["offset"] == total + 10
    last = http.get("/api/v1/calls", params={"offset": total - 3, "limit": 10}).json()
    assert len(last["items"]) == 3 and last["next"] is None
    assert_error(http.get("/api/v1/calls", params={"limit": 501}), 400, "bad_request")
    assert_error(http.get("/api/v1/calls", params={"limit": 0}), 400, "bad_request")
    assert_error(http.get("/api/v1/calls", params={"offset": -1}), 400, "bad_request")
    assert_error(http.get("/api/v1/calls", params={"limit": "ten"}), 400, "bad_request")


def _parse_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _csv_value(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


@pytest.mark.parametrize("path", ["/api/v1/calls", "/api/v1/callers", "/api/v1/strategies", "/api/v1/tokens",
                                  "/api/v1/chats", "/api/v1/exports"])
def test_csv_is_the_json(http, path):
    items = http.get(path, params={"limit": 500}).json()["items"]
    by_param = http.get(path, params={"limit": 500, "format": "csv"})
    by_accept = http.get(path, params={"limit": 500}, headers={"Accept": "text/csv"})
    assert by_param.headers["content-type"].startswith("text/csv")
    assert by_param.text == by_accept.text
    rows = _parse_csv(by_param.text)
    assert len(rows) == len(items) > 0
    assert list(rows[0]) == list(items[0])
    for row, item in zip(rows, items, strict=True):
        for k, v in item.items():
            if isinstance(v, float):
                assert float(row[k]) == v, (k, row[k], v)
            else:
                assert row[k] == _csv_value(v), (k, row[k], v)


def test_csv_allows_long_pages(http, warehouse):
    total = warehouse.read("telegram_calls").height
    text = http.get("/api/v1/calls", params={"format": "csv", "limit": 10_000}).text
    assert len(_parse_csv(text)) == total
    assert_error(http.get("/api/v1/calls", params={"format": "csv", "limit": 10_001}), 400, "bad_request")
    assert_error(http.get("/api/v1/calls", params={"format": "xml"}), 400, "bad_request")


def _a_call(warehouse) -> dict:
    """A call with an entry, trades and candles: the one with the most raw candles."""
    analytics = warehouse.read("token_analytics").filter(pl.col("status") == "ok")
    return analytics.sort(["candles", "call_ts"], descending=True).row(0, named=True)


def test_call_page(http, warehouse):
    a = _a_call(warehouse)
    url = f"/api/v1/calls/{quote(a['chat_id'], safe='')}/{a['message_id']}"
    body = http.get(url, params={"interval": "1m", "address": a["address"]}).json()
    row = warehouse.read("telegram_calls", where=[("day", "=", a["day"]), ("chat_id", "=", a["chat_id"]),
                                                  ("message_id", "=", a["message_id"]),
                                                  ("address", "=", a["address"])]).row(0, named=True)
    assert body["call"] == {**as_api(row), "dex_url": f"https://dexscreener.com/{row['chain']}/{row['address']}"
                            if row["chain"] != "unknown" else None}
    assert body["analytics"] == as_api(a)
    # the candles: every raw candle of the call's day partition in [call - 1 h, call + 48 h 15 min)
    start, end = a["call_ts"] - dt.timedelta(hours=1), a["call_ts"] + dt.timedelta(hours=48, minutes=15)
    raw = warehouse.read("raw_candles", where=[("day", "=", a["day"]), ("chain", "=", a["chain"]),
                                               ("address", "=", a["address"])]).filter(
        (pl.col("open_ts") >= start) & (pl.col("open_ts") < end)).sort("open_ts")
    rows = body["candles"]["rows"]
    assert body["candles"]["interval"] == "1m" and len(rows) == raw.height > 0
    assert rows[0] == {"t": int(raw.get_column("open_ts")[0].timestamp()), "o": raw["open"][0], "h": raw["high"][0],
                       "l": raw["low"][0], "c": raw["close"][0], "v": raw["volume_usd"][0]}
    assert a["entry_ts"].timestamp() in {r["t"] for r in rows}
    # 5m: the aggregated table's rows of that window
    agg = warehouse.read("aggregated_candles", where=[("day", "=", a["day"]), ("interval", "=", "5m"),
                                                      ("chain", "=", a["chain"]), ("address", "=", a["address"])])
    agg = agg.filter((pl.col("open_ts") >= start) & (pl.col("open_ts") < end)).sort("open_ts")
    five = http.get(url, params={"address": a["address"]}).json()["candles"]
    assert five["interval"] == "5m" and [r["t"] for r in five["rows"]] == \
        [int(t.timestamp()) for t in agg.get_column("open_ts")]
    assert [r["h"] for r in five["rows"]] == agg.get_column("high").to_list()
    # trades: one per strategy, best net return first, fills parsed
    sims = warehouse.read("simulation_results", where=[("day", "=", a["day"]), ("chat_id", "=", a["chat_id"]),
                                                       ("message_id", "=", a["message_id"]),
                                                       ("address", "=", a["address"])])
    trades = body["trades"]
    assert len(trades) == sims.height > 1
    assert {t["strategy"] for t in trades} == set(sims.get_column("strategy"))
    returns = [t["net_return"] for t in trades if t["net_return"] is not None]
    assert returns == sorted(returns, reverse=True)
    best = sims.sort("net_return", descending=True, nulls_last=True).row(0, named=True)
    assert trades[0]["net_return"] == best["net_return"] and trades[0]["exit_ts"] == iso(best["exit_ts"])
    fills = json.loads(best["fills"])
    assert trades[0]["fills"] == [{"ts": f[0], "price": f[1], "share": f[2], "reason": f[3]} for f in fills]
    assert abs(sum(f["share"] for f in trades[0]["fills"]) - 1.0) < 1e-9


def test_call_page_other_intervals_and_errors(http, warehouse):
    a = _a_call(warehouse)
    url = f"/api/v1/calls/{quote(a['chat_id'], safe='')}/{a['message_id']}"
    hourly = http.get(url, params={"interval": "1h", "address": a["address"]}).json()["candles"]["rows"]
    minute = http.get(url, params={"interval": "1m", "address": a["address"]}).json()["candles"]["rows"]
    assert 0 < len(hourly) <= 50
    assert max(r["h"] for r in hourly) == pytest.approx(max(r["h"] for r in minute))
    assert all(r["t"] % 3600 == 0 for r in hourly)
    assert_error(http.get(url, params={"interval": "2m"}), 400, "bad_request")
    assert_error(http.get(f"/api/v1/calls/{quote(a['chat_id'], safe='')}/999999999"), 404, "not_found")
    assert_error(http.get(f"/api/v1/calls/{quote(a['chat_id'], safe='')}/not-a-number"), 400, "bad_request")


def test_message_with_two_tokens(http, warehouse):
    calls = warehouse.read("telegram_calls")
    multi = calls.group_by("chat_id", "message_id").agg(pl.col("address").sort()).filter(
        pl.col("address").list.len() > 1)
    if multi.is_empty():
        pytest.skip("the sample has no message naming two tokens")
    chat, msg, addresses = multi.row(0)
    url = f"/api/v1/calls/{quote(chat, safe='')}/{msg}"
    default = http.get(url).json()
    assert default["call"]["address"] in addresses and len(default["other_tokens"]) == len(addresses) - 1
    for address in addresses:
        assert http.get(url, params={"address": address}).json()["call"]["address"] == address


def test_chat_ids_with_spaces(http, warehouse):
    """HTML exports give chats a 'name:<chat name>' id: its call and list URLs still work."""
    calls = warehouse.read("telegram_calls").filter(pl.col("chat_id").str.starts_with("name:"))
    if calls.is_empty():
        pytest.skip("no HTML export in the sample")
    row = calls.row(0, named=True)
    item = http.get("/api/v1/calls", params={"chat": row["chat_id"]}).json()["items"][0]
    assert " " not in item["call_url"]
    body = http.get(f"/api/v1{item['call_url']}", params={"address": item["address"]}).json()
    assert body["call"]["chat_id"] == row["chat_id"]


# -- strategies, compare, tokens ---------------------------------------------------------------------------

def test_strategies(http, warehouse):
    board = warehouse.read("strategy_leaderboard").sort("rank")
    body = http.get("/api/v1/strategies").json()
    assert body["total"] == board.height and [i["strategy"] for i in body["items"]] == board["strategy"].to_list()
    first = body["items"][0]
    assert {k: v for k, v in first.items() if k != "strategy_url"} == as_api(board.row(0, named=True))
    assert first["strategy_url"] == f"/strategies/{quote(first['strategy'], safe='')}"
    worst = http.get("/api/v1/strategies", params={"sort": "mean_return", "order": "asc"}).json()["items"][0]
    assert worst["mean_return"] == board.get_column("mean_return").min()


def test_strategy_page(http, warehouse):
    books = warehouse.read("portfolio_books")
    for name in warehouse.read("strategy_leaderboard").get_column("strategy"):
        body = http.get(f"/api/v1/strategies/{quote(name, safe='')}").json()
        assert body["strategy"]["strategy"] == name
        book = books.filter(pl.col("strategy") == name).row(0, named=True)
        assert body["book"] == as_api(book)
        assert body["skips"] == {"no_cash": book["skipped_no_cash"], "max_open": book["skipped_max_open"],
                                 "holding_token": book["skipped_holding_token"]}
        curve = warehouse.read("portfolio_equity", where=[("strategy", "=", name)]).sort("ts")
        equity = body["equity"]
        assert [p["t"] for p in equity] == [int(t.timestamp()) for t in curve.get_column("ts")]
        assert [p["equity_usd"] for p in equity] == curve.get_column("equity_usd").to_list()
        if book["book_trades"]:
            assert equity[0]["equity_usd"] == book["bankroll_usd"]
            assert equity[-1]["equity_usd"] == pytest.approx(book["final_equity_usd"], rel=1e-9)
        shares = json.loads(body["strategy"]["exit_reason_shares"])
        assert {r["reason"]: r["share"] for r in body["exit_reasons"]} == shares
        assert sum(r["trades"] for r in body["exit_reasons"]) == pytest.approx(body["strategy"]["trades"], abs=2)
        callers = warehouse.read("caller_strategy_leaderboard").filter(pl.col("strategy") == name)
        assert len(body["callers"]) == callers.height
        ranks = [c["rank"] for c in body["callers"] if c["rank"] is not None]
        assert ranks == sorted(ranks)
    assert_error(http.get("/api/v1/strategies/no_such_strategy"), 404, "not_found")
    weird = "sweep[tp=2,sl=0.5;x]"
    err = assert_error(http.get(f"/api/v1/strategies/{quote(weird, safe='')}"), 404, "not_found")
    assert weird in err["message"]


def test_compare(http, warehouse):
    names = warehouse.read("strategy_leaderboard").sort("rank").get_column("strategy").to_list()
    body = http.get("/api/v1/compare", params={"strategies": ",".join(names[:3])}).json()
    assert [s["strategy"]["strategy"] for s in body["strategies"]] == names[:3]
    one = http.get(f"/api/v1/strategies/{quote(names[1], safe='')}").json()
    assert body["strategies"][1] == {k: v for k, v in one.items() if k != "callers"}
    repeated = http.get("/api/v1/compare", params=[("strategies", names[0]), ("strategies", names[1])]).json()
    assert [s["strategy"]["strategy"] for s in repeated["strategies"]] == names[:2]
    assert_error(http.get("/api/v1/compare", params={"strategies": names[0]}), 400, "bad_request")
    assert_error(http.get("/api/v1/compare", params={"strategies": ",".join(names[:1] * 7)}), 400, "bad_request")
    assert_error(http.get("/api/v1/compare", params={"strategies": f"{names[0]},{names[0]}"}), 400, "bad_request")
    assert_error(http.get("/api/v1/compare", params={"strategies": f"{names[0]},nope"}), 404, "not_found")
    assert_error(http.get("/api/v1/compare"), 400, "bad_request")


def test_tokens(http, warehouse):
    board = warehouse.read("token_leaderboard").sort("rank", nulls_last=True)
    body = http.get("/api/v1/tokens").json()
    assert body["total"] == board.height
    first = body["items"][0]
    assert {k: v for k, v in first.items() if k != "dex_url"} == as_api(board.row(0, named=True))
    assert first["dex_url"] == f"https://dexscreener.com/{first['chain']}/{first['address']}"
    base = http.get("/api/v1/tokens", params={"chain": "base", "limit": 500}).json()
    assert base["total"] == board.filter(pl.col("chain") == "base").height > 0
    assert {i["chain"] for i in base["items"]} == {"base"}


# -- exports, quarantine, walk-forward ---------------------------------------------------------------------

def test_exports(http, warehouse):
    staged = warehouse.read("telegram_staged_calls")
    items = http.get("/api/v1/exports").json()["items"]
    assert {i["export_id"] for i in items} == set(staged.get_column("export_id"))
    for item in items:
        mine = staged.filter(pl.col("export_id") == item["export_id"])
        assert item["calls"] == mine.height and item["days"] == mine.get_column("day").n_unique()
        assert item["first_day"] == iso(mine.get_column("day").min())
        assert item["last_day"] == iso(mine.get_column("day").max())
        assert item["quarantined"] == warehouse.read("telegram_quarantine").filter(
            pl.col("export_id") == item["export_id"]).height


def test_quarantine_lists(http, warehouse):
    rows = warehouse.read("telegram_quarantine")
    body = http.get("/api/v1/quarantine").json()
    assert body["total"] == rows.height and body["next"] is None
    assert http.get("/api/v1/quarantine", params={"export": "nope", "reason": "invalid_json"}).json()["total"] == 0


def test_walk_forward(http, warehouse):
    folds, summary = warehouse.read("walk_forward"), warehouse.read("walk_forward_summary")
    body = http.get("/api/v1/walk-forward").json()
    assert len(body["folds"]) == folds.height > 0 and len(body["summary"]) == summary.height > 0
    assert "random_sums" not in body["folds"][0] and "random_counts" not in body["folds"][0]
    want = folds.sort(["fold_index", "policy"]).drop("random_sums", "random_counts").row(0, named=True)
    assert body["folds"][0] == as_api(want)
    top = summary.filter(pl.col("policy") == "top_callers").row(0, named=True)
    assert next(s for s in body["summary"] if s["policy"] == "top_callers") == as_api(top)


# -- errors, docs ------------------------------------------------------------------------------------------

def test_errors_have_one_shape(http):
    assert_error(http.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(http.get("/no/such/page"), 404, "not_found")
    err = assert_error(http.post("/api/v1/callers"), 405, "bad_request")
    assert "POST" in err["message"]
    assert_error(http.get("/api/v1/callers", params={"limit": "1e9"}), 400, "bad_request")


def test_docs_are_served_offline(http):
    page = http.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert not re.search(r"https?://", page.text), "the docs page names another host"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        got = http.get(asset)
        assert got.status_code == 200 and len(got.content) > 10_000, asset
    assert http.get("/static/vendor/swagger-ui/LICENSE").status_code == 200
    assert http.get("/redoc").status_code == 404
    spec = http.get("/openapi.json").json()
    assert "/api/v1/callers" in spec["paths"]


# -- keys and loopback -------------------------------------------------------------------------------------

def test_keys_on(start_api):
    with start_api(QUANTBOT_API_KEYS=",".join(KEYS)) as url, httpx.Client(base_url=url, timeout=30) as c:
        err = assert_error(c.get("/api/v1/health"), 401, "unauthorized")
        assert_error(c.get("/api/v1/health", headers={"X-API-Key": "wrong-key-000000000"}), 401, "unauthorized")
        assert_error(c.get("/api/v1/health", headers={"X-API-Key": KEYS[0][:-1]}), 401, "unauthorized")
        assert_error(c.get("/api/v1/nothing", headers={"X-API-Key": "wrong"}), 401, "unauthorized")
        assert_error(c.get("/metrics"), 401, "unauthorized")
        assert_error(c.get("/openapi.json"), 401, "unauthorized")
        for key in KEYS:
            assert c.get("/api/v1/health", headers={"X-API-Key": key}).status_code == 200
            assert c.get("/api/v1/callers", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert_error(c.get("/api/v1/nothing", headers={"X-API-Key": KEYS[0]}), 404, "not_found")
        # a browser is sent to the form, which sets an HttpOnly cookie for the right key only
        page = c.get("/callers", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=%2Fcallers")
        form = c.get("/login", params={"next": "/callers"})
        assert form.status_code == 200 and 'name="key"' in form.text
        wrong = c.post("/login", data={"key": "not-a-key-12345678", "next": "/callers"})
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        right = c.post("/login", data={"key": KEYS[1], "next": "/callers"})
        assert right.status_code == 303 and right.headers["location"] == "/callers"
        cookie = right.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        escape = c.post("/login", data={"key": KEYS[1], "next": "//evil.example/x"})
        assert escape.headers["location"] == "/"
        c.cookies.set("quantbot_key", KEYS[1])
        assert c.get("/api/v1/health").status_code == 200
        c.cookies.clear()
        for secret in (*KEYS, "not-a-key-12345678", "wrong-key-000000000"):
            assert secret not in json.dumps(err) and secret not in wrong.text


def _nonloopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.123", 9))  # no packet is sent: this only picks the outgoing interface
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_keys_off_refuses_other_hosts(served, start_api):
    address = _nonloopback_address()
    if address is None:
        pytest.skip("this machine has no address other than loopback")
    settings = serve_settings(served.warehouse_url)
    # a client connecting from a non-loopback address of this machine: refused while no keys are set
    with running_api(settings, host=address) as url:
        assert_error(httpx.get(f"{url}/api/v1/health", timeout=30), 403, "forbidden")
        assert_error(httpx.get(f"{url}/docs", timeout=30), 403, "forbidden")
    with start_api(host=address, QUANTBOT_API_KEYS=KEYS[0]) as url:
        assert httpx.get(f"{url}/api/v1/health", headers={"X-API-Key": KEYS[0]}, timeout=30).status_code == 200


def test_keys_off_rule_on_the_client_address(served):
    """The same rule through the ASGI scope: the client address decides, not the Host header."""
    from serve.app import create_app

    app = create_app(serve_settings(served.warehouse_url))
    for client, status in ((("10.1.2.3", 5555), 403), (("::1", 5555), 200), (("127.0.0.1", 5555), 200)):
        transport = httpx.ASGITransport(app=app, client=client)

        async def ask(t=transport):
            async with httpx.AsyncClient(transport=t, base_url="http://127.0.0.1") as c:
                return await c.get("/api/v1/health")
        import asyncio

        assert asyncio.run(ask()).status_code == status, client


def test_main_refuses_an_open_host_without_keys(served, capsys):
    from serve.__main__ import main

    env = {"QUANTBOT_WAREHOUSE": served.warehouse_url, "QUANTBOT_API_HOST": "0.0.0.0"}
    assert main(env) == 2
    err = capsys.readouterr().err
    assert "QUANTBOT_API_KEYS" in err and "0.0.0.0" in err
    bad = {"QUANTBOT_API_PORT": "eighty", "QUANTBOT_WAREHOUSE": "ftp://user:hunter2secret@db.example:8123/x",
           "QUANTBOT_WAREHOUSE_PASSWORD": "pw-s3cret", "QUANTBOT_API_KEYS": "a-key-not-to-show"}
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "QUANTBOT_API_PORT" in err and "QUANTBOT_WAREHOUSE" in err
    for secret in ("hunter2secret", "pw-s3cret", "a-key-not-to-show"):
        assert secret not in err


def test_main_serves(served):
    """`python -m serve` on a free loopback port answers, then stops on SIGTERM."""
    from tests.serve.conftest import free_port

    port = free_port()
    env = {**served.env, "QUANTBOT_WAREHOUSE": served.warehouse_url, "QUANTBOT_API_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "serve"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        import time

        deadline = time.time() + 30
        while time.time() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("python -m serve did not answer in 30 s")
        assert r.status_code == 200 and r.json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_storage_failures(start_api, tmp_path):
    """A warehouse file that cannot be read is a 503; rows that break the schema a 500: neither names a path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    broken = tmp_path / "broken"
    (broken / "telegram_calls" / "day=2025-09-01").mkdir(parents=True)
    (broken / "telegram_calls" / "day=2025-09-01" / "data.parquet").write_bytes(b"PAR1 not a parquet file PAR1")
    with start_api(QUANTBOT_WAREHOUSE=f"parquet://{broken}") as url:
        answer = httpx.get(f"{url}/api/v1/health", timeout=30)
        err = assert_error(answer, 503, "unavailable")
        assert str(tmp_path) not in answer.text and "parquet" not in err["message"]
        assert_error(httpx.get(f"{url}/api/v1/calls", timeout=30), 503, "unavailable")
    foreign = tmp_path / "foreign"
    (foreign / "telegram_calls" / "day=2025-09-01").mkdir(parents=True)
    pq.write_table(pa.table({"message_id": [1]}), foreign / "telegram_calls" / "day=2025-09-01" / "data.parquet")
    with start_api(QUANTBOT_WAREHOUSE=f"parquet://{foreign}") as url:
        answer = httpx.get(f"{url}/api/v1/health", timeout=30)
        assert_error(answer, 500, "internal")
        assert str(tmp_path) not in answer.text and "chain" not in answer.text
