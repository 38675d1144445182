"""Messages in, call rows out; and the global flags over all exports (`finalize_calls`).

Both readers feed `CallBuilder` through its input methods only: the JSON reader hands over each decoded
message object (`add_json_message`, which maps Telegram's JSON fields, docs/formats.md#telegram-exports), the
HTML reader the fields it read (`bot_of`, `add_card`, `add_message`); both report bad input with
`add_quarantine` and counts with `count`. A person's message naming tokens becomes one row per distinct
token; a bot's card is kept by the message it replies to and merged at the end, so a card may come before or
after its call (even in another HTML file). Flags and dedupe follow docs/semantics.md#calls.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa

from quantbot_pipelines.schemas import TELEGRAM_CALLS, TELEGRAM_QUARANTINE
from quantbot_pipelines.telegram.cards import BUILTIN_BOTS, Card, bot_kind, parse_card
from quantbot_pipelines.telegram.extract import MINT, PAIR, Token, extract_tokens

TEXT_CHARS = 1000
RAW_BYTES = 64 * 1024
CALL_COLS = TELEGRAM_CALLS.columns
KEY = ["chat_id", "message_id", "chain", "address"]
# the card columns of a row without card: pair_address, then card_bot .. card_bonding_pct (_NO_CARD_FIELDS)
_NO_CARD_FIELDS = (None,) * 9
_NO_CARD = (None,) + _NO_CARD_FIELDS
# (address_kind, pair_status) of a row: a pair nobody resolved yet is `unresolved` until a pair lookup answers
_KIND_TAIL = {MINT: (MINT, None), PAIR: (PAIR, "unresolved"), "unknown": ("unknown", None)}
_CARD_TAIL = _KIND_TAIL[MINT]
_ROW_COLS = ("chat_id", "chat_name", "chat_type", "message_id", "call_ts", "caller_id", "caller_name", "chain",
             "address", "address_raw", "resolved_by", "pair_address", "card_bot", "card_name", "card_ticker",
             "card_price_usd", "card_mcap_usd", "card_liquidity_usd", "card_age_s", "card_dex",
             "card_bonding_pct", "edited", "edited_ts", "forwarded_from", "text", "source_file",
             "source_format", "address_kind", "pair_status")


@dataclass
class ParsedExport:
    calls: pa.Table
    quarantine: pa.Table
    stats: dict
    days: list[dt.date] = field(default_factory=list)


@dataclass
class Chat:
    chat_id: str
    name: str | None
    type: str | None


def zone(tz: str | None) -> ZoneInfo | None:
    return ZoneInfo(tz) if tz else None


def message_text(text, want_codes: bool = False) -> tuple[str, list[str], list[str]]:
    """(plain text, hrefs, code parts) of a JSON message's `text`: a string or a list of strings and entities."""
    if text.__class__ is str:
        return text, [], []
    if text.__class__ is not list:
        return "", [], []
    hrefs: list[str] = []
    codes: list[str] = []
    parts: list = []
    add = parts.append
    for p in text:  # one pass: this runs for every call and card
        if p.__class__ is str:
            add(p)
        elif p.__class__ is dict:
            t = p.get("text") or ""
            add(t)
            kind = p.get("type")
            if kind == "text_link":
                h = p.get("href")
                if h:
                    hrefs.append(str(h))
            elif want_codes and (kind == "code" or kind == "pre"):
                codes.append(t)
        else:
            add("")
    try:
        return "".join(parts), hrefs, codes
    except TypeError:  # a non-string "text" inside an entity
        return "".join(str(x) for x in parts), hrefs, codes


