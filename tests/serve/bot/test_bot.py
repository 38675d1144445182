"""The bot end to end: a fake Telegram Bot API on loopback, the real read API, a real `dagster dev`."""

from __future__ import annotations

import html
import logging
import re
import secrets
import signal
import subprocess
import sys
import time

from quantbot_pipelines.views import multiple, points, share
from serve.bot.answers import strategy_figures
from tests.serve.bot.conftest import CHAT, DASHBOARD, STRANGER, running_bot
from tests.serve.bot.fake_telegram import FakeTelegram
from tests.serve.conftest import REPO, closed_port_url

LIMIT = 4096


def _ask(bot, text: str, timeout: float = 20.0, **push) -> list[dict]:
    """Send `text` from the allowed chat; its answers, once the last came (a marker message follows)."""
    before = len(bot.telegram.messages(CHAT))
    bot.telegram.push(CHAT, text, **push)
    bot.telegram.push(CHAT, "/help")  # answered after `text`'s answers: the end of them
    got = bot.telegram.wait(CHAT, lambda m: m["plain"].startswith("QuantBot answers"), timeout, after=before)
    return got[:-1]


def test_help_and_the_allowlist(bot):
    before = len(bot.telegram.messages())
    bot.telegram.push(STRANGER, "/top")
    answers = _ask(bot, "/nonsense")
    assert bot.telegram.messages(STRANGER) == []
    assert [m["plain"] for m in answers] == ["I do not know /nonsense. /help lists what I answer."]
    assert len(bot.telegram.messages()) == before + 2
    assert any(f"ignored a message from chat {STRANGER}" in line for line in bot.logs.lines)
    assert all(m["parse_mode"] == "HTML" for m in bot.telegram.messages())


def test_top_writes_the_api_figures(bot, http):
    board = http.get("/api/v1/callers",
                     params={"window": "all", "sort": "rank", "order": "asc", "limit": 5}).json()
    (answer,) = _ask(bot, "/top 5")
    lines = answer["plain"].splitlines()
    assert lines[0] == f"Top 5 callers (all chats, all time, of {board['total']})"
    for line, row in zip(lines[1:], board["items"], strict=False):
        assert line == (f"{row['rank']}. {row['caller_name']}: calls {row['calls']}, median X "
                        f"{multiple(row['median_x'])}, 2x {share(row['hit_rate_2x'])}, points "
                        f"{points(row['points'])}, score {row['score']:.3f}")
    assert len(lines) == 1 + len(board["items"]) + 1
    first = board["items"][0]
    assert f'href="{DASHBOARD}/callers/{first["caller_id"]}"' in answer["text"]


def test_a_long_answer_is_split_under_the_limit(bot, http):
    calls = http.get("/api/v1/calls", params={"limit": 200, "sort": "call_ts", "order": "desc"}).json()
    answers = _ask(bot, "/calls 200")
    assert len(answers) >= 2
    assert all(len(m["text"]) <= LIMIT for m in answers)
    lines = [line for m in answers for line in m["plain"].splitlines()]
    assert lines[0] == f"Latest {len(calls['items'])} calls (of {calls['total']})"
    shown = lines[1:]
    if shown[-1].startswith("… and "):  # more than fits in the answer's messages: the rest on the dashboard
        left = int(re.match(r"… and (\d+) more", shown[-1]).group(1))
        shown = shown[:-1]
        assert len(shown) + left == len(calls["items"])
    links = [h for m in answers for h in re.findall(r'href="([^"]+/calls/[^"]+)"', m["text"])]
    expected = [DASHBOARD + c["call_url"] for c in calls["items"][:len(shown)]]
    assert [html.unescape(u) for u in links] == expected


def test_strategy_and_caller(bot, http):
    board = http.get("/api/v1/strategies", params={"limit": 1}).json()
    name = board["items"][0]["strategy"]
    (answer,) = _ask(bot, f"/strategy {name}")
    assert answer["plain"].splitlines()[1] == strategy_figures(board["items"][0], board["total"])
    params = {"limit": 1, "sort": "rank", "order": "asc"}
    caller = http.get("/api/v1/callers", params=params).json()["items"][0]
    (answer,) = _ask(bot, f"/caller {caller['caller_name'].upper()}")  # by name, whatever the case
    assert answer["plain"].startswith(f"{caller['caller_name']} ({caller['caller_id']})")
    (answer,) = _ask(bot, "/caller nobody-of-that-name")
    assert answer["plain"] == "No caller named or with the id nobody-of-that-name."


