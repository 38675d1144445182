"""`write_sample_inbox`: the small realistic sample, as a user's inbox would hold it.

- `alpha_gems/result.json`: one chat, JSON (local dates at UTC+02:00, plus `date_unixtime`)
- `account/result.json`: whole account, JSON, with `chats.list` and `left_chats.list` (dates at UTC-04:00)
- `degen_calls_html/`: one chat, HTML in three files with `UTC+03:00` offsets, `css/` and `js/` beside
"""

from __future__ import annotations

import json
from pathlib import Path

from quantbot_pipelines.sample import render_html as H
from quantbot_pipelines.sample.render_json import account_root, json_chat
from quantbot_pipelines.sample.world import Chat, Msg, Sample, SampleSpec, build_sample

ALPHA_OFFSET, ACCOUNT_OFFSET, HTML_OFFSET = 2 * 3600, -4 * 3600, 3 * 3600
HTML_FILES = 3


def _dump(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Telegram writes one-space indentation and raw UTF-8
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def html_split(msgs: list[Msg], files: int = HTML_FILES) -> list[int]:
    """File boundaries near equal thirds; the first falls between a call and its card (a cross-file reply)."""
    n = len(msgs)
    bounds = [n * k // files for k in range(1, files)]
    b = bounds[0]
    for j in sorted(range(1, n), key=lambda j: abs(j - b)):
        if msgs[j].role == "card" and msgs[j].reply_to is msgs[j - 1]:
            bounds[0] = j
            break
    return [0, *bounds, n]


def write_html_chat(chat: Chat, folder: Path, offset_s: int, files: int = HTML_FILES) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for sub, name, body in (
        ("css", "style.css", "/* placeholder */\n"),
        ("js", "script.js", "// placeholder\n"),
    ):
        (folder / sub).mkdir(exist_ok=True)
        (folder / sub / name).write_text(body)
    msgs = chat.messages
    bounds = html_split(msgs, files)
    file_of = {m.id: k for k in range(files) for m in msgs[bounds[k] : bounds[k + 1]]}
    sep_id, written = 0, []
    for k in range(files):
        out = [H.page_start(chat.defn.name)]
        if k:
            out.append(H.pagination(H.html_file_name(k - 1), "Previous messages"))
        prev: Msg | None = None
        for m in msgs[bounds[k] : bounds[k + 1]]:
            day = H.local(m.ts, offset_s).date()
            if prev is None or H.local(prev.ts, offset_s).date() != day:
                sep_id += 1
                out.append(H.date_separator(sep_id, day))
            if m.kind == "service":
                out.append(H.service_line(m))
            else:
                href = None
                if m.reply_to is not None:
                    rk = file_of[m.reply_to.id]
                    href = ("" if rk == k else H.html_file_name(rk)) + f"#go_to_message{m.reply_to.id}"
                out.append(
                    H.message_html(
                        m, joined=H.is_joined(m, prev, offset_s), offset_s=offset_s, reply_href=href
                    )
                )
            prev = m
        if k < files - 1:
            out.append(H.pagination(H.html_file_name(k + 1), "Next messages"))
        out.append(H.PAGE_END)
        path = folder / H.html_file_name(k)
        path.write_text("".join(out), encoding="utf-8")
        written.append(path)
    return written


def write_sample(inbox: Path, sample: Sample) -> list[Path]:
    inbox = Path(inbox)
    c = sample.chats
    alpha = inbox / "alpha_gems" / "result.json"
    _dump(json_chat(c["alpha"], ALPHA_OFFSET), alpha)
    account = inbox / "account" / "result.json"
    _dump(
        account_root(
            [json_chat(c[k], ACCOUNT_OFFSET) for k in ("whales", "snipers", "moon", "dm")],
            [json_chat(c["old"], ACCOUNT_OFFSET)],
        ),
        account,
    )
    html = inbox / "degen_calls_html"
    write_html_chat(c["degen"], html, HTML_OFFSET)
    return [alpha, account, html]


def write_sample_inbox(inbox: Path, spec: SampleSpec | None = None) -> list[Path]:
    """Write the sample exports into `inbox`; one path per export (two result.json, one HTML folder)."""
    return write_sample(Path(inbox), build_sample(spec))


# which export each chat of the sample lands in (for tests and the demo's expectations)
EXPORT_OF_CHAT = {
    "alpha": "alpha_gems/result.json",
    "whales": "account/result.json",
    "snipers": "account/result.json",
    "moon": "account/result.json",
    "dm": "account/result.json",
    "old": "account/result.json",
    "degen": "degen_calls_html",
}