def json_ts(msg: dict, key: str, tz) -> tuple[int | None, str | None]:
    """(UTC epoch seconds, problem): `<key>_unixtime` first, the naive `<key>` only with a time zone."""
    unix = msg.get(key + "_unixtime")
    if unix is not None:
        try:
            return int(unix), None
        except (TypeError, ValueError):
            pass
    naive = msg.get(key)
    if naive is None:
        return None, "bad_date"
    try:
        when = dt.datetime.fromisoformat(str(naive))
    except ValueError:
        return None, "bad_date"
    if when.tzinfo is not None:
        return int(when.timestamp()), None
    if tz is None:
        return None, "no_timezone"
    return int(when.replace(tzinfo=tz).timestamp()), None


def json_caller_id(from_id, sender) -> str | None:
    """caller_id of a JSON message (docs/formats.md#telegram-exports): an integer `from_id` (0 included) is
    that id, a `user123` / `channel123` string stays as written; with neither (missing, null, empty), the
    name scheme `name:<from>` that HTML senders use too (finalize_calls maps those to the one JSON id of
    that name); None without a name either."""
    if from_id.__class__ is str:
        if from_id:
            return from_id
    elif from_id.__class__ is int:  # not bool: true/false are no ids
        return str(from_id)
    return f"name:{sender}" if sender else None


_CASHTAG_RE = re.compile(r"\$[A-Za-z][0-9A-Za-z_]*")


@lru_cache(maxsize=1 << 12)
def _ticker_re(ticker: str) -> re.Pattern:
    return re.compile(r"\$" + re.escape(ticker) + r"(?![0-9A-Za-z_])", re.IGNORECASE)


def match_cards(tokens: list[Token], cards: list[Card], text: str) -> list[Card | None]:
    """The card that resolves each token of a message, or None (docs/semantics.md#calls, resolution order).

    One token: the card naming it as its mint, else as its pool, else the replying card whatever it names
    (its link may show another pool of the same token), as long as the cards agree on one mint; a token link
    (kind mint) is only ever resolved by a card naming that mint. Several tokens: by mint, then by pool, then
    by ticker (a `$TICKER` written just before the address, or the one token left).
    """
    if len(tokens) == 1:
        return [_single_card(tokens[0], cards, text)]
    picks: list[Card | None] = [next((c for c in cards if c.mint == t.address), None) for t in tokens]
    for i, t in enumerate(tokens):
        if picks[i] is None:
            picks[i] = next((c for c in cards if c.pair is not None and c.pair == t.address), None)
    if None in picks:
        _by_ticker(tokens, cards, text, picks)
    return picks


def _single_card(tok: Token, cards: list[Card], text: str) -> Card | None:
    for c in cards:
        if c.mint == tok.address:
            return c
    for c in cards:
        if c.pair is not None and c.pair == tok.address:
            return c
    if tok.kind == MINT:  # a token link and a card naming another token contradict each other: not guessed
        return None
    if len({c.mint for c in cards}) == 1:
        return cards[0]
    named = [c for c in cards if c.ticker and _ticker_re(c.ticker).search(text)]  # cards that disagree
    return named[0] if len({c.mint for c in named}) == 1 else None


def _by_ticker(tokens: list[Token], cards: list[Card], text: str, picks: list[Card | None]) -> None:
    """Fill `picks` of tokens no mint or pool matched, from the tickers the caller wrote."""
    taken = {id(c) for c in picks if c is not None}
    mints = {c.mint for c in picks if c is not None}
    free = [c for c in cards if id(c) not in taken and c.mint not in mints and c.ticker]
    open_ = {i for i, p in enumerate(picks) if p is None and tokens[i].kind != MINT}
    if not free or not open_:
        return
    tags = [(m.start(), c) for c in free for m in _ticker_re(c.ticker).finditer(text)]
    if not tags:
        return
    others = [m.start() for m in _CASHTAG_RE.finditer(text)]
    at = sorted((text.find(t.address_raw), i) for i, t in enumerate(tokens) if text.find(t.address_raw) >= 0)
    # "$AAA <address>": the ticker right before an address (no other cashtag between) names it
    bound: dict[int, list[Card]] = {}
    for pos, c in tags:
        nxt = next(((p, i) for p, i in at if p > pos), None)
        if nxt is not None and not any(pos < q < nxt[0] for q in others):
            bound.setdefault(nxt[1], []).append(c)
    for i, cs in bound.items():
        if i in open_ and len({c.mint for c in cs}) == 1:
            picks[i] = cs[0]
            open_.discard(i)
    # one token left and the tickers written name one more token: that is the one
    mints = {c.mint for c in picks if c is not None}
    left = {c.mint: c for _, c in tags if c.mint not in mints}
    if len(open_) == 1 and len(left) == 1:
        picks[open_.pop()] = next(iter(left.values()))


