"""What the bot writes: Telegram HTML built from the read API's JSON, numbers through quantbot_pipelines.views
(the one definition of how a figure is written: docs/semantics.md#reading-figures), split under Telegram's
message limit on line boundaries."""

from __future__ import annotations

import html

from quantbot_pipelines.views import hmm, multiple, points, profit_factor, share, signed_pct
from serve.bot.api import part
from serve.bot.telegram import MESSAGE_LIMIT

NAME_CHARS = 64  # a caller or token name longer than this is cut in a list line
MAX_MESSAGES = 4  # one answer is at most this many messages; the rest is a hint to the dashboard

HELP = """<b>QuantBot</b> answers with the pipeline's figures.

/top [n] - the best callers (all chats, all time)
/caller &lt;name or id&gt; - one caller's figures and best exits
/calls [n] - the latest calls
/strategy &lt;name&gt; - one strategy's board figures and book
/backtest &lt;file&gt; - simulate a file of the strategies folder (or attach a YAML file, caption /backtest)
/status - the warehouse and the pipeline's runs
/help - this list"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=False)


def cut(text, limit: int = NAME_CHARS) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def link(url: str, text) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{esc(text)}</a>'


def pct1(x) -> str:
    """A drawdown as the strategy board writes it (views.strategy_board_view: one decimal, no sign)."""
    return "" if x is None else f"{x * 100:.1f}%"


def score(x) -> str:
    return "" if x is None else f"{x:.3f}"


def figures(pairs: list[tuple[str, str]]) -> str:
    """'label value' pairs with a value, joined; figures that do not exist are left out."""
    return ", ".join(f"{label} {value}" for label, value in pairs if value not in ("", None))


def split(lines: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Lines packed into messages of at most `limit` characters, never breaking a line (a line over the limit,
    which the builders here do not write, is cut)."""
    messages, current = [], ""
    for line in lines:
        line = line if len(line) <= limit else line[: limit - 1] + "…"
        if current and len(current) + 1 + len(line) > limit:
            messages.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        messages.append(current)
    return messages


def paged(lines: list[str], more: str, limit: int = MESSAGE_LIMIT,
          max_messages: int = MAX_MESSAGES) -> list[str]:
    """At most `max_messages` messages of `lines`; when they do not fit, the last ends with the `more`
    hint."""
    messages = split(lines, limit)
    if len(messages) <= max_messages:
        return messages
    kept = split(lines, limit)[:max_messages]
    shown = sum(m.count("\n") + 1 for m in kept)
    hint = more.format(left=len(lines) - shown)
    while len(kept[-1]) + 1 + len(hint) > limit:  # room for the hint: the last lines go to the dashboard
        body = kept[-1].rsplit("\n", 1)
        kept[-1] = body[0]
        hint = more.format(left=len(lines) - sum(m.count("\n") + 1 for m in kept))
    kept[-1] += "\n" + hint
    return kept


# ---- answers -----------------------------------------------------------------------------------------------

def top(board: dict, dashboard: str, n: int) -> list[str]:
    """/top: the all-time, all-chats caller board by rank (docs/semantics.md#caller-stats)."""
    rows = board["items"]
    if not rows:
        return ["No ranked callers yet."]
    lines = [f"<b>Top {len(rows)} callers</b> (all chats, all time, of {board['total']})"]
    for r in rows:
        rank = "–" if r.get("rank") is None else str(r["rank"])
        name = cut(r.get("caller_name") or r["caller_id"])
        url = f"{dashboard}/callers/{part(r['caller_id'])}"
        lines.append(f"{rank}. {link(url, name)}: " + esc(figures([
            ("calls", str(r["calls"])), ("median X", multiple(r.get("median_x"))),
            ("2x", share(r.get("hit_rate_2x"))), ("points", points(r.get("points"))),
            ("score", score(r.get("score")))])))
    lines.append(link(f"{dashboard}/callers", "All callers on the dashboard"))
    return split(lines)


def caller(page: dict, dashboard: str) -> list[str]:
    """/caller: the caller's all-time board row, its rank, and its best exits."""
    c = page["caller"]
    name = cut(c.get("caller_name") or c["caller_id"], 200)
    lines = [f"<b>{esc(name)}</b> ({esc(c['caller_id'])})"]
    chats = ", ".join(f"{cut(ch.get('chat_name') or ch['chat_id'])} ({ch['calls']})"
                      for ch in c.get("chats", []))
    if chats:
        lines.append(f"Chats: {esc(chats)}")
    boards = {(b["window"], b["scope"]): b for b in page.get("boards", [])}
    for window in ("all", "90d", "30d", "7d"):
        b = boards.get((window, "all"))
        if b is None:
            continue
        rank = "unranked" if b.get("rank") is None else f"rank {b['rank']}"
        lines.append(f"{window}: " + esc(figures([
            ("", rank), ("calls", str(b["calls"])), ("median X", multiple(b.get("median_x"))),
            ("mean X", multiple(b.get("mean_x"))), ("2x", share(b.get("hit_rate_2x"))),
            ("5x", share(b.get("hit_rate_5x"))), ("rugs", share(b.get("rug_rate"))),
            ("points", points(b.get("points"))), ("time to peak", hmm(b.get("median_time_to_peak_s"))),
            ("score", score(b.get("score")))])).lstrip())
    best = page.get("best_exits") or []
    if best:
        lines.append("Best exits:")
        for r in best[:3]:
            lines.append(f"  {esc(cut(r['strategy'], 120))}: " + esc(figures([
                ("trades", str(r["trades"])), ("win rate", share(r.get("win_rate"))),
                ("mean", signed_pct(r.get("mean_return")))])))
    lines.append(link(f"{dashboard}/callers/{part(c['caller_id'])}", "On the dashboard"))
    return split(lines)


