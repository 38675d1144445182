"""Messages in, call rows out; and the global flags over all exports (`finalize_calls`).

Both parsers (JSON, HTML) feed normalized messages to `CallBuilder`. A person's message naming tokens
becomes one row per distinct token; a bot's card is kept by the message it replies to and merged at the
end, so a card may come before or after its call (even in another HTML file). Flags and dedupe follow
docs/semantics.md#calls.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa

from quantbot_pipelines.schemas import TELEGRAM_CALLS, TELEGRAM_QUARANTINE
from quantbot_pipelines.telegram.cards import BUILTIN_BOTS, Card, bot_kind, parse_card
from quantbot_pipelines.telegram.extract import Token, extract_tokens

TEXT_CHARS = 1000
RAW_BYTES = 64 * 1024
CALL_COLS = TELEGRAM_CALLS.columns
KEY = ["chat_id", "message_id", "chain", "address"]
_NO_CARD = (None,) * 8
_ROW_COLS = ("chat_id", "chat_name", "chat_type", "message_id", "call_ts", "caller_id", "caller_name", "chain",
             "address", "address_raw", "resolved_by", "pair_address", "card_bot", "card_name", "card_ticker",
             "card_price_usd", "card_mcap_usd", "card_liquidity_usd", "card_age_s", "edited", "edited_ts",
             "forwarded_from", "text", "source_file", "source_format")


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


def local_to_epoch(naive: dt.datetime, tz: ZoneInfo) -> int:
    return int(naive.replace(tzinfo=tz).timestamp())


class CallBuilder:
    """Collects call candidates and cards of one export; `result()` builds the tables."""

    def __init__(self, *, export_id: str, source_format: str, bot_names=()):
        self.export_id = export_id
        self.source_format = source_format
        self.extra_bots = frozenset(str(b).strip().lower() for b in bot_names) - BUILTIN_BOTS
        self._bot_cache: dict = {}
        self.sender_bots: dict = {}  # (from, from_id, via_bot) -> bot kind or None (JSON parser)
        self.pending: list[tuple] = []   # (chat, mid, ts, caller_id, caller_name, tokens, meta...)
        self.cards: dict[tuple[str, int], list[Card]] = {}
        self.quarantine: list[dict] = []
        self.stats = {"messages": 0, "service": 0, "calls": 0, "quarantined": 0, "chats": 0, "cards": 0,
                      "orphan_cards": 0, "bytes": 0, "seconds": 0.0, "by_reason": {}}

    # -- input ---------------------------------------------------------------------------------------
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
        self.pending.append((chat, mid, ts, caller_id, caller_name, tokens, edited, edited_ts, forwarded_from,
                             text[:TEXT_CHARS], source_file))

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
        used_cards: set[tuple[str, int]] = set()
        fmt = self.source_format
        all_cards = self.cards
        for (chat, mid, ts, caller_id, caller_name, tokens, edited, edited_ts, fwd, text, src) in self.pending:
            head = (chat.chat_id, chat.name, chat.type, mid, ts, caller_id, caller_name)
            tail = (bool(edited), edited_ts, fwd, text, src, fmt)
            msg_key = (chat.chat_id, mid)
            cards = all_cards.get(msg_key) if all_cards else None
            if len(tokens) == 1:  # the common calls, done without the general loop below (same rows)
                tok = tokens[0]
                if not cards:
                    add(head + (tok.chain, tok.address, tok.address_raw, tok.source) + _NO_CARD + tail)
                    continue
                card = cards[0]
                if len(cards) == 1 and card.mint == tok.address:
                    used_cards.add(msg_key)
                    add(head + (card.chain or tok.chain, card.mint, tok.address_raw, "card",
                                card.pair or None, card.bot) + card[4:] + tail)
                    continue
            if cards:
                used_cards.add(msg_key)
            seen: set[tuple[str, str]] = set()
            for tok in tokens:
                card = None
                if cards:
                    addr = tok.address
                    for c in cards:  # the card naming this token as its mint, else as its pool
                        if c.mint == addr:
                            card = c
                            break
                    else:
                        for c in cards:
                            if c.pair is not None and c.pair == addr:
                                card = c
                                break
                if card is not None:
                    # the card's chain wins; an EVM card without one keeps what the link/text said
                    address = card.mint
                    key = (card.chain or tok.chain, address)
                    pair = card.pair if card.pair else (tok.address if tok.address != address else None)
                    raw = tok.address_raw if tok.address == address else address
                    row = key + (raw, "card", pair, card.bot) + card[4:]  # name ... age_s
                else:
                    key = (tok.chain, tok.address)
                    row = key + (tok.address_raw, tok.source) + _NO_CARD
                if key in seen:
                    continue
                seen.add(key)
                add(head + row + tail)
        self.stats["orphan_cards"] = sum(len(v) for k, v in self.cards.items() if k not in used_cards)
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
             pl.Float64 if name.endswith("_usd") else pl.Boolean if name == "edited" else pl.String
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


def finalize_calls(staged: pl.DataFrame) -> pl.DataFrame:
    """All staged rows of all exports (export_id + calls columns) -> TELEGRAM_CALLS columns, flagged globally.

    1. HTML rows (chat_id 'name:<chat>') join the JSON chat of the same name when exactly one exists,
       so one chat exported in both formats counts once.
    2. One row per (chat_id, message_id, chain, address): the later export (in export_id order) wins.
    3. Callers known only by name (HTML: caller_id 'name:<sender>') take the id of the one JSON sender with
       that name, when exactly one exists, so a person is one caller across formats.
    4. first_call / first_call_ts / repeat across every chat.
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
    df = _unify_callers(df)
    out = flag_calls(df.drop("export_id", "_order"))
    return pl.from_arrow(TELEGRAM_CALLS.conform(out.to_arrow()))