class CallBuilder:
    """Collects call candidates and cards of one export; `result()` builds the tables."""

    def __init__(self, *, export_id: str, source_format: str, bot_names=()):
        self.export_id = export_id
        self.source_format = source_format
        self.extra_bots = frozenset(str(b).strip().lower() for b in bot_names) - BUILTIN_BOTS
        self._bot_cache: dict = {}
        self._sender_bots: dict = {}  # (from, from_id, via_bot) -> bot kind or None (JSON messages)
        self._pending: list[tuple] = []   # (chat, mid, ts, caller_id, caller_name, tokens, meta...)
        self.cards: dict[tuple[str, int], list[Card]] = {}
        self.quarantine: list[dict] = []
        self.stats = {"messages": 0, "service": 0, "calls": 0, "quarantined": 0, "chats": 0, "cards": 0,
                      "orphan_cards": 0, "bytes": 0, "seconds": 0.0, "by_reason": {}}

    # -- input ---------------------------------------------------------------------------------------
    def count(self, **counts: int) -> None:
        """Add to the counters in `stats` (messages, service, chats, bytes)."""
        stats = self.stats
        for key, n in counts.items():
            stats[key] += n

    def bot_of(self, *names: str | None) -> str | None:
        cache = self._bot_cache
        for n in names:
            if n is None:
                continue
            kind = cache.get(n, 0)
            if kind == 0:  # senders repeat: look each name up once
                kind = cache[n] = bot_kind(n if isinstance(n, str) else str(n), self.extra_bots)
            if kind:
                return kind
        return None

    def add_card(self, chat: Chat, bot: str, reply_to: int | None, text: str, hrefs, codes) -> None:
        card = parse_card(bot, text, hrefs, codes)
        if card is None or reply_to is None:
            return
        self.stats["cards"] += 1
        self.cards.setdefault((chat.chat_id, reply_to), []).append(card)

    def add_message(self, chat: Chat, *, mid: int, ts: int | None, ts_problem: str | None, caller_id: str | None,
                    caller_name: str | None, text: str, hrefs=(), edited: bool = False,
                    edited_ts: int | None = None, forwarded_from: str | None = None, source_file: str = "",
                    raw: str | None = None, tokens: list[Token] | None = None) -> None:
        """A person's message; becomes calls when it names tokens (or is quarantined if its time is unknown)."""
        if tokens is None:
            tokens = extract_tokens(text, hrefs)
        if not tokens:
            return
        if ts is None:
            self.add_quarantine(source_file, chat.name, mid, None, ts_problem or "bad_date",
                                f"{source_file}: message {mid}: {ts_problem or 'bad_date'}", raw if raw else text)
            return
        self._pending.append((chat, mid, ts, caller_id, caller_name, tokens, edited, edited_ts, forwarded_from,
                              text[:TEXT_CHARS], source_file))

    def add_json_message(self, msg, chat: Chat, tz, source_file: str, raw) -> None:
        """One decoded message object of a JSON export (`raw`: its bytes, for a quarantine row): a bot's card,
        a person's call candidate, or nothing (service messages, messages without a token)."""
        if not isinstance(msg, dict) or msg.get("type", "message") != "message":
            return
        mid = msg.get("id")
        if not isinstance(mid, int):
            self.add_quarantine(source_file, chat.name, None, None, "bad_message",
                                f"{source_file}: message without an integer id", raw)
            return
        get = msg.get
        sender, sender_id, via = get("from"), get("from_id"), get("via_bot")
        # senders repeat: one lookup per distinct (from, from_id, via_bot)
        cache = self._sender_bots
        try:
            bot = cache[sender, sender_id, via]
        except KeyError:
            bot = cache[sender, sender_id, via] = self.bot_of(
                sender, sender_id, via.lstrip("@") if isinstance(via, str) else None)
        except TypeError:  # an unhashable sender (not a real export): bot_of decides, as it always did
            bot = self.bot_of(sender, sender_id, via.lstrip("@") if isinstance(via, str) else None)
        text, hrefs, codes = message_text(get("text"), bot is not None)
        if bot:
            buttons = get("inline_bot_buttons")
            if buttons.__class__ is list:  # URL buttons of a card (chart, buy) may carry the pool/token links
                hrefs = hrefs + [str(b.get("data") or b.get("url") or "") for row in buttons
                                 if row.__class__ is list for b in row if b.__class__ is dict]
            reply = get("reply_to_message_id")
            self.add_card(chat, bot, reply if isinstance(reply, int) else None, text, hrefs, codes)
            return
        tokens = extract_tokens(text, hrefs)
        if not tokens:  # no valid address: nothing else of this message is needed
            return
        unix = get("date_unixtime")
        ts = problem = None
        if unix is not None:
            try:
                ts = int(unix)
            except (TypeError, ValueError):
                ts, problem = json_ts(msg, "date", tz)
        else:
            ts, problem = json_ts(msg, "date", tz)
        edited_ts = None
        edited = "edited" in msg or "edited_unixtime" in msg
        if edited:
            edited_ts, _ = json_ts(msg, "edited", tz)
        if ts is None:
            self.add_message(chat, mid=mid, ts=ts, ts_problem=problem, caller_id=None, caller_name=None,
                             text=text, source_file=source_file, raw=raw, tokens=tokens)  # quarantined there
            return
        fwd = get("forwarded_from")
        # = self.add_message(...) for a message with tokens and a time, without its keyword-call overhead
        caller_id = json_caller_id(sender_id, sender)
        self._pending.append((chat, mid, ts, caller_id, sender if isinstance(sender, str) else None, tokens,
                              edited, edited_ts, fwd if isinstance(fwd, str) else None, text[:TEXT_CHARS],
                              source_file))

    def add_quarantine(self, source_file: str, chat_name: str | None, mid: int | None, ts: int | None,
                       reason: str, detail: str, raw: str | bytes | None, raw_bytes: int | None = None) -> None:
        if isinstance(raw, (bytes, bytearray, memoryview)):
            raw_b = bytes(raw)
            size = raw_bytes if raw_bytes is not None else len(raw_b)
            raw = raw_b[:RAW_BYTES].decode("utf-8", "replace")
        else:
            raw_b = raw.encode("utf-8", "replace") if raw else b""
            size = raw_bytes if raw_bytes is not None else len(raw_b)
            raw = raw_b[:RAW_BYTES].decode("utf-8", "ignore") if raw else raw
        self.quarantine.append({
            "export_id": self.export_id, "seq": len(self.quarantine), "source_file": source_file,
            "chat_name": chat_name, "message_id": mid,
            "message_ts": ts,
            "reason": reason, "detail": detail, "raw": raw, "raw_bytes": size})
        by = self.stats["by_reason"]
        by[reason] = by.get(reason, 0) + 1

    # -- output --------------------------------------------------------------------------------------
    def _rows(self) -> dict[str, tuple]:
        rows: list[tuple] = []
        add = rows.append
        used: dict[tuple[str, int], set[int]] = {}  # message -> indexes of its cards that resolved a call
        fmt = self.source_format
        all_cards = self.cards
        kind_tail = _KIND_TAIL
        for (chat, mid, ts, caller_id, caller_name, tokens, edited, edited_ts, fwd, text, src) in self._pending:
            head = (chat.chat_id, chat.name, chat.type, mid, ts, caller_id, caller_name)
            tail = (bool(edited), edited_ts, fwd, text, src, fmt)
            msg_key = (chat.chat_id, mid)
            cards = all_cards.get(msg_key) if all_cards else None
            if len(tokens) == 1:  # the common calls, done without the general loop below (same rows)
                tok = tokens[0]
                if not cards:
                    if tok.kind == PAIR:  # the pool the link named, kept as such until a lookup resolves it
                        add(head + (tok.chain, tok.address, tok.address_raw, tok.source, tok.address)
                            + _NO_CARD_FIELDS + tail + kind_tail[PAIR])
                    else:
                        add(head + (tok.chain, tok.address, tok.address_raw, tok.source) + _NO_CARD + tail
                            + kind_tail[tok.kind])
                    continue
                card = cards[0]
                if len(cards) == 1 and card.mint == tok.address:
                    used[msg_key] = {0}
                    add(head + (card.chain or tok.chain, card.mint, tok.address_raw, "card",
                                card.pair or None, card.bot) + card[4:] + tail + _CARD_TAIL)
                    continue
            picks = match_cards(tokens, cards, text) if cards else None
            seen: set[tuple[str, str]] = set()
            for i, tok in enumerate(tokens):
                card = picks[i] if picks else None
                if card is not None:
                    # the card's chain wins; an EVM card without one keeps what the link/text said
                    address = card.mint
                    key = (card.chain or tok.chain, address)
                    if tok.address == address:
                        pair, raw = card.pair or None, tok.address_raw
                    else:  # the caller named something else than the mint (a pool): that is the call's pair
                        pair, raw = tok.address, address
                    # card[4:]: name .. bonding_pct
                    row = key + (raw, "card", pair, card.bot) + card[4:] + tail + _CARD_TAIL
                else:
                    key = (tok.chain, tok.address)
                    if tok.kind == PAIR:
                        row = (key + (tok.address_raw, tok.source, tok.address) + _NO_CARD_FIELDS + tail
                               + kind_tail[PAIR])
                    else:
                        row = key + (tok.address_raw, tok.source) + _NO_CARD + tail + kind_tail[tok.kind]
                if key in seen:
                    continue
                seen.add(key)
                add(head + row)
            if cards:
                # a card is used when it resolved a token here, or names one that another card resolved
                # (Rick and Phanes answering the same call); the others are orphans
                picked = {id(c) for c in picks if c is not None}
                mints = {c.mint for c in picks if c is not None}
                used[msg_key] = {j for j, c in enumerate(cards) if id(c) in picked or c.mint in mints}
        self.stats["orphan_cards"] = sum(len(v) - len(used.get(k, ())) for k, v in self.cards.items())
        cols = list(zip(*rows)) if rows else [()] * len(_ROW_COLS)
        return dict(zip(_ROW_COLS, cols))  # name -> tuple of values

    def result(self) -> ParsedExport:
        # polars builds the columns: the first pa.array() call of a process imports pandas (~0.2 s)
        cols = self._rows()
        n = len(cols["chat_id"])
        if n:
            df = pl.DataFrame([pl.Series(name, values, _PL_TYPES[name], strict=True)
                               for name, values in cols.items()])
            df = df.with_columns(_epoch_ms(c) for c in _TS_COLS)
            # a chat listed twice in one whole-account file (chats and left_chats) must not double its calls
            df = flag_calls(df.unique(subset=KEY, keep="last", maintain_order=True))
        else:
            df = pl.from_arrow(TELEGRAM_CALLS.empty())
        days = df.get_column("day").unique().sort().to_list() if n else []
        calls = TELEGRAM_CALLS.conform(df.to_arrow())
        quarantine = TELEGRAM_QUARANTINE.conform(self._quarantine_frame().to_arrow())
        self.stats["calls"] = calls.num_rows
        self.stats["quarantined"] = quarantine.num_rows
        return ParsedExport(calls=calls, quarantine=quarantine, stats=self.stats, days=days)

    def _quarantine_frame(self) -> pl.DataFrame:
        rows = self.quarantine
        df = pl.DataFrame([pl.Series(name, [r[name] for r in rows], _Q_TYPES[name], strict=True)
                           for name in _Q_TYPES])
        return df.with_columns(_epoch_ms("message_ts"))


