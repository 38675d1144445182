"""The sample's world: chats, callers of different skill, tokens, and every message, before any rendering.

Deterministic from `SampleSpec.seed`; dates are fixed (2025-09-01 .. 2025-10-12 UTC) so tests can pin them.
Skill model: for a token that runs, good callers post before the peak and bad ones near or after it; good
callers mostly skip the duds. The card market cap at call time therefore separates them.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from quantbot_pipelines.sample.base58 import b58encode, evm_address, solana_mint
from quantbot_pipelines.sample.market import Token, make_token
from quantbot_pipelines.sample.texts import Part, call_parts, ent, noise_parts, phanes_card, rick_card

UTC = dt.UTC


@dataclass(frozen=True)
class SampleSpec:
    seed: int = 7
    start: dt.date = dt.date(2025, 9, 1)
    end: dt.date = dt.date(2025, 10, 12)
    tokens: int = 64
    noise_per_day: float = 1.6  # per chat
    card_rate: float = 0.85  # share of calls a bot answers where a bot is present
    repeat_rate: float = 0.12


@dataclass(frozen=True)
class Person:
    name: str | None  # None: deleted account
    id: str
    skill: float = 0.5
    chats: tuple[str, ...] = ()


@dataclass
class ChatDef:
    key: str
    name: str
    type: str
    id: int
    bots: tuple[str, ...]
    first_id: int
    active_until: int | None = None  # a chat the user left: no messages after this


@dataclass
class Msg:
    ts: int
    sender: Person | None
    parts: list[Part] = field(default_factory=list)
    kind: str = "message"  # or "service"
    reply_to: Msg | None = None
    edited_ts: int | None = None
    fwd_from: str | None = None
    fwd_ts: int | None = None
    action: str | None = None
    members: list[str] | None = None
    media: str | None = None  # photo, sticker
    author: str | None = None  # channel post signature
    role: str = "noise"  # call, card, noise, service, edge
    token: Token | None = None
    seq: int = 0
    id: int = 0


@dataclass
class Chat:
    defn: ChatDef
    messages: list[Msg] = field(default_factory=list)


@dataclass
class Sample:
    spec: SampleSpec
    chats: dict[str, Chat]
    tokens: list[Token]
    edge_cases: list[tuple[str, Msg, str]]  # (chat key, message, what it tests)


RICK = Person("Rick", "user6000000001")
PHANES = Person("Phanes", "user5000000002")
PHANES_GOLD = Person("Phanes [Gold]", "user5000000002")
BOTS = {"Rick": RICK, "Phanes": PHANES, "Phanes [Gold]": PHANES_GOLD}

CALLERS = [
    Person("Mia", "user700000001", 0.92, ("alpha", "degen", "snipers")),
    Person("Kai | Alpha", "user700000002", 0.8, ("alpha", "whales", "old")),
    Person("sol_sniper", "user700000003", 0.7, ("snipers", "degen", "old")),
    Person("Degen Dave", "user700000004", 0.5, ("whales", "degen", "alpha")),
    Person("Lena 🦄", "user700000005", 0.45, ("alpha", "snipers")),
    Person("Pepe Hunter", "user700000006", 0.3, ("degen", "whales", "old")),
    Person("Tom & Jerry's", "user700000007", 0.2, ("alpha", "degen")),
    Person("Late Larry", "user700000008", 0.08, ("snipers", "whales", "degen")),
    Person("Moon Signals", "channel1987654321", 0.6, ("moon",)),
]
LURKERS = [
    Person("Ava", "user700000011"),
    Person("Noah", "user700000012"),
    Person("crypto_bro_99", "user700000013"),
    Person("Zed", "user700000014"),
    Person("Sofia", "user700000015"),
]
DELETED = Person(None, "user700000099")
ME = Person("Sam", "user700000100")  # the exporting account


def _ts(d: dt.date, hour: float = 0.0) -> int:
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() + hour * 3600)


def chat_defs(spec: SampleSpec) -> dict[str, ChatDef]:
    left = _ts(spec.start + dt.timedelta(days=20))
    defs = [
        ChatDef("alpha", "Alpha Gems", "public_supergroup", 1876543210, ("Rick",), 5001),
        ChatDef("whales", "Degen Whales", "private_supergroup", 1734567890, ("Phanes",), 12001),
        ChatDef(
            "snipers", "Solana Snipers", "public_supergroup", 1698765432, ("Rick", "Phanes [Gold]"), 80001
        ),
        ChatDef("moon", "Moon Signals", "public_channel", 1987654321, (), 301),
        ChatDef("dm", "Lena 🦄", "personal_chat", 700000005, (), 90001),
        ChatDef(
            "old", "Old Pump Room", "private_supergroup", 1555444333, ("Rick",), 40001, active_until=left
        ),
        ChatDef("degen", "Degen Calls", "private_supergroup", 1612345678, ("Rick", "Phanes"), 20001),
    ]
    return {d.key: d for d in defs}


class _Builder:
    def __init__(self, spec: SampleSpec):
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.defs = chat_defs(spec)
        self.chats = {k: Chat(d) for k, d in self.defs.items()}
        self.t0 = _ts(spec.start, 6)
        self.t1 = _ts(spec.end, 20)
        self.seq = 0
        self.edges: list[tuple[str, Msg, str]] = []

    def add(self, chat: str, msg: Msg) -> Msg:
        self.seq += 1
        msg.seq = self.seq
        self.chats[chat].messages.append(msg)
        return msg

    def open_chats(self, person: Person, ts: int) -> list[str]:
        out = []
        for key in person.chats:
            until = self.defs[key].active_until
            if until is None or ts < until:
                out.append(key)
        return out

    # -- calls ---------------------------------------------------------------------------------------------
    def call(self, chat: str, caller: Person, token: Token, ts: int, *, repeat: bool = False) -> Msg:
        rng = self.rng
        bots = self.defs[chat].bots
        parts, needs_card = call_parts(token, rng, repeat=repeat)
        while needs_card and not bots:
            parts, needs_card = call_parts(token, rng)
        msg = self.add(chat, Msg(ts, caller, parts, role="call", token=token))
        if caller.id.startswith("channel") and rng.random() < 0.5:
            msg.author = "Max"
        if rng.random() < 0.08:
            msg.edited_ts = ts + rng.randint(60, 1500)
        if bots and (needs_card or rng.random() < self.spec.card_rate):
            answering = list(bots) if len(bots) > 1 and rng.random() < 0.25 else [rng.choice(bots)]
            for i, bot in enumerate(answering):
                self.card(chat, BOTS[bot], msg, ts + rng.randint(2, 8) + i * 3)
        return msg

    def card(self, chat: str, bot: Person, to: Msg, ts: int) -> Msg:
        t = to.token
        snap = t.snapshot(ts, self.rng)
        parts = rick_card(t, snap) if bot is RICK else phanes_card(t, snap)
        return self.add(chat, Msg(ts, bot, parts, reply_to=to, role="card", token=t))

    def token_calls(self, tokens: list[Token]) -> list[Msg]:
        rng = self.rng
        humans = [c for c in CALLERS if not c.id.startswith("channel")]
        channel = CALLERS[-1]
        calls = []
        for t in tokens:
            runs = t.peak_x >= 3
            n_early = 1 + runs + (rng.random() < 0.35)
            n_late = rng.choice([0, 1, 1, 2]) if runs else rng.choice([0, 0, 1])
            picked: set[str] = set()
            for i in range(n_early + n_late):
                early = i < n_early
                pool = [c for c in humans if c.id not in picked]
                if early and runs:
                    weights = [c.skill**2 + 0.02 for c in pool]
                else:  # duds early, and every late call: the weaker callers
                    weights = [(1 - c.skill) ** 2 + 0.02 for c in pool]
                caller = rng.choices(pool, weights=weights)[0]
                if rng.random() < 0.08 and channel.id not in picked:
                    caller = channel
                picked.add(caller.id)
                frac = rng.uniform(0.03, 0.45) * (1 - caller.skill / 2) if early else rng.uniform(0.9, 2.5)
                ts = t.launch_ts + int(t.peak_h * 3600 * frac) + rng.randint(60, 900)
                if ts >= self.t1:
                    continue
                chats = self.open_chats(caller, ts)
                if not chats:
                    continue
                calls.append(self.call(rng.choice(chats), caller, t, ts))
        for c in list(calls):  # repeats: the same caller names the same token again later
            if c.sender.id.startswith("channel") or rng.random() >= self.spec.repeat_rate:
                continue
            ts = c.ts + rng.randint(2, 30) * 3600
            chats = self.open_chats(c.sender, ts)
            if ts < self.t1 and chats:
                calls.append(self.call(rng.choice(chats), c.sender, c.token, ts, repeat=True))
        return calls

    # -- chatter -------------------------------------------------------------------------------------------
    def members(self, key: str) -> list[Person]:
        return [c for c in CALLERS if key in c.chats and not c.id.startswith("channel")] + LURKERS

    def noise(self) -> None:
        rng = self.rng
        for key, d in self.defs.items():
            if key == "moon":
                continue
            people = [ME, CALLERS[4]] if key == "dm" else self.members(key)
            names = [p.name for p in people]
            day = self.spec.start
            while day <= self.spec.end:
                n = rng.randint(0, int(self.spec.noise_per_day * 2))
                for _ in range(n):
                    ts = _ts(day, rng.uniform(6.5, 23.5))
                    if ts >= self.t1 or (d.active_until and ts >= d.active_until):
                        continue
                    who = rng.choice(people)
                    burst = 1 + (rng.random() < 0.25) * rng.randint(1, 2)  # HTML joins these
                    for j in range(burst):
                        m = Msg(ts + j * rng.randint(20, 200), who, noise_parts(rng, names))
                        r = rng.random()
                        if r < 0.04:
                            m.media, m.parts = "sticker", []
                        elif r < 0.08:
                            m.media = "photo"
                        elif r < 0.11:
                            m.edited_ts = m.ts + rng.randint(30, 600)
                        self.add(key, m)
                day += dt.timedelta(days=1)

    def reactions(self, calls: list[Msg]) -> None:
        rng = self.rng
        # the chat of each call, found once (a list search per call made large samples quadratic)
        chat_of: dict[int, str] = {}
        for k, ch in self.chats.items():
            for m in ch.messages:
                chat_of.setdefault(id(m), k)
        for c in calls:
            chat = chat_of[id(c)]
            if chat == "moon":
                continue
            if rng.random() < 0.12:
                who = rng.choice([p for p in self.members(chat) if p is not c.sender])
                self.add(
                    chat,
                    Msg(
                        c.ts + rng.randint(600, 10800),
                        who,
                        [rng.choice(["nice call 🔥", "in", "aped", "thx ser", "too late?"])],
                        reply_to=c,
                    ),
                )
            t = c.token
            if t.peak_x >= 4 and c.ts < t.launch_ts + t.peak_h * 3600 and rng.random() < 0.2:
                ts = t.launch_ts + int(t.peak_h * 3600) + rng.randint(600, 3600)
                if ts < self.t1:
                    self.add(chat, Msg(ts, c.sender, [f"up {t.peak_x:.0f}x from my call 🚀"], reply_to=c))

    def service(self) -> None:
        rng = self.rng
        for key, d in self.defs.items():
            if d.type in ("personal_chat", "public_channel"):
                continue
            day = self.spec.start
            while day <= self.spec.end:
                if rng.random() < 0.3:
                    ts = _ts(day, rng.uniform(7, 22))
                    if ts < self.t1 and not (d.active_until and ts >= d.active_until):
                        who = Person(f"newbie{rng.randint(100, 999)}", f"user7001{rng.randint(10000, 99999)}")
                        if rng.random() < 0.7:
                            self.add(
                                key, Msg(ts, who, kind="service", action="join_group_by_link", role="service")
                            )
                        else:
                            self.add(
                                key,
                                Msg(
                                    ts,
                                    rng.choice(self.members(key)),
                                    kind="service",
                                    action="invite_members",
                                    members=[who.name],
                                    role="service",
                                ),
                            )
                day += dt.timedelta(days=1)

    # -- planted cases -------------------------------------------------------------------------------------
    def plant(self, tokens: list[Token]) -> None:
        rng = self.rng
        sol = next(t for t in tokens if t.chain == "solana" and t.peak_x >= 3)
        # the same token in two chats, by two callers (first_call is across chats)
        self.call("alpha", CALLERS[0], sol, sol.launch_ts + 900)
        self.call("degen", CALLERS[5], sol, sol.launch_ts + 5400)
        # a forwarded call: the forwarder is the caller, the original author is kept
        fwd = self.call("whales", CALLERS[3], sol, sol.launch_ts + 2400)
        fwd.fwd_from, fwd.fwd_ts = "Whale Alerts", sol.launch_ts + 1800
        fwd2 = self.call("degen", CALLERS[2], tokens[3], tokens[3].launch_ts + 1200)
        fwd2.fwd_from, fwd2.fwd_ts = "Whale Alerts", tokens[3].launch_ts + 1000
        day = self.spec.start + dt.timedelta(days=9)
        # address-like base58 that decodes to 29 bytes, not 32
        short = b58encode(rng.randbytes(29))
        m = self.add("alpha", Msg(_ts(day, 14.2), CALLERS[6], [f"check this one {short} 🚀"], role="edge"))
        self.edges.append(("alpha", m, "base58 address-like string that decodes to 29 bytes"))
        # 44 characters that look like a mint but hold non-base58 characters (0, O, I, l)
        fake = solana_mint(rng)
        fake = fake[:10] + "0OIl" + fake[14:]
        m = self.add("degen", Msg(_ts(day, 15.1), CALLERS[7], [f"wen listing {fake}"], role="edge"))
        self.edges.append(("degen", m, "44 characters with non-base58 letters"))
        # the zero EVM address
        m = self.add(
            "whales",
            Msg(
                _ts(day, 16.3),
                CALLERS[3],
                ["LP burnt, sent to 0x0000000000000000000000000000000000000000 ✅"],
                role="edge",
            ),
        )
        self.edges.append(("whales", m, "zero EVM address"))
        # an EVM call with no chain anywhere: chain must stay unknown, never defaulted
        evm = evm_address(rng)
        m = self.add(
            "snipers",
            Msg(
                _ts(day + dt.timedelta(days=3), 11.5),
                CALLERS[7],
                [f"{evm} this is going to run"],
                role="edge",
            ),
        )
        self.edges.append(("snipers", m, "EVM call without chain information (chain unknown)"))
        # deleted accounts calling (from null)
        for chat, days in (("whales", 14), ("degen", 16)):
            t = next(
                t for t in tokens if t.chain == "solana" and t.launch_ts > _ts(self.spec.start, 24 * days)
            )
            m = self.call(chat, DELETED, t, t.launch_ts + 2000)
            self.edges.append((chat, m, "call by a deleted account (from null)"))
        # a service pin of a call
        pinned = next(m for m in self.chats["alpha"].messages if m.role == "call")
        self.add(
            "alpha",
            Msg(
                pinned.ts + 300,
                CALLERS[1],
                kind="service",
                action="pin_message",
                role="service",
                reply_to=pinned,
            ),
        )
        # a late reply to an early call: in HTML the replied-to message is in another file
        early = min((m for m in self.chats["degen"].messages if m.role == "call"), key=lambda m: m.ts)
        self.add(
            "degen",
            Msg(
                _ts(self.spec.end - dt.timedelta(days=2), 12),
                early.sender,
                ["remember this one? ", ent("bold", "still holding")],
                reply_to=early,
            ),
        )

    def build(self) -> Sample:
        rng = self.rng
        span = self.t1 - 86400 - self.t0
        launches = sorted(self.t0 + rng.randint(0, span) for _ in range(self.spec.tokens))
        used: set[str] = set()
        # the synthetic candle market of the same seed reports the pools these tokens' cards show
        tokens = [make_token(rng, ts, used, market_seed=self.spec.seed) for ts in launches]
        calls = self.token_calls(tokens)
        self.plant(tokens)
        self.reactions(calls)
        self.noise()
        self.service()
        for chat in self.chats.values():
            chat.messages.sort(key=lambda m: (m.ts, m.seq))
            for i, m in enumerate(chat.messages):
                m.id = chat.defn.first_id + i
        return Sample(self.spec, self.chats, tokens, self.edges)


def build_sample(spec: SampleSpec | None = None) -> Sample:
    return _Builder(spec or SampleSpec()).build()