def call_line(r: dict, dashboard: str) -> str:
    when = str(r["call_ts"]).replace("T", " ")[:16]
    token = cut(r.get("card_ticker") and f"${r['card_ticker']}" or r["address"][:10] + "…", 24)
    who = cut(r.get("caller_name") or r.get("caller_id"), 32)
    tail = figures([("ATH", multiple(r.get("ath_multiple"))), ("X", multiple(r.get("x_from_call")))])
    if r.get("status") and r["status"] != "ok":
        tail = figures([("", r["status"])]).strip()
    return (f"{esc(when)} {esc(who)}: {link(dashboard + r['call_url'], token)} ({esc(r.get('chain'))})"
            + (f" {esc(tail)}" if tail else ""))


def calls(items: list[dict], total: int, dashboard: str) -> list[str]:
    """/calls: the latest calls, one line each; beyond MAX_MESSAGES a hint to the dashboard."""
    if not items:
        return ["No calls yet."]
    lines = [f"<b>Latest {len(items)} calls</b> (of {total})"] + [call_line(r, dashboard) for r in items]
    return paged(lines, "… and {left} more: " + link(f"{dashboard}/calls", "every call on the dashboard"))


def strategy_figures(s: dict, ranked: int | None) -> str:
    """The board figures of one strategy (docs/semantics.md#rollups, #bankroll), as the strategy board writes
    them (views.strategy_board_view)."""
    rank = None if s.get("rank") is None else (f"{s['rank']} of {ranked}" if ranked else str(s["rank"]))
    return figures([
        ("trades", str(s["trades"])),
        ("win rate", "" if s.get("win_rate") is None else f"{s['win_rate'] * 100:.0f}%"),
        ("mean", signed_pct(s.get("mean_return"))), ("median", signed_pct(s.get("median_return"))),
        ("profit factor", profit_factor(s.get("profit_factor"))),
        ("book", signed_pct(s.get("book_return"))), ("max DD", pct1(s.get("book_max_drawdown"))),
        ("rank", rank or ""),
    ])


def strategy(page: dict, ranked: int | None, dashboard: str) -> list[str]:
    """/strategy: the board row, the book and its skips, the exit reasons."""
    s = page["strategy"]
    lines = [f"<b>{esc(s['strategy'])}</b>", esc(strategy_figures(s, ranked))]
    book = page.get("book")
    if book:
        lines.append("Book: " + esc(figures([
            ("bankroll", f"${book['bankroll_usd']:,.0f}"),
            ("final", "" if book.get("final_equity_usd") is None else f"${book['final_equity_usd']:,.0f}"),
            ("taken", str(book.get("book_trades") or 0)), ("skipped", str(book.get("book_skipped") or 0)),
            ("Sharpe", "" if book.get("book_sharpe") is None else f"{book['book_sharpe']:.2f}")])))
    reasons = page.get("exit_reasons") or []
    if reasons:
        lines.append("Exits: " + esc(", ".join(f"{r['reason']} {share(r['share'])}" for r in reasons[:4])))
    lines.append(link(f"{dashboard}/strategies/{part(s['strategy'])}", "On the dashboard"))
    return split(lines)


def status(health: dict, dagster: dict | None, dagster_ui: str) -> list[str]:
    """/status: the warehouse the API reads, and Dagster's runs as its webserver tells them."""
    lines = ["<b>Status</b>", esc(f"Warehouse ({health.get('warehouse')}): {health.get('calls')} calls, "
                                  f"newest {health.get('data_as_of') or 'none'}")]
    if dagster is None:
        lines.append("Dagster: not reachable")
        return split(lines)
    lines.append(f"Dagster: reachable, {dagster['failed']} failed runs " + link(dagster_ui, "(UI)"))
    for r in dagster["runs"]:
        strategy_tag = r["tags"].get("quantbot/strategy") or r["tags"].get("quantbot/export") or ""
        url = f"{dagster_ui}/runs/{r['run_id']}"
        lines.append(f"  {esc(r['status'].lower())} {link(url, r['run_id'][:8])} {esc(r['job'])}"
                     + (f" {esc(cut(strategy_tag, 40))}" if strategy_tag else ""))
    ages = sorted(dagster["assets"], key=lambda a: a["last_materialized"])
    if ages:
        oldest = ages[0]
        age = hmm(dagster["now"] - oldest["last_materialized"])
        lines.append(esc(f"Oldest asset: {oldest['asset']}, {age} (h:mm) ago"))
    return split(lines)