# polars types of the row columns (what pl.from_arrow gives for the TELEGRAM_CALLS types); times as epoch s
_PL_TYPES = {name: pl.Int64 if name in ("message_id", "card_age_s", "call_ts", "edited_ts") else
             pl.Float64 if name.endswith("_usd") or name == "card_bonding_pct" else
             pl.Boolean if name == "edited" else pl.String
             for name in _ROW_COLS}
_TS_COLS = ("call_ts", "edited_ts")
_Q_TYPES = {"export_id": pl.String, "seq": pl.Int64, "source_file": pl.String, "chat_name": pl.String,
            "message_id": pl.Int64, "message_ts": pl.Int64, "reason": pl.String, "detail": pl.String,
            "raw": pl.String, "raw_bytes": pl.Int64}


def _epoch_ms(name: str) -> pl.Expr:
    """Epoch seconds -> Datetime(ms, UTC), the type pl.from_arrow gives a timestamp[s, UTC] column."""
    return (pl.col(name) * 1000).cast(pl.Datetime("ms", "UTC"))


def flag_calls(df: pl.DataFrame) -> pl.DataFrame:
    """Add day, first_call, first_call_ts, repeat over the rows given; deterministic order.

    first_call: earliest (call_ts, chat_id, message_id) per (chain, address); repeat: not the earliest call of
    that token by the same caller (docs/semantics.md#calls).
    """
    order = ["call_ts", "chat_id", "message_id"]
    df = df.sort(order + ["chain", "address"])
    tok = ["chain", "address"]
    df = df.with_columns(
        pl.col("call_ts").dt.date().alias("day"),
        (pl.int_range(pl.len()).over(tok) == 0).alias("first_call"),
        pl.col("call_ts").min().over(tok).alias("first_call_ts"),
        ((pl.int_range(pl.len()).over(tok + ["caller_id"]) > 0) & pl.col("caller_id").is_not_null())
        .alias("repeat"),
    )
    return df.select(CALL_COLS).sort(["day"] + order + tok)


