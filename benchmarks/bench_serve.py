"""Read API and dashboard latency over a ~100,000-call warehouse: `python -m benchmarks.bench_serve`.

The warehouse is the demo's tiled N times (benchmarks/serve_warehouse.py, cached by N under /tmp); the demo
warehouse itself is the second row. For each, `python -m serve` runs as a subprocess on a free loopback port
(Dagster pointed at a closed port: its status is not what is measured), is warmed up, then every endpoint is
asked REQUESTS times in a row over one keep-alive connection, with its parameter drawn at random (a random
call, caller, chat); latency is the client's, request sent to body read. Every answer is checked (status
200, the item asked for) so no error page is timed.

Side by side, the physical bound: the same rows read straight from the warehouse in this process
(`Warehouse.read` with the same filters, sorted and cut as the endpoint does; no HTTP, no JSON, no cache),
so the table shows what the API layer costs or saves.

Dashboard pages load in headless Chromium (a fresh browser context per load: nothing cached), timed from
navigation to the page's figures being drawn; PAGE_LOADS per page.

Goals: p95 < 100 ms for the boards and the call endpoint; < 1 s per page. Figures go to docs/benchmarks.md
(section "Read API and dashboard"); the last line is `api_p95_ms=<x> page_load_ms=<y>` (x the worst p95 of
the board and call endpoints, y the worst page p95).

    python -m benchmarks.bench_serve [--tiles 513] [--requests 200] [--page-loads 20] [--peer-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import numpy as np
import polars as pl

from benchmarks._report import table, write_section
from benchmarks.serve_warehouse import DEMO, build, info
from quantbot_pipelines.warehouse import open_warehouse
from resources.settings import REPO_ROOT

BOARDS_AND_CALL = ("callers", "callers 30d chat by score", "strategies", "calls of a caller", "one call")
DEFAULT_LIMIT = 50
PEER_DRAWS = 60  # the uncached warehouse reads take up to seconds each: fewer of them
PY = sys.executable


# -- the endpoints: a path per draw, a check of the answer, and the same rows read in-process -----------------

class Sample:
    """What the requests draw from: calls, callers, chats and strategies of the warehouse."""

    def __init__(self, wh, seed: int = 7):
        rng = random.Random(seed)
        calls = wh.read("telegram_calls", columns=["day", "chat_id", "message_id", "caller_id", "chain", "address"])
        rows = calls.rows(named=True)
        self.calls = rng.sample(rows, min(len(rows), 1000))
        board = wh.read("caller_boards", where=[("window", "=", "all"), ("scope", "=", "all")],
                        columns=["caller_id"]).get_column("caller_id").unique().sort().to_list()
        self.callers = rng.sample(board, min(len(board), 1000))
        self.chats = sorted(calls.get_column("chat_id").unique().to_list())
        self.strategies = wh.read("strategy_leaderboard", columns=["strategy"]).get_column("strategy").to_list()
        self.rng = rng

    def pick(self, items: list):
        return self.rng.choice(items)


def _calls_of(wh, caller: str) -> pl.DataFrame:
    calls = wh.read("telegram_calls", where=[("caller_id", "=", caller)])
    analytics = wh.read("token_analytics", where=[("caller_id", "=", caller)],
                        columns=["chat_id", "message_id", "chain", "address", "status", "ath_multiple",
                                 "x_from_call", "time_to_2x_s"])
    return (calls.join(analytics, on=["chat_id", "message_id", "chain", "address"], how="left")
            .sort("call_ts", descending=True).head(DEFAULT_LIMIT))


def _one_call(wh, call: dict, interval: str) -> tuple:
    key = [("chat_id", "=", call["chat_id"]), ("message_id", "=", call["message_id"])]
    row = wh.read("telegram_calls", where=key)  # the URL does not name the day: every day is looked at
    day = row.get_column("day").item(0)
    analytics = wh.read("token_analytics", where=[("day", "=", day), *key])
    call_ts = row.get_column("call_ts").item(0)
    # the window fetched around a call (docs/semantics.md#candles): 1 h before, 48 h 15 min after
    candles = wh.read("aggregated_candles", where=[
        ("day", "=", day), ("interval", "=", interval), ("chain", "=", call["chain"]),
        ("address", "=", call["address"]), ("open_ts", ">=", call_ts - dt.timedelta(hours=1)),
        ("open_ts", "<", call_ts + dt.timedelta(hours=48, minutes=15))],
        columns=["open_ts", "open", "high", "low", "close", "volume_usd"])
    trades = wh.read("simulation_results", where=[("day", "=", day), *key]).sort("net_return", descending=True)
    return row, analytics, candles, trades


def _caller(wh, caller: str) -> tuple:
    boards = wh.read("caller_boards", where=[("caller_id", "=", caller)])
    board = wh.read("caller_leaderboard", where=[("caller_id", "=", caller)])
    exits = wh.read("caller_strategy_leaderboard", where=[("caller_id", "=", caller)]).sort("rank")
    xs = wh.read("token_analytics", where=[("caller_id", "=", caller)], columns=["x_from_call"])
    xs = xs.get_column("x_from_call").drop_nulls().to_numpy()
    hist = np.histogram(xs, bins=[0, 0.5, 1, 2, 5, 10, 100, np.inf])[0]
    chats = wh.read("telegram_calls", where=[("caller_id", "=", caller)], columns=["chat_id", "chat_name"])
    return boards, board, exits, hist, chats.group_by("chat_id", "chat_name").len()


def endpoints(s: Sample, interval: str) -> list[dict]:
    """name, path(draw), check(json, draw), peer(wh, draw): one entry per measured endpoint."""
    def items(j):
        return j["items"]
    chat = s.chats[0]
    return [
        {"name": "callers", "draw": lambda: None, "path": lambda _: "/api/v1/callers",
         "check": lambda j, _: len(items(j)) > 0,
         "peer": lambda wh, _: wh.read("caller_boards", where=[("window", "=", "all"), ("scope", "=", "all")])
         .sort("rank").head(DEFAULT_LIMIT)},
        {"name": "callers 30d chat by score", "draw": lambda: s.pick(s.chats),
         "path": lambda c: f"/api/v1/callers?window=30d&chat={quote(c, safe='')}&sort=score&order=desc",
         "check": lambda j, c: all(r["chat_id"] == c for r in items(j)),
         "peer": lambda wh, c: wh.read("caller_boards", where=[("window", "=", "30d"), ("scope", "=", c)])
         .sort("score", descending=True, nulls_last=True).head(DEFAULT_LIMIT)},
        {"name": "strategies", "draw": lambda: None, "path": lambda _: "/api/v1/strategies",
         "check": lambda j, _: len(items(j)) > 0,
         "peer": lambda wh, _: wh.read("strategy_leaderboard").sort("rank").head(DEFAULT_LIMIT)},
        {"name": "calls of a caller", "draw": lambda: s.pick(s.callers),
         "path": lambda c: f"/api/v1/calls?caller={quote(c, safe='')}",
         "check": lambda j, c: len(items(j)) > 0 and all(r["caller_id"] == c for r in items(j)),
         "peer": _calls_of},
        {"name": "one call", "draw": lambda: s.pick(s.calls),
         "path": lambda c: "/api/v1" + _call_path(c),
         "check": lambda j, c: j["call"]["message_id"] == c["message_id"],
         "peer": lambda wh, c: _one_call(wh, c, interval)},
        {"name": "one caller", "draw": lambda: s.pick(s.callers),
         "path": lambda c: f"/api/v1/callers/{quote(c, safe='')}",
         "check": lambda j, c: j["caller"]["caller_id"] == c,
         "peer": _caller},
        {"name": "chats", "draw": lambda: None, "path": lambda _: "/api/v1/chats",
         "check": lambda j, _: any(r["chat_id"] == chat for r in items(j)),
         "peer": lambda wh, _: wh.read("telegram_calls", columns=["day", "chat_id", "chat_name", "caller_id"])
         .group_by("chat_id", "chat_name").agg(pl.len(), pl.col("caller_id").n_unique(), pl.col("day").min().alias("first_day"),
                                                 pl.col("day").max().alias("last_day"))},
    ]


def reader_calls(s: Sample) -> dict[str, Callable]:
    """The API's own read model (serve.reader.Reader, warm) in this process, per endpoint: the route's work
    without HTTP, FastAPI, response validation and JSON encoding."""
    from serve.reader import page, records

    def cut(frame, default_sort, desc=False):
        return records(page(frame, sort=None, order=None, default_sort=default_sort, default_desc=desc,
                            limit=DEFAULT_LIMIT, offset=0)[0])

    def by_score(r, c):
        return records(page(r.callers(window="30d", chat=c), sort="score", order="desc", default_sort=["rank"],
                            limit=DEFAULT_LIMIT, offset=0)[0])
    return {
        "callers": lambda r, _: cut(r.callers(), ["rank"]),
        "callers 30d chat by score": by_score,
        "strategies": lambda r, _: cut(r.strategies(), ["rank", "strategy"]),
        "calls of a caller": lambda r, c: cut(r.calls(caller=c), ["call_ts", "chat_id", "message_id"],
                                              [True, False, False]),
        "one call": lambda r, c: r.call(c["chat_id"], c["message_id"]),
        "one caller": lambda r, c: r.caller(c),
        "chats": lambda r, _: cut(r.chats(), ["calls", "chat_id"], [True, False]),
    }


def pct(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max())}


def time_peer(wh, ep: dict, draws: list) -> list[float]:
    out = []
    for d in draws:
        t = time.perf_counter()
        ep["peer"](wh, d)
        out.append((time.perf_counter() - t) * 1000)
    return out


# -- the server ----------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m serve` over `root` on a free loopback port; its output goes to a log file."""

    def __init__(self, root: Path, log_dir: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "QUANTBOT_WAREHOUSE": f"parquet://{root}", "QUANTBOT_API_HOST": "127.0.0.1",
               "QUANTBOT_API_PORT": str(self.port), "QUANTBOT_DAGSTER_URL": f"http://127.0.0.1:{free_port()}",
               "QUANTBOT_DASHBOARD_URL": self.base, "PYTHONUNBUFFERED": "1"}
        env.pop("QUANTBOT_API_KEYS", None)
        self.log = log_dir / f"serve_{self.port}.log"
        self._log = self.log.open("w")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([PY, "-m", "serve"], cwd=REPO_ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def wait_ready(self, client, timeout_s: float = 300) -> float:
        """Seconds from start until /api/v1/health answers 200."""
        import httpx

        while time.perf_counter() - self.started < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if client.get(self.base + "/api/v1/health", timeout=5).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.TransportError:  # not listening yet
                time.sleep(0.1)
                continue
            time.sleep(0.1)
        raise RuntimeError(f"serve not ready after {timeout_s} s:\n{self.tail()}")

    def rss_mb(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def tail(self, n: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def time_http(client, base: str, ep: dict, draws: list) -> list[float]:
    out = []
    for d in draws:
        url = base + ep["path"](d)
        t = time.perf_counter()
        r = client.get(url)
        body = r.content
        out.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"{ep['name']}: {url} answered {r.status_code}: {body[:300]!r}")
        if not ep["check"](r.json(), d):
            raise RuntimeError(f"{ep['name']}: {url} answered with the wrong rows: {body[:300]!r}")
    return out


# -- pages ---------------------------------------------------------------------------------------------------

DONE = os.environ.get("BENCH_SERVE_DONE_SELECTOR", "body[data-ready]")


def _call_path(call: dict) -> str:
    return f"/calls/{quote(call['chat_id'], safe='')}/{call['message_id']}"


def pages(s: Sample) -> list[dict]:
    return [
        {"name": "overview /", "path": lambda: "/"},
        {"name": "caller page", "path": lambda: f"/callers/{quote(s.pick(s.callers), safe='')}"},
        {"name": "call page", "path": lambda: _call_path(s.pick(s.calls))},
        {"name": "strategy page", "path": lambda: f"/strategies/{quote(s.pick(s.strategies), safe='')}"},
    ]


# set in the page before any of its scripts: the moment (ms since navigation start) the dashboard marks the
# page drawn, measured by the browser itself
READY_AT = """new MutationObserver((_, o) => {
  if (document.body && document.body.dataset.ready) { window.__readyAt = performance.now(); o.disconnect(); }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-ready"]});"""


def time_pages(base: str, s: Sample, loads: int) -> dict[str, dict]:
    """Per page: wall time at the harness (p50/p95/...), the browser's own navigation-to-drawn time, the API
    requests it made and their bytes. The floor row is a fresh context fetching one static file."""
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            for pg in [{"name": "floor: a static file", "path": lambda: "/static/format.js", "floor": True},
                       *pages(s)]:
                ms, in_page, api, api_bytes, errors = [], [], [], [], []
                for i in range(loads + 2):  # the first two warm the server's side, not timed
                    context = browser.new_context()
                    context.add_init_script(READY_AT)
                    page = context.new_page()
                    page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                    calls = []
                    page.on("response", lambda r, calls=calls: calls.append(int(r.headers.get("content-length") or 0))
                            if "/api/v1/" in r.url else None)
                    url = base + pg["path"]()
                    t = time.perf_counter()
                    resp = page.goto(url, wait_until="load" if pg.get("floor") else "commit")
                    if resp is None or resp.status != 200:
                        raise RuntimeError(f"{url}: {resp.status if resp else 'no answer'}")
                    if not pg.get("floor"):
                        page.wait_for_selector(DONE, state="attached", timeout=60_000)
                    elapsed = (time.perf_counter() - t) * 1000
                    if not pg.get("floor") and page.query_selector("#main > p.error:only-child"):
                        raise RuntimeError(f"{url}: {page.inner_text('#main')[:300]}")  # the page failed as a whole
                    if i >= 2:
                        ms.append(elapsed)
                        if not pg.get("floor"):
                            in_page.append(page.evaluate("window.__readyAt"))
                        api.append(len(calls))
                        api_bytes.append(sum(calls))
                    context.close()
                if errors:
                    raise RuntimeError(f"{pg['name']}: script errors: {errors[:3]}")
                out[pg["name"]] = {**pct(ms), "in_page_p50": float(np.median(in_page)) if in_page else None,
                                   "in_page_p95": float(np.percentile(in_page, 95)) if in_page else None,
                                   "api_requests": float(np.median(api)), "api_kb": float(np.median(api_bytes)) / 1000}
        finally:
            browser.close()
    return out


# -- a run over one warehouse --------------------------------------------------------------------------------

def measure(label: str, root: Path, requests: int, page_loads: int, peer_only: bool, log_dir: Path) -> dict:
    wh = open_warehouse(f"parquet://{root}")
    sample = Sample(wh)
    who = wh.read("telegram_calls", columns=["caller_id", "chain", "address"])
    calls = who.height
    files = [f for f in root.rglob("*.parquet")]
    disk_gb = sum(f.stat().st_size for f in files) / 1e9
    candle_gb = sum(f.stat().st_size for f in files if f.parts[len(root.parts)].endswith("_candles")
                    and "intrabar" not in f.parts[len(root.parts)]) / 1e9
    eps = endpoints(sample, os.environ.get("BENCH_SERVE_INTERVAL", "5m"))
    draws = {ep["name"]: [ep["draw"]() for _ in range(requests)] for ep in eps}
    result = {"label": label, "calls": calls, "callers": who.get_column("caller_id").n_unique(),
              "tokens": who.select(pl.struct("chain", "address").n_unique()).item(), "disk_gb": disk_gb,
              "candle_gb": candle_gb, "rows": {}, "pages": {},
              "load_start": os.getloadavg()[0]}
    for ep in eps:  # the peer first: the page cache then holds the files for both sides alike
        time_peer(wh, ep, draws[ep["name"]][:3])
        result["rows"][ep["name"]] = {"peer": pct(time_peer(wh, ep, draws[ep["name"]][:PEER_DRAWS]))}
    try:
        from serve.reader import Reader

        reader = Reader(f"parquet://{root}", refresh_s=3600)
        reader.warm()
        for name, fn in reader_calls(sample).items():
            for d in draws[name][:3]:
                fn(reader, d)
            ms = []
            for d in draws[name]:
                t = time.perf_counter()
                fn(reader, d)
                ms.append((time.perf_counter() - t) * 1000)
            result["rows"][name]["reader"] = pct(ms)
        reader.close()
        del reader
    except ImportError:
        pass  # no read model yet: the column stays empty
    if not peer_only:
        import httpx

        server = Server(root, log_dir)
        try:
            with httpx.Client(timeout=60) as client:
                result["startup_s"] = server.wait_ready(client)
                for ep in eps:
                    time_http(client, server.base, ep, draws[ep["name"]][:5])  # warm-up
                for ep in eps:
                    result["rows"][ep["name"]]["api"] = pct(time_http(client, server.base, ep, draws[ep["name"]]))
            if page_loads:
                result["pages"] = time_pages(server.base, sample, page_loads)
            result["server_rss_mb"] = server.rss_mb()
        finally:
            server.stop()
    result["load_end"] = os.getloadavg()[0]
    return result


def _f(x: float | None) -> str:
    return "-" if x is None else (f"{x:.1f}" if x < 100 else f"{x:.0f}")


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def report(runs: list[dict], tiles: int, built: dict, requests: int, page_loads: int) -> tuple[float, float]:
    rows, page_rows = [], []
    for r in runs:
        for name, fig in r["rows"].items():
            api, peer, rd = fig.get("api"), fig["peer"], fig.get("reader")
            rows.append({"warehouse": f"{r['label']} ({r['calls']:,} calls)", "endpoint": name,
                         "API p50 ms": _f(api and api["p50"]), "API p95 ms": _f(api and api["p95"]),
                         "API p99 ms": _f(api and api["p99"]), "read model p50 ms": _f(rd and rd["p50"]),
                         "read model p95 ms": _f(rd and rd["p95"]), "warehouse read p50 ms": _f(peer["p50"]),
                         "warehouse read p95 ms": _f(peer["p95"]),
                         "API / warehouse read (p50)": f"{api['p50'] / peer['p50']:.2f}" if api else "-"})
        for name, fig in r["pages"].items():
            page_rows.append({"warehouse": f"{r['label']} ({r['calls']:,} calls)", "page": name,
                              "p50 ms": _ms(fig["p50"]), "p95 ms": _ms(fig["p95"]), "max ms": _ms(fig["max"]),
                              "in-browser p50 ms": _ms(fig["in_page_p50"]),
                              "in-browser p95 ms": _ms(fig["in_page_p95"]),
                              "API requests": int(fig["api_requests"]), "API kB": f"{fig['api_kb']:,.0f}"})
    big = runs[0]
    api_p95 = max((big["rows"][n]["api"]["p95"] for n in BOARDS_AND_CALL if "api" in big["rows"][n]), default=0.0)
    page_p95 = max((f["p95"] for n, f in big["pages"].items() if not n.startswith("floor")), default=0.0)
    t = built["tables"]
    loads = ", ".join(f"{r['label']} {r['load_start']:.2f} -> {r['load_end']:.2f}" for r in runs)
    extra = "; ".join(f"{r['label']}: ready {r['startup_s']:.1f} s after start, RSS {r['server_rss_mb']:.0f} MB "
                      "after the run" for r in runs if r.get("startup_s") is not None and r.get("server_rss_mb"))
    eq = t.get("portfolio_equity", {})
    equity = (f"The demo warehouse predates `portfolio_equity`: the tiled one has it from the books run over the "
              f"tiled trades ({eq.get('rows', 0):,} points), the demo row has none (its strategy page draws no curve)."
              if eq.get("computed") else
              f"The books' equity curves (`portfolio_equity`, {eq.get('rows', 0):,} points) are copied as they are.")
    body = f"""
The demo warehouse (data/warehouse) tiled {tiles} times (`benchmarks/serve_warehouse.py`: each tile the
demo's rows under its own message ids, callers and token addresses, days kept, no figure recomputed):
{t['telegram_calls']['rows']:,} calls and token_analytics rows, {t['simulation_results']['rows']:,} simulation_results,
{t['raw_candles']['rows']:,} raw and {t['aggregated_candles']['rows']:,} aggregated candles, {t['caller_boards']['rows']:,}
caller_boards rows, {t['portfolio_results']['rows']:,} portfolio_results; {big['callers']:,} callers, {big['tokens']:,} tokens;
{big['disk_gb']:.2f} GB on disk, {big['candle_gb']:.2f} GB of it candles (built in {built['build_s']} s, peak RSS
{built['peak_rss_mb']:,} MB). Candle prices carry a per-tile factor of 1 + tile x 1e-9, so the files take the
room real ones do rather than zstd folding the tiles into one. {equity} The demo warehouse itself is the second
row.

`python -m serve` as a subprocess on loopback, warmed up; {requests} requests per endpoint in a row over one
keep-alive connection, parameters drawn at random (a call, a caller, a chat); latency at the client, request
to body read; every answer checked. Read model: the API's own `serve.reader.Reader` (warm) called in this
process as the route calls it, rows made JSON-ready (what is left without HTTP, FastAPI, response validation
and JSON). Warehouse read, the physical bound without a cache: the same rows through `Warehouse.read` with
the same filters, sorted and cut as the endpoint does (no HTTP, no JSON, nothing kept in memory; a call's
URL does not name its day, so its row is looked for in every day). Load average (1 min) start -> end:
{loads}. {extra}

{table(rows)}

Dashboard pages in headless Chromium, a fresh context per load (nothing cached), {page_loads} loads each after
2 untimed: wall time at the harness from navigation to the page's figures drawn (`{DONE}`), and the
browser's own time from navigation start to that mark; the floor is a fresh context fetching one static file
(what any page pays before its own work). Pages pick a random caller, call or strategy per load; a strategy's
first visit builds its equity curve.

{table(page_rows) if page_rows else "(not run)"}

- boards and call endpoint p95 < 100 ms: {"met" if api_p95 < 100 else "not met"} (worst {api_p95:.1f} ms)
- page p95 < 1 s: {"met" if page_p95 < 1000 else "not met"} (worst {page_p95:.0f} ms)

Last line: `api_p95_ms={api_p95:.1f} page_load_ms={page_p95:.0f}`
"""
    write_section("serve", "Read API and dashboard", body)
    return api_p95, page_p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=int(os.environ.get("BENCH_SERVE_TILES", "513")))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--page-loads", type=int, default=20)
    parser.add_argument("--peer-only", action="store_true", help="only the in-process reads (no server)")
    parser.add_argument("--no-report", action="store_true", help="print, do not write docs/benchmarks.md")
    parser.add_argument("--demo-only", action="store_true", help="only the demo warehouse (a quick look)")
    parser.add_argument("--report-only", action="store_true", help="write the report of the last run again")
    args = parser.parse_args()
    if args.report_only:
        root = build(args.tiles)
        saved = json.loads((root / ".bench_serve_runs.json").read_text())
        api_p95, page_p95 = report(saved, args.tiles, info(root), args.requests, args.page_loads)
        print(f"api_p95_ms={api_p95:.1f} page_load_ms={page_p95:.0f}")
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the server and the browser are stopped too
    sizes = [("demo", DEMO)]
    if not args.demo_only:
        root = build(args.tiles)
        built = info(root)
        sizes.insert(0, (f"demo x {args.tiles}", root))
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench_serve_") as logs:
        for label, wh_root in sizes:
            r = measure(label, wh_root, args.requests, args.page_loads, args.peer_only, Path(logs))
            runs.append(r)
            for name, fig in r["rows"].items():
                print(label, name, {k: {q: round(v, 1) for q, v in f.items()} for k, f in fig.items()}, flush=True)
            for name, fig in r["pages"].items():
                print(label, name, {q: round(v) for q, v in fig.items() if v is not None}, flush=True)
    if not args.demo_only:  # kept so a report can be written again without measuring (--report-only)
        (root / ".bench_serve_runs.json").write_text(json.dumps(runs))
    if args.no_report or args.demo_only:
        big = runs[0]["rows"]
        api_p95 = max((big[n]["api"]["p95"] for n in BOARDS_AND_CALL if "api" in big[n]), default=0.0)
        page_p95 = max((f["p95"] for n, f in runs[0]["pages"].items() if not n.startswith("floor")), default=0.0)
    else:
        api_p95, page_p95 = report(runs, args.tiles, built, args.requests, args.page_loads)
    print(f"api_p95_ms={api_p95:.1f} page_load_ms={page_p95:.0f}")


if __name__ == "__main__":
    main()
