"""Screenshots of every dashboard page (1440x900 PNGs) into docs/screenshots/dashboard_<page>.png.

    .venv/bin/python scripts/dashboard_screenshots.py                 # serves the demo warehouse itself
    .venv/bin/python scripts/dashboard_screenshots.py --url http://127.0.0.1:8000   # a running server

Drives the machine's Chromium (apt-get install chromium). A page that logs a console error or has a failed
request is reported, and the script exits 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def own_server(warehouse: str):
    """The app over `warehouse` on a free loopback port, Dagster pointed at a closed port (shown as such)."""
    import uvicorn

    from serve.app import create_app
    from serve.settings import ServeSettings

    settings = ServeSettings.from_env({"QUANTBOT_WAREHOUSE": warehouse,
                                       "QUANTBOT_DAGSTER_URL": f"http://127.0.0.1:{free_port()}"})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    server.install_signal_handlers = lambda: None
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise SystemExit("the dashboard's server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def pages(base: str) -> dict[str, str]:
    """Every page, its path parameters taken from the data: the rank-1 caller, that caller's best call."""
    with httpx.Client(base_url=base, timeout=60) as http:
        caller = http.get("/api/v1/callers", params={"limit": 1}).json()["items"][0]["caller_id"]
        calls = http.get("/api/v1/calls", params={"caller": caller, "sort": "x_from_call", "order": "desc",
                                                   "limit": 1}).json()["items"]
        top = [s["strategy"] for s in http.get("/api/v1/strategies", params={"limit": 3}).json()["items"]]
    call = calls[0]
    return {
        "overview": "/",
        "callers": "/callers",
        "caller": f"/callers/{quote(caller, safe='')}",
        "calls": "/calls",
        "call": f"/calls/{quote(call['chat_id'], safe='')}/{call['message_id']}",
        "strategies": "/strategies",
        "strategy": f"/strategies/{quote(top[0], safe='')}",
        "compare": "/compare?strategies=" + ",".join(quote(s, safe="") for s in top),
        "tokens": "/tokens",
    }


def shoot(base: str, out: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("no chromium on PATH: apt-get install chromium")
    out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: console: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"{r.url}: failed: {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.url}: HTTP {r.status}"))
        for name, path in pages(base).items():
            page.goto(base + path)
            page.wait_for_selector("body[data-ready='1']", state="attached", timeout=30_000)
            page.wait_for_timeout(300)  # the charts draw on the next frames
            target = out / f"dashboard_{name}.png"
            page.screenshot(path=str(target))
            print(f"{target.relative_to(REPO) if target.is_relative_to(REPO) else target}  {path}")
        browser.close()
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running API/dashboard (default: serve the warehouse here)")
    data = Path(os.environ.get("QUANTBOT_DATA_DIR", REPO / "data"))
    parser.add_argument("--warehouse", default=os.environ.get("QUANTBOT_WAREHOUSE", f"parquet://{data / 'warehouse'}"))
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    if args.url:
        problems = shoot(args.url.rstrip("/"), args.out)
    else:
        with own_server(args.warehouse) as base:
            problems = shoot(base, args.out)
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
