"""Large exports for the ingest benchmark: the sample's shape at hundreds of MB, streamed with bounded memory.

Messages are pre-rendered once into a pool of %-format templates (id, dates and reply id left open) and then
stamped out with rising ids and times; that keeps generation well above 100 MB/s. Mix, by message: ~70% chat
noise, ~15% calls, ~10% bot cards (replies to the call before them), ~5% service; entity lists where a real
export has them (links, cashtags, cards).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

from quantbot_pipelines.sample import render_html as H
from quantbot_pipelines.sample.market import make_token
from quantbot_pipelines.sample.render_json import account_root, json_message
from quantbot_pipelines.sample.texts import call_parts, noise_parts, phanes_card, rick_card
from quantbot_pipelines.sample.world import PHANES, RICK, Msg, Person

START_TS = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp())
OFFSET_S = 3 * 3600
CHUNK = 1 << 20
_ID, _TS, _RID = 777000001, START_TS + 1234, 777000002  # placeholders, replaced by %-fields


_FIRST = ["degen", "sol", "moon", "alpha", "ape"]
_LAST = ["king", "queen", "hunter", "whale", "boy"]


def _pool(seed: int, n_calls: int = 2500, n_noise: int = 3000, n_service: int = 150):
    """Messages to stamp out: call (+ card) groups, noise, service; each a Msg with placeholder id/ts."""
    rng = random.Random(seed)
    people = [
        Person(
            f"{rng.choice(_FIRST)}_{rng.choice(_LAST)}{i}",
            f"user{710000000 + i}",
        )
        for i in range(60)
    ]
    used: set[str] = set()
    tokens = [make_token(rng, START_TS - 3600 * rng.randint(1, 40), used) for _ in range(n_calls)]
    names = [p.name for p in people]
    calls, noise, service = [], [], []
    for t in tokens:
        caller = rng.choice(people)
        parts, needs_card = call_parts(t, rng)
        call = Msg(_TS, caller, parts, role="call", token=t, id=_ID)
        if rng.random() < 0.1:
            call.edited_ts = _TS + 120
        group = [call]
        if needs_card or rng.random() < 0.6:  # ~2/3 of calls get a card overall
            bot = rng.choice([RICK, PHANES])
            snap = t.snapshot(_TS, rng)
            card = rick_card(t, snap) if bot is RICK else phanes_card(t, snap)
            group.append(Msg(_TS, bot, card, reply_to=call, role="card", token=t, id=_ID))
        calls.append(group)
    for _ in range(n_noise):
        m = Msg(_TS, rng.choice(people), noise_parts(rng, names), id=_ID)
        if rng.random() < 0.05:
            m.media = "photo"
        noise.append(m)
    for _ in range(n_service):
        who = rng.choice(people)
        service.append(Msg(_TS, who, kind="service", action="join_group_by_link", role="service", id=_ID))
    return calls, noise, service


def _fmt(text: str, *fields: str) -> str:
    """`text` as a %-template: literal % doubled, then each placeholder (in order) turned into %s."""
    text = text.replace("%", "%%")
    for f in fields:
        text = text.replace(f, "%s")
    return text


_HMS = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]


class _Clock:
    """Rising message times with realistic gaps, and their local date strings (a lookup, not strftime)."""

    def __init__(self, rng: random.Random):
        self.gaps = [rng.choice((1, 3, 8, 20, 45, 90, 240)) for _ in range(4096)]
        self.i = 0
        self.ts = START_TS
        self._day: dict[int, dt.date] = {}
        self._iso: dict[int, str] = {}
        self._dmy: dict[int, str] = {}

    def tick(self) -> int:
        self.i = (self.i + 1) & 4095
        self.ts += self.gaps[self.i]
        return self.ts

    def day(self, ts: int) -> dt.date:
        d = (ts + OFFSET_S) // 86400
        if d not in self._day:
            day = self._day[d] = dt.date(1970, 1, 1) + dt.timedelta(days=d)
            self._iso[d] = day.isoformat() + "T"
            self._dmy[d] = day.strftime("%d.%m.%Y ")
        return self._day[d]

    def iso(self, ts: int) -> str:
        """JSON `date`: local wall clock, no offset."""
        local = ts + OFFSET_S
        d = local // 86400
        if d not in self._iso:
            self.day(ts)
        return self._iso[d] + _HMS[local % 86400]

    def title_hhmm(self, ts: int) -> tuple[str, str]:
        """HTML `title` (dd.mm.yyyy hh:mm:ss UTC+03:00) and the hh:mm shown beside it."""
        local = ts + OFFSET_S
        d = local // 86400
        if d not in self._dmy:
            self.day(ts)
        hms = _HMS[local % 86400]
        return self._dmy[d] + hms + " UTC+03:00", hms[:5]


def _events(rng: random.Random, calls, noise, service):
    """Endless stream of message groups. Odds are set so that messages come out ~70% noise (1.2 per event:
    short bursts by one sender, which HTML joins), ~15% calls + ~10% cards (1.67 per event), ~5% service."""
    i = 0
    while True:
        i += 1
        r = rng.random()
        if r < 0.745:
            m = noise[i % len(noise)]
            yield [m, m] if rng.random() < 0.2 else [m]
        elif r < 0.937:
            yield calls[i % len(calls)]
        else:
            yield [service[i % len(service)]]


# ---- JSON ----------------------------------------------------------------------------------------


def _indent1(v, depth: int) -> str:
    """json.dumps(v, indent=1, ensure_ascii=False) nested at `depth`, with scalars done by the C encoder
    (the pure-Python indenting encoder made building the template pool the slowest step)."""
    if isinstance(v, dict):
        if not v:
            return "{}"
        pad = "\n" + " " * (depth + 1)
        return (
            "{"
            + ",".join(pad + _dumps(k) + ": " + _indent1(x, depth + 1) for k, x in v.items())
            + "\n"
            + " " * depth
            + "}"
        )
    if isinstance(v, list):
        if not v:
            return "[]"
        pad = "\n" + " " * (depth + 1)
        return "[" + ",".join(pad + _indent1(x, depth + 1) for x in v) + "\n" + " " * depth + "]"
    return _dumps(v)


def _dumps(v) -> str:
    return json.dumps(v, ensure_ascii=False)


def _json_template(m: Msg, depth: int) -> tuple[str, int]:
    d = json_message(m, 0)
    d["date"], d["date_unixtime"] = "@@DATE@@", "@@TS@@"
    fields = ["@@ID@@", "@@DATE@@", "@@TS@@"]
    d["id"] = "@@ID@@"
    if m.edited_ts:
        d["edited"], d["edited_unixtime"] = "@@EDATE@@", "@@ETS@@"
        fields += ["@@EDATE@@", "@@ETS@@"]
    if m.reply_to is not None:
        d["reply_to_message_id"] = "@@RID@@"
        fields.append("@@RID@@")
    text = _indent1(d, depth).replace('"@@ID@@"', "@@ID@@").replace('"@@RID@@"', "@@RID@@")
    kinds = 3 + 2 * bool(m.edited_ts) + bool(m.reply_to is not None)
    return " " * depth + _fmt(text, *fields), kinds


def _write_json_chat(
    out, name: str, type_: str, chat_id: int, budget: int, rng, pools, clock, first_id: int
) -> int:
    """Stream one chat object (3-space nested, like Telegram's 1-space indent at depth 3); returns bytes."""
    head = (
        f'   {{\n    "name": {json.dumps(name, ensure_ascii=False)},\n    "type": "{type_}",\n'
        f'    "id": {chat_id},\n    "messages": [\n'
    ).encode()
    out.write(head)
    written, mid, first, buf, size = len(head), first_id, True, [], 0
    for group in _events(rng, *pools["msgs"]):
        call_id = None
        for m in group:
            tmpl, kind = pools["json"][id(m)]
            ts = clock.tick()
            if kind == 3:
                s = tmpl % (mid, clock.iso(ts), ts)
            else:
                args = [mid, clock.iso(ts), ts]
                if m.edited_ts:
                    args += [clock.iso(ts + 120), ts + 120]
                if m.reply_to is not None:
                    args.append(call_id if call_id is not None else mid - 1)
                s = tmpl % tuple(args)
            if m.role == "call":
                call_id = mid
            buf.append(s if first else ",\n" + s)
            first = False
            size += len(s) + 2
            mid += 1
        if size >= CHUNK:
            data = "".join(buf).encode()
            out.write(data)
            written += len(data)
            buf, size = [], 0
        if written + size * 1.02 >= budget:  # chars, not bytes, until flushed: emoji are a few % of the text
            break
    data = ("".join(buf) + "\n    ]\n   }").encode()
    out.write(data)
    return written + len(data)


def write_large_json(path: Path, target_mb: int, seed: int = 1) -> int:
    """A whole-account `result.json` of about `target_mb` MB (several chats, one left chat); returns bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    calls, noise, service = _pool(seed)
    msgs = [m for g in calls for m in g] + noise + service
    pools = {"msgs": (calls, noise, service), "json": {id(m): _json_template(m, 5) for m in msgs}}
    clock = _Clock(rng)
    target = target_mb * 1_000_000
    chats = [
        ("Degen Whales", "private_supergroup", 0.35),
        ("Solana Snipers", "public_supergroup", 0.25),
        ("Alpha Gems", "public_supergroup", 0.2),
        ("Pump Lounge", "private_supergroup", 0.1),
    ]
    left = [("Old Pump Room", "private_supergroup", 0.1)]
    root = json.dumps(account_root(["@@CHATS@@"], ["@@LEFT@@"]), ensure_ascii=False, indent=1)
    before, rest = root.split('"@@CHATS@@"')
    middle, after = rest.split('"@@LEFT@@"')
    with path.open("wb", buffering=CHUNK) as out:
        written = out.write(before.rstrip(" ").encode())
        for group, sep_after in ((chats, middle), (left, after)):
            for i, (name, type_, share) in enumerate(group):
                clock.ts = START_TS + i * 86400 * 3  # each chat runs over its own months
                if i:
                    written += out.write(b",\n")
                written += _write_json_chat(
                    out,
                    name,
                    type_,
                    1600000000 + i * 7919 + len(name),
                    int(target * share),
                    rng,
                    pools,
                    clock,
                    first_id=1 + i * 10_000_000,
                )
            written += out.write(sep_after.encode())
    return written


# ---- HTML ----------------------------------------------------------------------------------------


def _html_templates(m: Msg) -> tuple[str, str]:
    """(full, joined) variants with %s for id, title, hh:mm and (replies) the reply href + id twice."""
    title, hhmm = H.title(_TS, OFFSET_S), f"\n{H.local(_TS, OFFSET_S):%H:%M}\n"
    href = f"#go_to_message{_RID}" if m.reply_to is not None else None
    out = []
    for joined in (False, True):
        text = H.message_html(m, joined=joined, offset_s=OFFSET_S, reply_href=href)
        text = text.replace("%", "%%").replace(f'id="message{_ID}"', 'id="message%s"', 1)
        text = text.replace(title, "%s", 1).replace(hhmm, "\n%s\n", 1)
        if href:
            text = text.replace(f'href="#go_to_message{_RID}"', 'href="%s"').replace(
                f"GoToMessage({_RID})", "GoToMessage(%s)"
            )
        out.append(text)
    return out[0], out[1]


def write_large_html(folder: Path, target_mb: int, seed: int = 1, file_mb: int = 8) -> int:
    """An HTML export folder of ~`target_mb` MB in `messagesN.html` files of ~`file_mb` MB; returns bytes."""
    folder = Path(folder)
    for sub, name in (("css", "style.css"), ("js", "script.js")):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / sub / name).write_text("/* placeholder */\n")
    rng = random.Random(seed)
    calls, noise, service = _pool(seed)
    msgs = [m for g in calls for m in g] + noise + service
    tmpl = {id(m): _html_templates(m) for m in msgs if m.kind == "message"}
    svc = {
        id(m): H.service_line(m).replace("%", "%%").replace(f'id="message{_ID}"', 'id="message%s"')
        for m in service
    }
    clock = _Clock(rng)
    target, per_file = target_mb * 1_000_000, file_mb * 1_000_000
    written, k, mid, sep = 0, 0, 1, 0
    call_at: tuple[int, int] = (0, 0)  # (message id, file index) of the last call, for the card's reply link
    events = _events(rng, calls, noise, service)
    while written < target:
        name = H.html_file_name(k)
        buf = [H.page_start("Degen Calls")] + (
            [H.pagination(H.html_file_name(k - 1), "Previous messages")] if k else []
        )
        size, prev_sender, prev_ts, prev_day = 0, None, 0, None
        with (folder / name).open("wb") as out:
            file_bytes = 0
            while file_bytes + size < per_file and written + file_bytes + size < target:
                for m in next(events):
                    ts = clock.tick()
                    day = clock.day(ts)
                    if day != prev_day:
                        sep += 1
                        buf.append(H.date_separator(sep, day))
                        prev_sender = None
                    if m.kind == "service":
                        s = svc[id(m)] % mid
                        prev_sender = None
                    else:
                        joined = m.sender.id == prev_sender and ts - prev_ts <= H.JOIN_WITHIN_S
                        t = tmpl[id(m)][joined]
                        title, hhmm = clock.title_hhmm(ts)
                        if m.reply_to is not None:
                            rid, rk = call_at
                            href = ("" if rk == k else H.html_file_name(rk)) + f"#go_to_message{rid}"
                            s = t % (mid, title, hhmm, href, rid)
                        else:
                            s = t % (mid, title, hhmm)
                        if m.role == "call":
                            call_at = (mid, k)
                        prev_sender, prev_ts = m.sender.id, ts
                    prev_day = day
                    buf.append(s)
                    size += len(s)
                    mid += 1
                if size >= CHUNK:
                    data = "".join(buf).encode()
                    file_bytes += out.write(data)
                    buf, size = [], 0
            buf.append(
                H.pagination(H.html_file_name(k + 1), "Next messages")
                if written + file_bytes + size < target - per_file // 50
                else ""
            )
            buf.append(H.PAGE_END)
            file_bytes += out.write("".join(buf).encode())
        written += file_bytes
        k += 1
    return written
