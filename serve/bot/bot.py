"""The bot's loop: long-poll Telegram, answer allowed chats, watch launched backtests in threads."""

from __future__ import annotations

import logging
import threading
import time

from quantbot_pipelines.simulation.strategy import MAX_FILE_BYTES
from serve.bot import answers
from serve.bot.api import ApiError, ReadApi, part
from serve.bot.backtest import BacktestError, Launched, launch, stem_of
from serve.bot.settings import BotSettings
from serve.bot.telegram import Telegram, TelegramError
from serve.dagster_api import DONE_STATUSES, DagsterClient, DagsterUnavailable

log = logging.getLogger(__name__)

TOP_DEFAULT, TOP_MAX = 10, 50
CALLS_DEFAULT, CALLS_MAX = 10, 1000
PAGE = 500  # the API's largest page by default (QUANTBOT_API_MAX_LIMIT)
SHOWN_VARIANTS = 5  # a sweep's best variants in a backtest's answer
FRESH_WAIT_S = 20.0  # after its run, the API may take a refresh or two to see a new strategy


def polite(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        reason = answers.esc(str(exc).rstrip("."))
        if exc.status in (0, 503):
            return f"Sorry, {reason}; try again in a minute."
        if exc.status == 404:
            return reason[:1].upper() + reason[1:] + "."
        return f"Sorry, the read API could not answer that: {reason}."
    if isinstance(exc, DagsterUnavailable):
        reason = answers.esc(str(exc).rstrip("."))
        return f"Sorry, Dagster cannot be asked now: {reason}; try again in a minute."
    return "Sorry, something went wrong answering that; it is in the bot's log."


class Bot:
    def __init__(self, settings: BotSettings, *, telegram: Telegram | None = None, api: ReadApi | None = None,
                 dagster: DagsterClient | None = None):
        self.settings = settings
        self.telegram = telegram or Telegram(settings.token, settings.bot_api_url,
                                             timeout=settings.poll_timeout_s + 15)
        self.api = api or ReadApi(settings.api_url, settings.api_key)
        self.dagster = dagster or DagsterClient(settings.dagster_url, timeout=15.0)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []  # exceptions no answer could explain (the tests look at them)
        self.watchers: list[threading.Thread] = []
        self.commands = {"top": self.top, "caller": self.caller, "calls": self.calls,
                         "strategy": self.strategy, "backtest": self.backtest, "status": self.status,
                         "help": self.help, "start": self.help}

    def __repr__(self) -> str:
        return f"Bot(chats={sorted(self.settings.chats)}, api={self.api!r})"

    # ---- the loop ------------------------------------------------------------------------------------------

    def run(self) -> None:
        """Answer updates until `stop` is set (or Ctrl-C in the caller)."""
        if not self.settings.chats:
            log.warning("QUANTBOT_BOT_CHATS is empty: the bot answers nobody")
        offset, backoff = None, 1.0
        log.info("bot polling %s for chats %s", self.settings.bot_api_url, sorted(self.settings.chats))
        while not self.stop.is_set():
            try:
                updates = self.telegram.get_updates(offset, self.settings.poll_timeout_s)
            except TelegramError as exc:
                log.warning("%s; again in %.0f s", exc, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 60.0)
                continue
            backoff = 1.0
            for update in updates:
                offset = max(offset or 0, int(update["update_id"]) + 1)
                if self.stop.is_set():
                    break
                self.handle(update)

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        for w in self.watchers:
            w.join(timeout)
        for client in (self.telegram, self.api, self.dagster):
            client.close()

    def handle(self, update: dict) -> None:
        message = update.get("message") or {}
        chat = (message.get("chat") or {}).get("id")
        if chat is None:
            return
        if chat not in self.settings.chats:
            log.info("ignored a message from chat %s (not in QUANTBOT_BOT_CHATS)", chat)
            return
        text = (message.get("text") or message.get("caption") or "").strip()
        if not text.startswith("/"):
            if message.get("document"):
                self.send(chat, ["Send a strategy file with the caption /backtest to simulate it."])
            return
        head, _, args = text.partition(" ")
        command = head[1:].split("@", 1)[0].lower()
        handler = self.commands.get(command)
        if handler is None:
            self.send(chat, [f"I do not know /{answers.esc(command)}. " + "/help lists what I answer."])
            return
        log.info("chat %s: /%s", chat, command)
        try:
            self.send(chat, handler(chat, args.strip(), message))
        except (ApiError, DagsterUnavailable) as exc:
            log.info("chat %s: /%s not answered: %s", chat, command, exc)
            self.send(chat, [polite(exc)])
        except Exception as exc:  # one bad answer must not stop the bot
            log.exception("chat %s: /%s failed", chat, command)
            self.errors.append(exc)
            self.send(chat, [polite(exc)])

    def send(self, chat: int, messages: list[str]) -> None:
        for text in messages:
            try:
                self.telegram.send_message(chat, text)
            except TelegramError as exc:
                log.warning("chat %s: %s", chat, exc)
                return

    # ---- commands ------------------------------------------------------------------------------------------

    @property
    def dash(self) -> str:
        return self.settings.dashboard_url

    def help(self, chat, args, message) -> list[str]:
        return [answers.HELP]

    def top(self, chat, args, message) -> list[str]:
        n = _count(args, TOP_DEFAULT, TOP_MAX)
        board = self.api.get("/callers", window="all", sort="rank", order="asc", limit=n)
        return answers.top(board, self.dash, n)

    def caller(self, chat, args, message) -> list[str]:
        if not args:
            return ["Which caller? /caller &lt;name or id&gt;"]
        try:
            return answers.caller(self.api.get(f"/callers/{part(args)}"), self.dash)
        except ApiError as exc:
            if exc.status != 404:
                raise
        board = self.api.get("/callers", window="all", limit=PAGE)["items"]
        wanted = args.casefold()
        exact = [r for r in board if (r.get("caller_name") or "").casefold() == wanted]
        near = exact or [r for r in board if wanted in (r.get("caller_name") or "").casefold()]
        if len(near) == 1:
            return answers.caller(self.api.get(f"/callers/{part(near[0]['caller_id'])}"), self.dash)
        if not near:
            return [f"No caller named or with the id {answers.esc(args)!s}."]
        names = ", ".join(answers.esc(answers.cut(r.get("caller_name"))) for r in near[:10])
        return [f"Several callers match: {names}. Ask with the exact name or the id."]

    def calls(self, chat, args, message) -> list[str]:
        n = _count(args, CALLS_DEFAULT, CALLS_MAX)
        items, total, offset = [], 0, 0
        while len(items) < n:
            page = self.api.get("/calls", sort="call_ts", order="desc", limit=min(PAGE, n - len(items)),
                                offset=offset)
            items += page["items"]
            total, offset = page["total"], offset + len(page["items"])
            if not page["items"] or not page.get("next"):
                break
        return answers.calls(items, total, self.dash)

    def strategy(self, chat, args, message) -> list[str]:
        if not args:
            return ["Which strategy? /strategy &lt;name&gt;"]
        try:
            page = self.api.get(f"/strategies/{part(args)}")
        except ApiError as exc:
            if exc.status != 404:
                raise
            board = self.api.get("/strategies", limit=PAGE)["items"]
            near = [r["strategy"] for r in board if args.casefold() in r["strategy"].casefold()][:10]
            if not near:
                return [f"No strategy {answers.esc(args)}."]
            shown = ", ".join(answers.esc(n) for n in near)
            return [f"No strategy {answers.esc(args)}. Did you mean: {shown}"]
        return answers.strategy(page, self._ranked(), self.dash)

    def _ranked(self) -> int:
        return int(self.api.get("/strategies", limit=1)["total"])

    def status(self, chat, args, message) -> list[str]:
        health = self.api.get("/health")
        try:
            dagster = {"runs": self.dagster.recent_runs(limit=5), "failed": self.dagster.failed_runs(),
                       "assets": self.dagster.latest_materializations(), "now": time.time()}
        except DagsterUnavailable as exc:
            log.info("status: Dagster not asked: %s", exc)
            dagster = None
        return answers.status(health, dagster, self.settings.dagster_url)

    def backtest(self, chat, args, message) -> list[str]:
        document = message.get("document")
        try:
            if document:
                stem = stem_of(document.get("file_name") or "")
                data = self.telegram.download(document["file_id"], MAX_FILE_BYTES)
            elif args:
                stem = stem_of(args if args.endswith((".yaml", ".yml")) else f"{args}.yaml")
                path = self.settings.strategies / f"{stem}.yaml"
                if not path.is_file():
                    return [(f"No {answers.esc(stem)}.yaml in the strategies folder; attach a YAML file "
                             "with the caption /backtest to add one.")]
                data = path.read_bytes()
            else:
                return [("/backtest &lt;file in the strategies folder&gt;, or attach a YAML file with the "
                         "caption /backtest")]
            chats = self.api.get("/chats", limit=PAGE)["items"]
            days = [c[k] for c in chats for k in ("first_day", "last_day") if c.get(k)]
            if not days:
                return ["No calls in the warehouse yet: nothing to backtest on."]
            launched = launch(self.dagster, self.settings.strategies, stem, data, (min(days), max(days)))
        except (BacktestError, TelegramError) as exc:
            return [answers.esc(exc)]
        except DagsterUnavailable as exc:
            log.info("chat %s: backtest of %s.yaml not launched: %s", chat, stem, exc)
            kept = (self.settings.strategies / f"{stem}.yaml").is_file()
            hint = " The file is in the strategies folder: the strategies sensor runs it once Dagster answers."
            return [polite(exc) + (hint if kept else "")]
        log.info("chat %s: backtest of %s.yaml launched as run %s", chat, stem, launched.run_id)
        watcher = threading.Thread(target=self._watch, args=(chat, launched),
                                   name=f"backtest:{launched.run_id[:8]}", daemon=True)
        self.watchers.append(watcher)
        watcher.start()
        run_url = f"{self.settings.dagster_url}/runs/{launched.run_id}"
        run = answers.link(run_url, launched.run_id)
        return [(f"Backtest of {answers.esc(stem)}.yaml started, run {run}. "
                "I will answer here when it ends.")]

    # ---- backtests in the background -----------------------------------------------------------------------

    def _watch(self, chat: int, launched: Launched) -> None:
        try:
            self.send(chat, self._outcome(launched))
        except Exception as exc:  # reported to the chat, and kept for the tests
            log.exception("watching run %s failed", launched.run_id)
            self.errors.append(exc)
            self.send(chat, [f"Backtest run {answers.esc(launched.run_id)}: {polite(exc)}"])

    def _outcome(self, launched: Launched) -> list[str]:
        deadline = time.monotonic() + self.settings.run_max_wait_s
        run_url = f"{self.settings.dagster_url}/runs/{launched.run_id}"
        status = None
        while time.monotonic() < deadline and not self.stop.is_set():
            try:
                status = self.dagster.run_status(launched.run_id)
            except DagsterUnavailable as exc:
                log.info("run %s: status not read now: %s", launched.run_id, exc)
            if status in DONE_STATUSES:
                break
            self.stop.wait(self.settings.run_poll_s)
        if self.stop.is_set() and status not in DONE_STATUSES:
            log.info("run %s still %s as the bot stops: not watched further", launched.run_id, status)
            return []
        if status != "SUCCESS":
            state = status.lower() if status in DONE_STATUSES else f"still {status or 'unknown'}"
            run = answers.link(run_url, launched.run_id)
            return [(f"Backtest of {answers.esc(launched.stem)}.yaml: run {run} "
                    f"{answers.esc(state)}. The run's log in Dagster says why.")]
        rows = self._fresh_rows(launched.names)
        ranked = self._ranked()
        lines = [(f"<b>Backtest of {answers.esc(launched.stem)}.yaml done</b> "
                 f"(run {answers.link(run_url, launched.run_id[:8])})")]
        for row in rows[:SHOWN_VARIANTS]:
            url = f"{self.dash}/strategies/{part(row['strategy'])}"
            shown = answers.esc(answers.strategy_figures(row, ranked))
            lines.append(f"{answers.link(url, row['strategy'])}: {shown}")
        if len(launched.names) > SHOWN_VARIANTS:
            lines.append(answers.esc(f"… and {len(launched.names) - SHOWN_VARIANTS} more variants; ")
                         + answers.link(f"{self.dash}/strategies", "every strategy on the dashboard"))
        return answers.split(lines)

    def _fresh_rows(self, names: list[str]) -> list[dict]:
        """The board rows of the file's strategies, best rank first, once the API shows them."""
        deadline = time.monotonic() + FRESH_WAIT_S
        while True:
            if len(names) == 1:
                try:
                    return [self.api.get(f"/strategies/{part(names[0])}")["strategy"]]
                except ApiError as exc:
                    if exc.status != 404 or time.monotonic() > deadline:
                        raise
            else:
                board, offset = [], 0
                while True:
                    page = self.api.get("/strategies", sort="rank", order="asc", limit=PAGE, offset=offset)
                    board += [r for r in page["items"] if r["strategy"] in set(names)]
                    offset += len(page["items"])
                    if not page["items"] or not page.get("next"):
                        break
                if board or time.monotonic() > deadline:
                    return board
            self.stop.wait(1.0)


def _count(args: str, default: int, most: int) -> int:
    try:
        n = int(args.split()[0]) if args.split() else default
    except ValueError:
        n = default
    return max(1, min(n, most))