def test_status_asks_the_api_and_dagster(bot):
    (answer,) = _ask(bot, "/status")
    assert "Warehouse (parquet):" in answer["plain"]
    assert "Dagster: reachable" in answer["plain"]


def test_a_failing_api_is_a_polite_answer(world, dagster_ui):
    with running_bot(closed_port_url(), dagster_ui.url, world.strategies) as bot:
        answers = _ask(bot, "/top")
    assert [m["plain"] for m in answers] == ["Sorry, the read API cannot be reached; try again in a minute."]


def test_dagster_down_launches_nothing(api, tmp_path):
    shipped = (REPO / "strategies" / "quick_2x.yaml").read_bytes()
    yaml = shipped.replace(b"name: quick_2x", b"name: offline_2x")
    with running_bot(api, closed_port_url(), tmp_path) as bot:
        (answer,) = _ask(bot, None, document=("offline_2x.yaml", yaml), caption="/backtest")
    assert answer["plain"].startswith("Sorry, Dagster cannot be asked now: the Dagster webserver cannot be "
                                      "reached"), answer["plain"]
    assert list(tmp_path.iterdir()) == []  # neither the file nor a marker: the sensor has nothing to run


def test_a_bad_strategy_file_gets_the_loaders_message(bot, world):
    answers = _ask(bot, None, document=("bad_exit.yaml", b"take_profit: 2\nstop_los: 0.5\n"),
                   caption="/backtest")
    (answer,) = answers
    assert answer["plain"].startswith("bad_exit.yaml: field 'stop_los': expected a known field")
    assert not (world.strategies / "bad_exit.yaml").exists()
    # a different file under a name the folder holds is refused; the folder's file stays as it was
    mine = (REPO / "strategies" / "quick_2x.yaml").read_bytes().replace(b"time_exit: 6h", b"time_exit: 2h")
    (answer,) = _ask(bot, None, document=("quick_2x.yaml", mine), caption="/backtest")
    assert answer["plain"].startswith("a different quick_2x.yaml is in the strategies folder already")
    shipped = (REPO / "strategies" / "quick_2x.yaml").read_bytes()
    assert (world.strategies / "quick_2x.yaml").read_bytes() == shipped
    (answer,) = _ask(bot, "/backtest nothere")
    assert answer["plain"].startswith("No nothere.yaml in the strategies folder")


def _wait_for(bot, predicate, timeout: float = 20.0, after: int = 0) -> dict:
    """The first message to the chat, from the `after`-th on, that satisfies `predicate`."""
    return next(m for m in bot.telegram.wait(CHAT, predicate, timeout, after) if predicate(m))


def _runs(dagster_ui, stem: str) -> list[dict]:
    data = dagster_ui.gql("query($t: [ExecutionTag!]) { runsOrError(filter: {tags: $t}) { ... on Runs { "
                          "results { runId jobName status startTime endTime } } } }",
                          t=[{"key": "quantbot/strategy", "value": stem}])
    return data["runsOrError"]["results"]


def _sensor_ticks(dagster_ui, after: float) -> list[float]:
    data = dagster_ui.gql("{ repositoriesOrError { ... on RepositoryConnection { nodes { sensors { name "
                          "sensorState { ticks(limit: 50) { timestamp status } } } } } } }")
    sensors = data["repositoriesOrError"]["nodes"][0]["sensors"]
    (strategies,) = [s for s in sensors if s["name"] == "strategies_sensor"]
    return [t["timestamp"] for t in strategies["sensorState"]["ticks"] if t["timestamp"] > after
            and t["status"] in ("SKIPPED", "SUCCESS")]


