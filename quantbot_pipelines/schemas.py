"""Table schemas: the one place every stage, warehouse and doc takes its columns from.

Each table is a `TableSpec`: an Arrow schema, the columns that form a warehouse partition, and the
natural key (unique per row). Meanings of the figures: docs/semantics.md.
`docs/schemas.md` is generated from this module (`python -m quantbot_pipelines.schemas`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("s", tz="UTC")


def _f(name: str, type_: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


def _optional(field: pa.Field, when_null: str) -> pa.Field:
    """`field` of another table, nullable, its doc saying when it is null."""
    doc = (field.metadata or {}).get(b"doc", b"").decode()
    return _f(field.name, field.type, f"{doc}; {when_null}" if doc else when_null)


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...]
    key: tuple[str, ...]
    doc: str
    # a table whose rows live minutes (one small partition per answer, written as it arrives): a file
    # store writes it for speed (lz4, no statistics) rather than size
    transient: bool = False

    @property
    def columns(self) -> list[str]:
        return self.schema.names

    def empty(self) -> pa.Table:
        return self.schema.empty_table()

    def conform(self, table: pa.Table) -> pa.Table:
        """Order and cast columns to the schema; missing nullable columns become nulls."""
        cols = []
        for field in self.schema:
            if field.name in table.column_names:
                cols.append(table.column(field.name).cast(field.type))
            elif field.nullable:
                cols.append(pa.nulls(table.num_rows, field.type))
            else:
                raise ValueError(f"{self.name}: required column {field.name!r} is missing")
        return pa.Table.from_arrays(cols, schema=self.schema)


TELEGRAM_CALLS = TableSpec(
    name="telegram_calls",
    doc="One row per call: a message by a person naming a token (one row per distinct token it names).",
    partition_by=("day",),
    key=("chat_id", "message_id", "chain", "address"),
    schema=pa.schema([
        _f("day", pa.date32(), "UTC day of the call (partition)", False),
        _f("chat_id", pa.string(), "export chat id; HTML exports without id use 'name:<chat name>'", False),
        _f("chat_name", pa.string(), "chat title"),
        _f("chat_type", pa.string(), "public_supergroup, private_channel, ... (null in HTML)"),
        _f("message_id", pa.int64(), "message id within the chat", False),
        _f("call_ts", TS, "message time, UTC", False),
        _f("caller_id", pa.string(), "sender id (user123, channel123) or 'name:<sender>' when only a name is known"),
        _f("caller_name", pa.string(), "sender display name"),
        _f("chain", pa.string(), "solana, ethereum, bsc, base, ... or unknown (never guessed)", False),
        _f("address", pa.string(), "token address: Solana case kept, EVM lower-cased", False),
        _f("address_raw", pa.string(), "address as spelled in the message"),
        _f("resolved_by", pa.string(),
           "card, text, link or pair_lookup: where the token came from (docs/semantics.md#calls)"),
        _f("pair_address", pa.string(), "pool address when a card, a link or a pair lookup gave one"),
        _f("address_kind", pa.string(),
           "mint (a card, a token link or a pair lookup named the token), pair (a pool address nobody resolved: "
           "never sent to a candle source) or unknown (an address in the text, taken as the token)"),
        _f("pair_status", pa.string(),
           "for pair addresses: resolved (by a pair lookup), unresolved (not asked), not_found or error; "
           "null otherwise"),
        _f("card_bot", pa.string(), "bot whose card resolved the token (Rick, Phanes)"),
        _f("card_name", pa.string(), "token name on the card"),
        _f("card_ticker", pa.string(), "ticker on the card"),
        _f("card_price_usd", pa.float64(), "price on the card, USD"),
        _f("card_mcap_usd", pa.float64(), "market cap (or FDV) on the card, USD"),
        _f("card_liquidity_usd", pa.float64(), "liquidity on the card, USD"),
        _f("card_age_s", pa.int64(), "token age on the card, seconds"),
        _f("card_dex", pa.string(), "venue on the card (Raydium, PancakeSwap, Pump.fun, ...)"),
        _f("card_bonding_pct", pa.float64(),
           "pump.fun bonding-curve progress on the card, percent (docs/semantics.md#pool-liquidity)"),
        _f("first_call", pa.bool_(), "earliest call of this (chain, address) across all chats", False),
        _f("repeat", pa.bool_(), "a later call of the same token by the same caller", False),
        _f("first_call_ts", TS, "time of the token's first call across all chats"),
        _f("edited", pa.bool_(), "message was edited after posting (exports keep the last edit)", False),
        _f("edited_ts", TS, "time of the last edit"),
        _f("forwarded_from", pa.string(), "original author of a forwarded message"),
        _f("text", pa.string(), "message text (first 1,000 characters)"),
        _f("source_file", pa.string(), "export file or folder the row came from"),
        _f("source_format", pa.string(), "json or html"),
    ]),
)

TELEGRAM_STAGED_CALLS = TableSpec(
    name="telegram_staged_calls",
    doc="Call candidates of one parsed export, before de-duplication across exports and first/repeat flags.",
    partition_by=("export_id",),
    key=("export_id", "chat_id", "message_id", "chain", "address"),
    schema=pa.schema([_f("export_id", pa.string(), "fingerprint of the export file/folder (partition)", False)]
                     + list(TELEGRAM_CALLS.schema)),
)

TELEGRAM_QUARANTINE = TableSpec(
    name="telegram_quarantine",
    doc="Messages or files that could not be read, with a reason code and the raw text.",
    partition_by=("export_id",),
    key=("export_id", "seq"),
    schema=pa.schema([
        _f("export_id", pa.string(), "fingerprint of the export file/folder (partition)", False),
        _f("seq", pa.int64(), "order of the problem within the export", False),
        _f("source_file", pa.string(), "file the problem was found in", False),
        _f("chat_name", pa.string(), "chat, when known"),
        _f("message_id", pa.int64(), "message id, when known"),
        _f("message_ts", TS, "message time, when known"),
        _f("reason", pa.string(), "reason code, e.g. invalid_json, invalid_utf8, truncated, no_timezone", False),
        _f("detail", pa.string(), "human-readable explanation"),
        _f("raw", pa.string(), "raw text of the message (first 64 KiB)"),
        _f("raw_bytes", pa.int64(), "size of the raw message in bytes"),
    ]),
)

PAIR_TOKENS = TableSpec(
    name="pair_tokens",
    doc="Pair (pool) lookups: the token each pair address names, asked once ever. Answers only (found or not "
        "found); errors are not kept, so they are asked again.",
    # by the day of the answer: answers are written as they arrive, and a partition replace then rewrites only
    # the day's answers, never the history (which no later answer changes)
    partition_by=("asked_day",),
    key=("chain", "pair_address"),
    schema=pa.schema([
        _f("asked_day", pa.date32(), "UTC day of the answer (partition)", False),
        _f("chain", pa.string(), "chain of the pair, as the link named it", False),
        _f("pair_address", pa.string(), "pair (pool) address: Solana case kept, EVM lower-cased", False),
        _f("token_address", pa.string(), "the pair's token (its base token unless that is SOL, ETH or a stable "
           "coin); null when not found"),
        _f("status", pa.string(), "resolved or not_found", False),
        _f("source", pa.string(), "who answered: dexscreener or geckoterminal", False),
        _f("asked_at", TS, "when the answer came", False),
        _f("detail", pa.string(), "why not found (e.g. HTTP 404, no pairs)"),
    ]),
)

RAW_CANDLES = TableSpec(
    name="raw_candles",
    doc="Candles around each call of the day: [call - pre_window, call + horizon], unique per key.",
    partition_by=("day",),
    key=("chain", "address", "interval", "open_ts"),
    schema=pa.schema([
        _f("day", pa.date32(), "UTC call day whose windows the candle serves (partition)", False),
        _f("chain", pa.string(), "chain of the token", False),
        _f("address", pa.string(), "token address", False),
        _f("interval", pa.string(), "candle interval: 1m, 5m, 15m, 1h, 4h, 1d, ...", False),
        _f("open_ts", TS, "open time; the candle covers [open_ts, open_ts + interval)", False),
        _f("open", pa.float64(), "open price, USD", False),
        _f("high", pa.float64(), "high price, USD", False),
        _f("low", pa.float64(), "low price, USD", False),
        _f("close", pa.float64(), "close price, USD", False),
        _f("volume_usd", pa.float64(), "traded volume, USD"),
        _f("source", pa.string(), "birdeye, geckoterminal, files, synthetic"),
        _f("volume_tokens", pa.float64(), "traded volume, tokens (UI amount; docs/semantics.md#candles)"),
    ]),
)

CANDLE_LEDGER = TableSpec(
    name="candle_ledger",
    doc="Coverage ledger: what was asked of a candle source and what came back. Never fetch what is here.",
    partition_by=("day",),
    key=("source", "chain", "address", "interval", "start_ts"),
    schema=pa.schema([
        _f("day", pa.date32(), "raw_candles partition that made the request (partition)", False),
        _f("source", pa.string(), "candle source name", False),
        _f("chain", pa.string(), "chain", False),
        _f("address", pa.string(), "token address", False),
        _f("interval", pa.string(), "candle interval", False),
        _f("start_ts", TS, "start of the window asked (inclusive)", False),
        _f("end_ts", TS, "end of the window asked (exclusive)", False),
        _f("status", pa.string(), "ok, no_trades, token_unknown, bad_request, invalid, error, skipped", False),
        _f("candles", pa.int64(), "candles returned (valid ones: those stored)"),
        _f("requests", pa.int64(), "HTTP requests spent"),
        _f("detail", pa.string(), "error or skip reason"),
        _f("fetched_at", TS, "when it was asked", False),
        _f("retry_after", TS, "for empty/unknown answers: when asking again may give more; for invalid ones: not "
           "asked again before"),
        _f("pool_address", pa.string(), "pool used by pool-keyed sources (GeckoTerminal)"),
        _f("invalid_candles", pa.int64(), "candles of the answer dropped as invalid (docs/semantics.md#valid-candles; "
           "counts by reason in detail); null when no answer came"),
        _f("pool_liquidity_usd", pa.float64(), "liquidity of the pool (both sides, USD) the source reported with the "
           "answer: today's, not the call's (docs/semantics.md#pool-liquidity); null when it gives none"),
    ]),
)

CANDLE_ANSWERS = TableSpec(
    name="candle_answers",
    doc="Answers of the candle source kept the moment they arrive, until the day they belong to is written to "
        "raw_candles and candle_ledger: one row per candle kept, and one row without candle for an answer that "
        "kept none. A run takes what is here as already paid for, so an answer is never asked for twice, "
        "whatever stopped the run that got it (a refused key, a crash, a kill).",
    partition_by=("answer_id",),
    key=("answer_id", "open_ts"),
    transient=True,
    # the ledger row of the answer and its candles, each column as defined in those two tables
    schema=pa.schema([
        _f("answer_id", pa.string(), "one answer: the window asked and what came back (partition)", False),
        _f("day", pa.date32(), "raw_candles partition the answer belongs to", False),
        *(CANDLE_LEDGER.schema.field(c) for c in CANDLE_LEDGER.columns if c != "day"),
        _f("credits", pa.int64(), "estimated provider credits spent on the answer"),
        _f("invalid_reasons", pa.string(), "JSON: reason -> candles dropped"),
        *(_optional(RAW_CANDLES.schema.field(c), "null on the row of an answer without candles")
          for c in ("open_ts", "open", "high", "low", "close", "volume_usd", "volume_tokens")),
    ]),
)

AGGREGATED_CANDLES = TableSpec(
    name="aggregated_candles",
    doc="Raw 1-minute candles rolled up to coarser intervals, buckets aligned to UTC epoch multiples.",
    partition_by=("day", "interval"),
    key=("chain", "address", "interval", "open_ts"),
    schema=RAW_CANDLES.schema,
)

INTRABAR_CANDLES = TableSpec(
    name="intrabar_candles",
    doc="Finer candles (15s, 1s, ...) of the minutes where a trade's stop and take-profit were both crossed, fetched "
        "once to settle them (docs/semantics.md#order-bounds).",
    partition_by=("day",),
    key=("chain", "address", "interval", "open_ts"),
    schema=RAW_CANDLES.schema,
)

INTRABAR_LEDGER = TableSpec(
    name="intrabar_ledger",
    doc="What was asked of the candle source for finer candles, and what came back: never fetched twice.",
    partition_by=("day",),
    key=("source", "chain", "address", "interval", "start_ts"),
    schema=CANDLE_LEDGER.schema,
)

INTRABAR_ANSWERS = TableSpec(
    name="intrabar_answers",
    doc="Answers for finer candles kept the moment they arrive, until their day's intrabar_candles and "
        "intrabar_ledger are written.",
    partition_by=("answer_id",),
    key=("answer_id", "open_ts"),
    transient=True,
    schema=CANDLE_ANSWERS.schema,
)

TOKEN_ANALYTICS = TableSpec(
    name="token_analytics",
    doc="One row per call: how far and how fast the token ran after entry (no costs).",
    partition_by=("day",),
    key=("chat_id", "message_id", "chain", "address"),
    schema=pa.schema([
        _f("day", pa.date32(), "UTC call day (partition)", False),
        _f("chat_id", pa.string(), "chat id", False),
        _f("message_id", pa.int64(), "message id", False),
        _f("caller_id", pa.string(), "caller id"),
        _f("caller_name", pa.string(), "caller name"),
        _f("chain", pa.string(), "chain", False),
        _f("address", pa.string(), "token address", False),
        _f("card_ticker", pa.string(), "ticker from the card"),
        _f("call_ts", TS, "call time", False),
        _f("first_call", pa.bool_(), "see telegram_calls"),
        _f("repeat", pa.bool_(), "see telegram_calls"),
        _f("status", pa.string(), "ok, no_entry, no_candles", False),
        _f("entry_ts", TS, "open time of the entry candle"),
        _f("entry_price", pa.float64(), "open of the entry candle"),
        _f("ath_multiple", pa.float64(), "max high in window / entry price"),
        _f("ath_ts", TS, "open time of the candle that made the ATH"),
        _f("time_to_ath_s", pa.int64(), "seconds from entry to the ATH candle"),
        _f("time_to_1_5x_s", pa.int64(), "seconds to the first candle with high >= 1.5x"),
        _f("time_to_2x_s", pa.int64(), "seconds to 2x"),
        _f("time_to_3x_s", pa.int64(), "seconds to 3x"),
        _f("time_to_5x_s", pa.int64(), "seconds to 5x"),
        _f("time_to_10x_s", pa.int64(), "seconds to 10x"),
        _f("min_multiple", pa.float64(), "min low in window / entry price"),
        _f("drawdown_before_2x", pa.float64(), "min low before the first 2x candle / entry - 1"),
        _f("end_multiple", pa.float64(), "last close in window / entry price"),
        _f("window_complete", pa.bool_(), "candles cover the whole window", False),
        _f("candles", pa.int64(), "candles in the window"),
        _f("call_price", pa.float64(),
           "price at the call: the card's, else the open of the 1m candle in progress, else the entry price "
           "(docs/semantics.md#caller-stats)"),
        _f("call_price_source", pa.string(), "card, candle or entry; null without a call price"),
        _f("x_from_call", pa.float64(), "max high in window / call price (can be below 1)"),
        _f("time_to_peak_s", pa.int64(), "seconds from the call to the ATH candle"),
        _f("low_from_call", pa.float64(),
           "min(call price, lows before the first candle with high >= 2x the call price) / call price; "
           "a rug at or below the board's rug level"),
    ]),
)

CALLER_LEADERBOARD = TableSpec(
    name="caller_leaderboard",
    doc="Callers ranked by a confidence-adjusted figure over their non-repeat calls.",
    partition_by=(),
    key=("caller_id",),
    schema=pa.schema([
        _f("rank", pa.int64(), "rank by score (1 = best); null below the minimum call count"),
        _f("caller_id", pa.string(), "caller id", False),
        _f("caller_name", pa.string(), "caller name"),
        _f("calls", pa.int64(), "non-repeat calls with status ok", False),
        _f("tokens", pa.int64(), "distinct tokens"),
        _f("hit_rate_2x", pa.float64(), "share of calls reaching 2x"),
        _f("hit_rate_5x", pa.float64(), "share reaching 5x"),
        _f("hit_rate_10x", pa.float64(), "share reaching 10x"),
        _f("median_ath_multiple", pa.float64(), "median ATH multiple"),
        _f("mean_ath_multiple", pa.float64(), "mean ATH multiple"),
        _f("median_time_to_2x_s", pa.float64(), "median seconds to 2x among calls that hit"),
        _f("median_drawdown_before_2x", pa.float64(), "median drawdown before 2x"),
        _f("score", pa.float64(), "confidence-adjusted score (see analytics/leaderboard.py)"),
    ]),
)

CALLER_BOARDS = TableSpec(
    name="caller_boards",
    doc="Caller stats from the call price (X, hit rates, rugs, points) beside our score, one board per time "
        "window and scope (all chats, or one chat), filtered by min calls and min median X "
        "(docs/semantics.md#caller-stats).",
    partition_by=(),
    key=("window", "scope", "caller_id"),
    schema=pa.schema([
        _f("window", pa.string(), "7d, 30d, 90d or all: trailing call days ending at the latest call day", False),
        _f("scope", pa.string(), "all (every chat together) or the chat id", False),
        _f("chat_id", pa.string(), "the chat of a chat's board; null on scope all"),
        _f("start_day", pa.date32(), "first call day of the window"),
        _f("end_day", pa.date32(), "last call day of the window (the latest call day)"),
        _f("rank", pa.int64(), "rank by score on this board (1 = best)"),
        _f("caller_id", pa.string(), "caller id", False),
        _f("caller_name", pa.string(), "caller name (the last used)"),
        _f("calls", pa.int64(), "counted calls: ok, non-repeat, with a call price", False),
        _f("tokens", pa.int64(), "distinct tokens"),
        _f("mean_x", pa.float64(), "mean X from the call"),
        _f("median_x", pa.float64(), "median X from the call"),
        _f("hit_rate_2x", pa.float64(), "share of calls with X from the call >= 2"),
        _f("hit_rate_5x", pa.float64(), "share with X from the call >= 5"),
        _f("hit_rate_10x", pa.float64(), "share with X from the call >= 10"),
        _f("rugs", pa.int64(), "calls that fell to the rug level before 2x from the call"),
        _f("rug_rate", pa.float64(), "rugs / calls"),
        _f("points", pa.float64(), "sum of the calls' points (points ladder)"),
        _f("points_per_call", pa.float64(), "points / calls"),
        _f("median_time_to_peak_s", pa.float64(), "median seconds from the call to the peak"),
        _f("score", pa.float64(), "the caller board's confidence-adjusted score over the same calls"),
    ]),
)

TOKEN_LEADERBOARD = TableSpec(
    name="token_leaderboard",
    doc="Tokens by how they ran after their first call.",
    partition_by=(),
    key=("chain", "address"),
    schema=pa.schema([
        _f("rank", pa.int64(), "rank by ATH multiple of the first call"),
        _f("chain", pa.string(), "chain", False),
        _f("address", pa.string(), "token address", False),
        _f("ticker", pa.string(), "ticker"),
        _f("calls", pa.int64(), "calls of the token", False),
        _f("callers", pa.int64(), "distinct callers"),
        _f("first_call_ts", TS, "time of the first call"),
        _f("first_caller_name", pa.string(), "who called it first"),
        _f("ath_multiple", pa.float64(), "ATH multiple from the first call's entry"),
        _f("time_to_2x_s", pa.int64(), "seconds to 2x from the first call's entry"),
        _f("min_multiple", pa.float64(), "min multiple from the first call's entry"),
        _f("end_multiple", pa.float64(), "end multiple from the first call's entry"),
    ]),
)

SIMULATION_RESULTS = TableSpec(
    name="simulation_results",
    doc="One simulated trade per (call, strategy).",
    partition_by=("day", "strategy_file"),
    key=("strategy", "chat_id", "message_id", "chain", "address"),
    schema=pa.schema([
        _f("day", pa.date32(), "UTC call day (partition)", False),
        _f("strategy_file", pa.string(), "strategy file stem in strategies/ (partition)", False),
        _f("strategy", pa.string(), "strategy name (a sweep file holds many)", False),
        _f("chat_id", pa.string(), "chat id", False),
        _f("message_id", pa.int64(), "message id", False),
        _f("caller_id", pa.string(), "caller id"),
        _f("caller_name", pa.string(), "caller name"),
        _f("chain", pa.string(), "chain", False),
        _f("address", pa.string(), "token address", False),
        _f("call_ts", TS, "call time", False),
        _f("repeat", pa.bool_(), "repeat call"),
        _f("entry_ts", TS, "entry candle open time"),
        _f("entry_price", pa.float64(), "entry candle open"),
        _f("exit_ts", TS, "time of the last fill"),
        _f("exit_reason", pa.string(),
           "take_profit, stop_loss, trailing_stop, break_even, time_exit, end_of_window, no_entry", False),
        _f("fills", pa.string(), "JSON list of [ts, price, fraction, reason]"),
        _f("net_multiple", pa.float64(), "proceeds after costs / cost of entry"),
        _f("net_return", pa.float64(), "net_multiple - 1"),
        _f("window_complete", pa.bool_(), "the call's candle window is complete"),
        _f("size_usd", pa.float64(), "buy notional, USD (null: unit size; docs/semantics.md#position-size)"),
        _f("impact", pa.string(), "none or xyk (docs/semantics.md#price-impact)"),
        _f("pool_usd", pa.float64(), "quote-side pool reserve at entry, USD (xyk only)"),
        _f("liquidity_source", pa.string(),
           "card, bonding_curve, candle_source, or none (xyk asked, no liquidity known: priced without impact)"),
        _f("entry_fill_share", pa.float64(), "share of size_usd bought (below 1 when the volume cap binds)"),
        _f("unfilled_share", pa.float64(), "share of the tokens bought still unsold when the window ends"),
        _f("cost_usd", pa.float64(), "cash paid: notional bought, fees and fixed costs (sized trades)"),
        _f("proceeds_usd", pa.float64(), "cash received from the sells after costs (sized trades)"),
        _f("impact_usd", pa.float64(), "price impact paid on buys and sells, USD (xyk only)"),
        _f("ambiguous_candles", pa.int64(), "candles where a stop and a take-profit level were both crossed "
           "and the open did not decide (docs/semantics.md#same-candle-ties)"),
        _f("ambiguous_ts", TS, "open time of the ambiguous candle"),
        _f("ambiguous_stop", pa.float64(), "the stop in force on the ambiguous candle (price)"),
        _f("ambiguous_level", pa.float64(), "the take-profit level the ambiguous candle reached (price)"),
        _f("net_multiple_low", pa.float64(), "net_multiple with every ambiguous candle settled stop first"),
        _f("net_multiple_high", pa.float64(), "net_multiple with every ambiguous candle settled take-profit first"),
        _f("settled_by", pa.string(), "how the ambiguous candle was settled: policy or finer_candles; null "
           "without one"),
    ]),
)

_ROLLUP_FIELDS = [
    _f("trades", pa.int64(), "trades (non-repeat calls with an entry)", False),
    _f("win_rate", pa.float64(), "share of trades with return > 0"),
    _f("mean_return", pa.float64(), "mean net return"),
    _f("median_return", pa.float64(), "median net return"),
    _f("profit_factor", pa.float64(), "sum of gains / sum of losses"),
    _f("worst_trade", pa.float64(), "lowest net return"),
    _f("best_trade", pa.float64(), "highest net return"),
    _f("exit_reason_shares", pa.string(), "JSON map exit reason -> share of trades"),
    _f("incomplete_trades", pa.int64(), "trades whose window is not complete yet"),
    _f("mean_return_low", pa.float64(), "mean net return with ambiguous candles settled stop first"),
    _f("mean_return_high", pa.float64(), "mean net return with ambiguous candles settled take-profit first"),
    _f("ambiguous_trades", pa.int64(), "trades with an ambiguous candle"),
]

STRATEGY_LEADERBOARD = TableSpec(
    name="strategy_leaderboard",
    doc="Exit strategies ranked over all simulated trades.",
    partition_by=(),
    key=("strategy",),
    schema=pa.schema([_f("rank", pa.int64(), "rank by mean return"),
                      _f("strategy", pa.string(), "strategy name", False)] + _ROLLUP_FIELDS + [
        _f("rank_low", pa.int64(), "rank by mean_return_low"),
        _f("rank_high", pa.int64(), "rank by mean_return_high"),
        _f("order_sensitive", pa.bool_(), "the rank changes with the assumed same-candle order"),
        _f("book_rank", pa.int64(), "rank by the book's return (docs/semantics.md#bankroll)"),
        _f("book_return", pa.float64(), "the book's final equity / bankroll - 1"),
        _f("book_max_drawdown", pa.float64(), "largest fall of the book's equity from a previous high"),
        _f("book_cagr", pa.float64(), "the book's compound annual growth rate"),
        _f("book_sharpe", pa.float64(), "annualised Sharpe ratio of the book's daily returns"),
        _f("book_sortino", pa.float64(), "annualised Sortino ratio of the book's daily returns"),
        _f("book_exposure", pa.float64(), "time-weighted share of equity held in positions"),
        _f("book_trades", pa.int64(), "calls the book took"),
        _f("book_skipped", pa.int64(), "calls the book skipped (no cash, too many open, already holding)"),
        # set on the best variant of a sweep file only (docs/semantics.md#overfitting-guards)
        _f("sweep_variants", pa.int64(), "variants in the strategy's sweep file (on its best variant's row)"),
        _f("sweep_days", pa.int64(), "call days of the sweep's daily return series"),
        _f("sweep_dsr", pa.float64(), "Deflated Sharpe Ratio of the sweep's best variant"),
        _f("sweep_pbo", pa.float64(), "Probability of Backtest Overfitting of the sweep (CSCV over day blocks)"),
        _f("sweep_verdict", pa.string(), "what the DSR and PBO mean for the sweep's best variant"),
    ]),
)

CALLER_STRATEGY_LEADERBOARD = TableSpec(
    name="caller_strategy_leaderboard",
    doc="Every caller under every strategy.",
    partition_by=(),
    key=("caller_id", "strategy"),
    schema=pa.schema([_f("rank", pa.int64(), "rank within the strategy"),
                      _f("strategy", pa.string(), "strategy name", False),
                      _f("caller_id", pa.string(), "caller id", False),
                      _f("caller_name", pa.string(), "caller name")] + _ROLLUP_FIELDS
                     + [_f("score", pa.float64(), "mean return - 1 x standard error; null below 5 trades")]),
)

PORTFOLIO_RESULTS = TableSpec(
    name="portfolio_results",
    doc="A bankroll following every call of a strategy file in time order: what it took, skipped and made.",
    partition_by=("strategy_file",),
    key=("strategy", "chat_id", "message_id", "chain", "address"),
    schema=pa.schema([
        _f("strategy_file", pa.string(), "strategy file stem in strategies/ (partition)", False),
        _f("strategy", pa.string(), "strategy name", False),
        _f("chat_id", pa.string(), "chat id", False),
        _f("message_id", pa.int64(), "message id", False),
        _f("chain", pa.string(), "chain", False),
        _f("address", pa.string(), "token address", False),
        _f("caller_id", pa.string(), "caller id"),
        _f("call_ts", TS, "call time", False),
        _f("entry_ts", TS, "entry time (null when skipped)"),
        _f("exit_ts", TS, "time of the last fill (null when skipped)"),
        _f("decision", pa.string(), "taken, repeat, no_entry, holding_token, max_open, no_cash (docs/semantics.md#bankroll)",
           False),
        _f("stake_usd", pa.float64(), "buy notional the book chose, USD"),
        _f("cost_usd", pa.float64(), "cash paid at entry: notional, fees and fixed costs"),
        _f("proceeds_usd", pa.float64(), "cash received from the sells"),
        _f("pnl_usd", pa.float64(), "proceeds_usd - cost_usd"),
        _f("equity_at_entry", pa.float64(), "the book's equity when the call came"),
        _f("open_positions", pa.int64(), "positions open when the call came"),
    ]),
)

PORTFOLIO_BOOKS = TableSpec(
    name="portfolio_books",
    doc="Each strategy's book over all its calls: equity, drawdown, growth, risk-adjusted return, skips.",
    partition_by=("strategy_file",),
    key=("strategy",),
    schema=pa.schema([
        _f("strategy_file", pa.string(), "strategy file stem in strategies/ (partition)", False),
        _f("strategy", pa.string(), "strategy name", False),
        _f("bankroll_usd", pa.float64(), "starting cash, USD", False),
        _f("sizing", pa.string(), "fixed or equity_share"),
        _f("final_equity_usd", pa.float64(), "cash and open positions at cost when the last call is done"),
        *(STRATEGY_LEADERBOARD.schema.field(c) for c in STRATEGY_LEADERBOARD.columns
          if c.startswith("book_") and c != "book_rank"),
        _f("skipped_no_cash", pa.int64(), "calls skipped: the cost at the stake was more than the cash"),
        _f("skipped_max_open", pa.int64(), "calls skipped: max_open positions were open"),
        _f("skipped_holding_token", pa.int64(), "calls skipped: max_per_token positions in the token were open"),
    ]),
)

PORTFOLIO_EQUITY = TableSpec(
    name="portfolio_equity",
    doc="Each strategy's book equity over time: the event-level curve, kept at the low and the high of each of "
        "1,000 time buckets (docs/semantics.md#book-equity-curve).",
    partition_by=("strategy_file",),
    key=("strategy", "ts"),
    schema=pa.schema([
        _f("strategy_file", pa.string(), "strategy file stem in strategies/ (partition)", False),
        _f("strategy", pa.string(), "strategy name", False),
        _f("ts", TS, "an instant with events (entries, sells)", False),
        _f("equity_usd", pa.float64(), "cash plus open positions at cost after every event of that instant", False),
    ]),
)

_FOLD_FIELDS = [
    _f("fold", pa.string(), "the fold's test window, first..last day (partition; docs/semantics.md#walk-forward)", False),
    _f("fold_index", pa.int64(), "0 for the first fold", False),
    _f("mode", pa.string(), "rolling or anchored train windows"),
    _f("train_start", pa.date32(), "first train day"),
    _f("train_end", pa.date32(), "last train day"),
    _f("test_start", pa.date32(), "first test day"),
    _f("test_end", pa.date32(), "last test day"),
    _f("test_days", pa.int64(), "test days that hold calls"),
    _f("policy", pa.string(), "top_callers (one strategy for the chosen callers) or per_caller", False),
]

_BASELINE_FIELDS = [
    _f("all_callers_trades", pa.int64(), "baseline: every caller's test trades under the top_callers strategy"),
    _f("all_callers_mean_return", pa.float64(), "baseline: their mean net return"),
    _f("hold_calls", pa.int64(), "baseline: the chosen callers' test calls held to the window's end"),
    _f("hold_mean_return", pa.float64(), "baseline: their mean return at the strategy's fee and slippage"),
    _f("random_p05", pa.float64(), "5th percentile of the mean return of random caller sets"),
    _f("random_median", pa.float64(), "median of the mean return of random caller sets"),
    _f("random_p95", pa.float64(), "95th percentile of the mean return of random caller sets"),
    _f("random_percentile", pa.float64(), "share of random caller sets whose mean is below the choice's"),
]

_PERSISTENCE_FIELDS = [
    _f("persistence_rho", pa.float64(), "rank correlation of caller scores, train vs test "
       "(docs/semantics.md#caller-persistence)"),
    _f("persistence_low", pa.float64(), "lower end of its 90% bootstrap interval"),
    _f("persistence_high", pa.float64(), "upper end of its 90% bootstrap interval"),
]

WALK_FORWARD = TableSpec(
    name="walk_forward",
    doc="Per fold and policy: what the boards chose on the train days and what it made on the test days.",
    partition_by=("fold",),
    key=("fold", "policy"),
    schema=pa.schema(_FOLD_FIELDS + [
        _f("candidates", pa.int64(), "callers ranked on the train days' caller board"),
        _f("callers", pa.string(), "JSON list of the chosen caller ids, best first"),
        _f("strategy", pa.string(), "the strategy (top_callers) or JSON caller -> strategy (per_caller)"),
        _f("is_trades", pa.int64(), "the choice's trades on the train days"),
        _f("is_mean_return", pa.float64(), "their mean net return: the figure it was chosen on"),
        _f("oos_trades", pa.int64(), "the choice's trades on the test days"),
        _f("oos_mean_return", pa.float64(), "their mean net return (out of sample)"),
        _f("oos_median_return", pa.float64(), "their median net return"),
        _f("oos_win_rate", pa.float64(), "their share with net return > 0"),
        _f("decay", pa.float64(), "is_mean_return - oos_mean_return"),
        _f("oos_book_return", pa.float64(), "top_callers: the strategy's book over the test trades"),
        _f("oos_book_max_drawdown", pa.float64(), "top_callers: that book's largest fall from a high"),
    ] + _BASELINE_FIELDS + [
        _f("random_draws", pa.int64(), "random caller sets drawn"),
        _f("random_sums", pa.string(), "JSON: each random set's sum of test net returns (for stitching)"),
        _f("random_counts", pa.string(), "JSON: each random set's count of test trades (for stitching)"),
    ] + _PERSISTENCE_FIELDS + [
        _f("persistence_callers", pa.int64(), "callers ranked on both the train and the test board"),
    ]),
)

WALK_FORWARD_TRADES = TableSpec(
    name="walk_forward_trades",
    doc="The trades each fold's choice made on its test days (simulation_results rows).",
    partition_by=("fold",),
    key=("fold", "policy", "chat_id", "message_id", "chain", "address"),
    schema=pa.schema([_FOLD_FIELDS[0], _FOLD_FIELDS[-1]] + [
        SIMULATION_RESULTS.schema.field(c) for c in (
            "day", "strategy_file", "strategy", "chat_id", "message_id", "chain", "address", "caller_id",
            "call_ts", "repeat", "entry_ts", "entry_price", "exit_ts", "exit_reason", "fills", "net_multiple",
            "net_return", "size_usd", "impact", "pool_usd", "liquidity_source", "window_complete")]),
)

WALK_FORWARD_SUMMARY = TableSpec(
    name="walk_forward_summary",
    doc="Every fold stitched together, per policy: out of sample against in sample and the baselines.",
    partition_by=(),
    key=("policy",),
    schema=pa.schema([
        _FOLD_FIELDS[-1],
        _f("folds", pa.int64(), "folds", False),
        _f("folds_with_choice", pa.int64(), "folds that chose callers"),
        _f("first_test_day", pa.date32(), "first test day of the first fold"),
        _f("last_test_day", pa.date32(), "last test day of the last fold"),
        _f("oos_trades", pa.int64(), "the choices' test trades, each day counted once"),
        _f("oos_mean_return", pa.float64(), "their mean net return (pooled)"),
        _f("oos_median_return", pa.float64(), "their median net return"),
        _f("oos_win_rate", pa.float64(), "their share with net return > 0"),
        _f("is_trades", pa.int64(), "the choices' train trades"),
        _f("is_mean_return", pa.float64(), "their mean net return (pooled)"),
        _f("decay", pa.float64(), "is_mean_return - oos_mean_return"),
    ] + _BASELINE_FIELDS + [
        _f("book_start_usd", pa.float64(), "top_callers: the book's starting cash"),
        _f("book_final_usd", pa.float64(), "top_callers: its equity after the last fold"),
        _f("book_return", pa.float64(), "top_callers: book_final_usd / book_start_usd - 1"),
        _f("book_max_drawdown", pa.float64(), "top_callers: largest fall of the stitched equity from a high"),
    ] + _PERSISTENCE_FIELDS + [
        _f("persistence_folds", pa.int64(), "folds with a persistence figure (rho is their mean)"),
        _f("verdict", pa.string(), "one sentence of what the figures say"),
    ]),
)

RUN_FAILURES = TableSpec(
    name="run_failures",
    doc="Failed Dagster runs, recorded by the run-failure sensor.",
    partition_by=("day",),
    key=("run_id",),
    schema=pa.schema([
        _f("day", pa.date32(), "UTC day of the failure (partition)", False),
        _f("run_id", pa.string(), "Dagster run id", False),
        _f("job_name", pa.string(), "job or asset selection"),
        _f("failed_at", TS, "when the failure was seen", False),
        _f("partition", pa.string(), "partition or range of the run"),
        _f("error", pa.string(), "first lines of the error"),
        _f("alerts", pa.string(), "JSON: alert target -> sent or error"),
    ]),
)

# what one strategy file's run brings up to date: its trades (and the finer candles fetched in the same step),
# the books and the strategy boards (the strategies sensor's runs, and the bot's /backtest)
STRATEGY_FILE_TABLES = (SIMULATION_RESULTS, INTRABAR_CANDLES, INTRABAR_LEDGER, INTRABAR_ANSWERS, PORTFOLIO_RESULTS,
                        PORTFOLIO_BOOKS, PORTFOLIO_EQUITY, STRATEGY_LEADERBOARD, CALLER_STRATEGY_LEADERBOARD)

ALL_TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (TELEGRAM_CALLS, TELEGRAM_STAGED_CALLS, TELEGRAM_QUARANTINE, PAIR_TOKENS, RAW_CANDLES, CANDLE_LEDGER,
              CANDLE_ANSWERS, AGGREGATED_CANDLES, INTRABAR_CANDLES, INTRABAR_LEDGER, INTRABAR_ANSWERS,
              TOKEN_ANALYTICS, CALLER_LEADERBOARD, CALLER_BOARDS, TOKEN_LEADERBOARD, SIMULATION_RESULTS,
              STRATEGY_LEADERBOARD, CALLER_STRATEGY_LEADERBOARD, PORTFOLIO_RESULTS, PORTFOLIO_BOOKS,
              PORTFOLIO_EQUITY, WALK_FORWARD, WALK_FORWARD_TRADES, WALK_FORWARD_SUMMARY, RUN_FAILURES)
}


def render_markdown() -> str:
    lines = ["# Table schemas", "", "Generated from `quantbot_pipelines/schemas.py`; do not edit by hand.", ""]
    for spec in ALL_TABLES.values():
        lines += [f"## `{spec.name}`", "", spec.doc, "",
                  f"Partitioned by: {', '.join(spec.partition_by) or '(none)'}; key: {', '.join(spec.key)}", "",
                  "| column | type | null | meaning |", "|---|---|---|---|"]
        for f in spec.schema:
            doc = (f.metadata or {}).get(b"doc", b"").decode()
            lines.append(f"| `{f.name}` | {f.type} | {'yes' if f.nullable else 'no'} | {doc} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown())
