"""Telegram Desktop HTML (`messages.html`, `messages2.html`, ...), following its exporter's markup.

Structure per docs/formats.md#telegram-exports: `div.message.default.clearfix[.joined]`, the sender in
`div.from_name` only when not joined (same sender within 15 minutes, same day), `title="dd.mm.yyyy hh:mm:ss
UTC+hh:mm"`, replies as `#go_to_messageN` or `messagesK.html#go_to_messageN` across files, date separators as
service messages with negative ids, text escaped like the exporter does (&apos; &quot; &amp;).
"""

from __future__ import annotations

import datetime as dt

from quantbot_pipelines.sample.world import Msg

JOIN_WITHIN_S = 900
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def html_file_name(k: int) -> str:
    """File k (0-based) of an HTML export: messages.html, messages2.html, ..."""
    return "messages.html" if k == 0 else f"messages{k + 1}.html"


def esc(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
        .replace("\n", "<br>")
    )


def offset_label(offset_s: int) -> str:
    sign = "+" if offset_s >= 0 else "-"
    h, m = divmod(abs(offset_s) // 60, 60)
    return f"UTC{sign}{h:02d}:{m:02d}"


def local(ts: int, offset_s: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts + offset_s, dt.UTC)


def title(ts: int, offset_s: int) -> str:
    return local(ts, offset_s).strftime("%d.%m.%Y %H:%M:%S ") + offset_label(offset_s)


def html_text(parts: list) -> str:
    out = []
    for p in parts:
        if isinstance(p, str):
            out.append(esc(p))
            continue
        t, text = p["type"], esc(p["text"])
        if t == "link":
            out.append(f'<a href="{text}">{text}</a>')
        elif t == "text_link":
            out.append(f'<a href="{esc(p["href"])}">{text}</a>')
        elif t == "bold":
            out.append(f"<strong>{text}</strong>")
        elif t == "italic":
            out.append(f"<em>{text}</em>")
        elif t == "code":
            out.append(f"<code>{text}</code>")
        elif t == "cashtag":
            out.append(f'<a href="" onclick="return ShowCashtag(&quot;{text[1:]}&quot;)">{text}</a>')
        elif t == "hashtag":
            out.append(f'<a href="" onclick="return ShowHashtag(&quot;{text[1:]}&quot;)">{text}</a>')
        elif t == "mention":
            out.append(f'<a href="https://t.me/{text[1:]}">{text}</a>')
        elif t == "spoiler":
            out.append(
                f'<span class="spoiler hidden" onclick="ShowSpoiler(this)"><span aria-hidden="true">{text}'
                "</span></span>"
            )
        else:
            out.append(text)
    return "".join(out)


def page_start(chat_name: str) -> str:
    return (
        '<!DOCTYPE html>\n<html>\n\n <head>\n\n  <meta charset="utf-8"/>\n<title>Exported Data</title>\n\n'
        '  <meta content="width=device-width, initial-scale=1.0" name="viewport"/>\n\n'
        '  <link href="css/style.css" rel="stylesheet"/>\n\n'
        '  <script src="js/script.js" type="text/javascript">\n\n  </script>\n\n </head>\n\n'
        ' <body onload="CheckLocation();">\n\n  <div class="page_wrap">\n\n   <div class="page_header">\n\n'
        '    <div class="content">\n\n     <div class="text bold">\n'
        f"{esc(chat_name)}\n     </div>\n\n    </div>\n\n   </div>\n\n"
        '   <div class="page_body chat_page">\n\n    <div class="history">\n\n'
    )


def pagination(href: str, label: str) -> str:
    return f'     <a class="pagination block_link" href="{href}">\n{label}\n     </a>\n\n'


PAGE_END = "    </div>\n\n   </div>\n\n  </div>\n\n </body>\n\n</html>\n"


def date_separator(sep_id: int, day: dt.date) -> str:
    return (
        f'     <div class="message service" id="message-{sep_id}">\n\n      <div class="body details">\n'
        f"{day.day} {MONTHS[day.month - 1]} {day.year}\n      </div>\n\n     </div>\n\n"
    )


def service_line(m: Msg) -> str:
    who = esc(m.sender.name or "Deleted Account")
    if m.action == "join_group_by_link":
        text = f"{who} joined group by link from Group"
    elif m.action == "invite_members":
        text = f"{who} invited {esc(', '.join(m.members or []))}"
    elif m.action == "pin_message":
        text = (
            f'{who} pinned <a href="#go_to_message{m.reply_to.id}" onclick="return GoToMessage('
            f'{m.reply_to.id})">this message</a>'
        )
    else:
        text = f"{who} {m.action}"
    return (
        f'     <div class="message service" id="message{m.id}">\n\n      <div class="body details">\n'
        f"{text}\n      </div>\n\n     </div>\n\n"
    )


def initials(name: str | None) -> str:
    words = [w for w in (name or "Deleted Account").split() if w[:1].isalnum()]
    return esc("".join(w[0] for w in words[:2]).upper() or "?")


def userpic(name: str | None, color: int, cls: str = "pull_left userpic_wrap") -> str:
    return (
        f'      <div class="{cls}">\n\n       <div class="userpic userpic{color}" style="width: 42px; '
        f'height: 42px">\n\n        <div class="initials" style="line-height: 42px">\n{initials(name)}\n'
        "        </div>\n\n       </div>\n\n      </div>\n\n"
    )


def media_block(kind: str, ts: int) -> str:
    if kind == "photo":
        return (
            '       <div class="media_wrap clearfix">\n\n        <div class="media clearfix pull_left '
            'media_photo">\n\n         <div class="fill pull_left">\n\n         </div>\n\n'
            '         <div class="body">\n\n          <div class="title bold">\nPhoto\n          </div>\n\n'
            '          <div class="description">\nNot included, change data exporting settings to download.\n'
            '          </div>\n\n          <div class="status details">\n1280x720, 178.1 KB\n'
            "          </div>\n\n         </div>\n\n        </div>\n\n       </div>\n\n"
        )
    return (
        '       <div class="media_wrap clearfix">\n\n'
        '        <div class="media clearfix pull_left media_photo">\n\n'
        '         <div class="fill pull_left">\n\n         </div>\n\n         <div class="body">\n\n'
        '          <div class="title bold">\nSticker\n          </div>\n\n'
        '          <div class="status details">'
        "\n🚀, 30.5 KB\n          </div>\n\n         </div>\n\n        </div>\n\n       </div>\n\n"
    )


def message_html(m: Msg, *, joined: bool, offset_s: int, reply_href: str | None) -> str:
    """One `div.message.default`; `reply_href` is '#go_to_messageN' or 'messagesK.html#go_to_messageN'."""
    name = m.sender.name
    out = [f'     <div class="message default clearfix{" joined" if joined else ""}" id="message{m.id}">\n\n']
    if not joined:
        out.append(userpic(name, int(m.sender.id[-1]) % 8 + 1))
    out.append(
        f'      <div class="body">\n\n       <div class="pull_right date details" title="'
        f'{title(m.ts, offset_s)}">\n{local(m.ts, offset_s):%H:%M}\n       </div>\n\n'
    )
    if not joined:
        out.append(f'       <div class="from_name">\n{esc(name or "Deleted Account")}\n       </div>\n\n')
    if m.fwd_from:
        out.append(userpic(m.fwd_from, 3, "pull_left forwarded userpic_wrap"))
        out.append(
            f'       <div class="forwarded body">\n\n        <div class="from_name">\n{esc(m.fwd_from)}'
            f' <span class="date details" title="{title(m.fwd_ts, offset_s)}"> '
            f"{local(m.fwd_ts, offset_s):%d.%m.%Y %H:%M:%S}</span>\n        </div>\n\n"
        )
    if reply_href:
        rid = reply_href.rsplit("go_to_message", 1)[1]
        out.append(
            f'       <div class="reply_to details">\nIn reply to <a href="{reply_href}" onclick="return '
            f'GoToMessage({rid})">this message</a>\n       </div>\n\n'
        )
    if m.media:
        out.append(media_block(m.media, m.ts))
    if m.parts:
        out.append(f'       <div class="text">\n{html_text(m.parts)}\n       </div>\n\n')
    if m.author:
        out.append(f'       <div class="signature details">\n{esc(m.author)}\n       </div>\n\n')
    if m.fwd_from:
        out.append("       </div>\n\n")
    out.append("      </div>\n\n     </div>\n\n")
    return "".join(out)


def is_joined(m: Msg, prev: Msg | None, offset_s: int) -> bool:
    """The exporter's rule: same sender, same local day, same forward origin, within 15 minutes."""
    if prev is None or prev.kind != "message" or m.sender.name is None:
        return False
    same_day = (prev.ts + offset_s) // 86400 == (m.ts + offset_s) // 86400
    return (
        prev.sender.id == m.sender.id
        and prev.fwd_from == m.fwd_from
        and not m.fwd_from
        and 0 <= m.ts - prev.ts <= JOIN_WITHIN_S
        and same_day
    )