def test_backtest_of_an_attached_file(bot, world, dagster_ui, http):
    stem = "bot_quick_3x"
    yaml = (REPO / "strategies" / "quick_2x.yaml").read_text().replace("name: quick_2x", f"name: {stem}") \
        .replace("take_profit: 2", "take_profit: 3")
    sent_at = time.time()
    before = len(bot.telegram.messages(CHAT))
    bot.telegram.push(CHAT, document=(f"{stem}.yaml", yaml.encode()), caption="/backtest")
    started = _wait_for(bot, lambda m: "started, run" in m["plain"], after=before)
    run_id = re.search(r"run ([0-9a-f-]{36})", started["plain"]).group(1)
    assert (world.strategies / f"{stem}.yaml").read_text() == yaml

    # the bot keeps answering while the run goes on
    (answer,) = _ask(bot, "/top 1")
    assert answer["plain"].startswith("Top 1 callers")

    # the run is in the instance, with the sensor's tags, and ends
    (run,) = [r for r in _runs(dagster_ui, stem) if r["runId"] == run_id]
    assert run["jobName"] == "simulate_strategies"
    ends = (f"Backtest of {stem}.yaml done", f"Backtest of {stem}.yaml: run")  # done, or how it ended
    done = _wait_for(bot, lambda m: m["plain"].startswith(ends), timeout=150, after=before)
    run = dagster_ui.gql("query($id: ID!) { runOrError(runId: $id) { ... on Run { status endTime "
                         "tags { key value } } } }", id=run_id)["runOrError"]
    assert run["status"] == "SUCCESS", done["plain"]
    tags = {t["key"]: t["value"] for t in run["tags"]}
    days = [c[k] for c in http.get("/api/v1/chats").json()["items"] for k in ("first_day", "last_day")]
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == \
        (f"{min(days)}|{stem}", f"{max(days)}|{stem}")

    # the answer carries the strategy's board figures as the API gives them, and the dashboard link
    row = http.get(f"/api/v1/strategies/{stem}").json()["strategy"]
    total = http.get("/api/v1/strategies", params={"limit": 1}).json()["total"]
    assert done["plain"].splitlines()[0] == f"Backtest of {stem}.yaml done (run {run_id[:8]})"
    assert done["plain"].splitlines()[1] == f"{stem}: {strategy_figures(row, total)}"
    assert f'href="{DASHBOARD}/strategies/{stem}"' in done["text"]

    # the strategies sensor ticked while the file was there, and launched no second run of it
    deadline = time.time() + 30
    while len(_sensor_ticks(dagster_ui, max(sent_at, run["endTime"]))) < 1 and time.time() < deadline:
        time.sleep(0.5)
    assert _sensor_ticks(dagster_ui, max(sent_at, run["endTime"])), "the strategies sensor did not tick"
    assert len(_sensor_ticks(dagster_ui, sent_at)) >= 2
    simulations = [r["runId"] for r in _runs(dagster_ui, stem) if r["jobName"] == "simulate_strategies"]
    assert simulations == [run_id]


def test_the_token_is_in_no_log_line(bot):
    _ask(bot, "/status")
    assert any(f"chat {CHAT}: /status" in line for line in bot.logs.lines)
    assert not any(bot.token in line for line in bot.logs.lines)
    assert not any(bot.token in m["text"] for m in bot.telegram.messages())
    # httpx would log every Bot API URL, the token in it, at INFO
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


def test_python_m_serve_bot_answers_and_stops_on_ctrl_c(api, served):
    """The bot as `make bot` runs it: a process with the settings of its environment; Ctrl-C ends it
    cleanly."""
    token = f"{secrets.randbelow(10**9)}:AA{secrets.token_urlsafe(24)}"
    with FakeTelegram(token) as telegram:
        env = {**served.env, "QUANTBOT_BOT_TOKEN": token, "QUANTBOT_BOT_CHATS": f"{CHAT}, 5",
               "QUANTBOT_BOT_API_URL": telegram.url, "QUANTBOT_API_URL": api,
               "QUANTBOT_DAGSTER_URL": closed_port_url(), "QUANTBOT_DASHBOARD_URL": DASHBOARD}
        proc = subprocess.Popen([sys.executable, "-m", "serve.bot"], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            telegram.push(CHAT, "/status")
            (answer,) = telegram.wait(CHAT, lambda m: True, timeout=30)
            assert "Dagster: not reachable" in answer["plain"]
            polls = telegram.polls
            deadline = time.time() + 10
            while telegram.polls == polls and time.time() < deadline:  # the answer sent, it polls again
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGINT)
            output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert "stopping (Ctrl-C)" in output and "Traceback" not in output
    assert f"chat {CHAT}: /status" in output and token not in output
    assert telegram.errors == []