def _unify_callers(df: pl.DataFrame) -> pl.DataFrame:
    named = pl.col("caller_id").str.starts_with("name:")
    ids = (df.filter(~named & pl.col("caller_id").is_not_null() & pl.col("caller_name").is_not_null())
           .group_by("caller_name").agg(pl.col("caller_id").unique().alias("ids"))
           .filter(pl.col("ids").list.len() == 1)
           .select(pl.concat_str([pl.lit("name:"), pl.col("caller_name")]).alias("caller_id"),
                   pl.col("ids").list.first().alias("_real_caller")))
    if ids.is_empty():
        return df
    return (df.join(ids, on="caller_id", how="left", maintain_order="left")
            .with_columns(pl.coalesce("_real_caller", "caller_id").alias("caller_id")).drop("_real_caller"))


def apply_pair_tokens(calls: pl.DataFrame, pair_tokens: pl.DataFrame | None) -> pl.DataFrame:
    """Calls whose address is an unresolved pair take what a pair lookup answered (docs/semantics.md#calls).

    `pair_tokens`: chain, pair_address, token_address, status (the first frame `resolve_pairs` returns, or
    PAIR_TOKENS rows). A resolved pair re-keys its call to the token (`resolved_by = pair_lookup`,
    `address_kind = mint`, the pair kept in `pair_address`); any other answer only sets `pair_status`. A call
    that lands on a token its message already names (by text, link or card) is the same call: that row stays.
    """
    if (pair_tokens is None or pair_tokens.is_empty() or calls.is_empty()
            or "address_kind" not in calls.columns):
        return calls
    look = (pair_tokens.select(pl.col("chain"), pl.col("pair_address").alias("address"),
                               pl.col("token_address").alias("_token"), pl.col("status").alias("_status"))
            .unique(subset=["chain", "address"], keep="first", maintain_order=True))
    df = calls.join(look, on=["chain", "address"], how="left", maintain_order="left")
    is_pair = pl.col("address_kind") == PAIR
    found = is_pair & (pl.col("_status") == "resolved") & pl.col("_token").is_not_null()
    df = df.with_columns(  # every expression reads the columns as they were before this step
        pl.when(found).then(pl.col("_token")).otherwise(pl.col("address")).alias("address"),
        pl.when(found).then(pl.col("_token")).otherwise(pl.col("address_raw")).alias("address_raw"),
        pl.when(found).then(pl.lit("pair_lookup")).otherwise(pl.col("resolved_by")).alias("resolved_by"),
        pl.when(found).then(pl.col("address")).otherwise(pl.col("pair_address")).alias("pair_address"),
        pl.when(found).then(pl.lit(MINT)).otherwise(pl.col("address_kind")).alias("address_kind"),
        pl.when(is_pair & pl.col("_status").is_not_null()).then(pl.col("_status"))
        .otherwise(pl.col("pair_status")).alias("pair_status"),
    ).drop("_token", "_status")
    late = (pl.col("resolved_by") == "pair_lookup").alias("_late")
    return (df.with_columns(late).sort("_late", maintain_order=True)
            .unique(subset=KEY, keep="first", maintain_order=True).drop("_late"))


def finalize_calls(staged: pl.DataFrame, pair_tokens: pl.DataFrame | None = None) -> pl.DataFrame:
    """All staged rows of all exports (export_id + calls columns) -> TELEGRAM_CALLS columns, flagged globally.

    1. HTML rows (chat_id 'name:<chat>') join the JSON chat of the same name when exactly one exists,
       so one chat exported in both formats counts once.
    2. One row per (chat_id, message_id, chain, address): the later export (in export_id order) wins.
    3. Pair calls take their pair lookup's answer (`apply_pair_tokens`, when `pair_tokens` is given), before
       the flags: a resolved pair is a call of its token.
    4. Callers known only by name (HTML: caller_id 'name:<sender>') take the id of the one JSON sender with
       that name, when exactly one exists, so a person is one caller across formats.
    5. first_call / first_call_ts / repeat across every chat.
    """
    if staged.is_empty():
        return pl.from_arrow(TELEGRAM_CALLS.empty())
    df = staged.with_row_index("_order").sort(["export_id", "_order"])
    real = (df.filter(~pl.col("chat_id").str.starts_with("name:") & pl.col("chat_name").is_not_null())
            .group_by("chat_name").agg(pl.col("chat_id").unique().alias("ids"))
            .filter(pl.col("ids").list.len() == 1)
            .select(pl.concat_str([pl.lit("name:"), pl.col("chat_name")]).alias("chat_id"),
                    pl.col("ids").list.first().alias("_real_id")))
    if real.height:
        df = (df.join(real, on="chat_id", how="left", maintain_order="left")
              .with_columns(pl.coalesce("_real_id", "chat_id").alias("chat_id")).drop("_real_id"))
    df = df.unique(subset=KEY, keep="last", maintain_order=True)
    df = apply_pair_tokens(df, pair_tokens)
    df = _unify_callers(df)
    out = flag_calls(df.drop("export_id", "_order"))
    return pl.from_arrow(TELEGRAM_CALLS.conform(out.to_arrow()))
