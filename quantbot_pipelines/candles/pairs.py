"""Pair (pool) addresses to tokens: which token a dexscreener or photon link names (docs/semantics.md#calls).

A pair is one pool of a token, never the token: its candles must not be asked for as if it were one. A
`PairResolver` answers pair look-ups, with the same source swapping as the candle sources: `OfflinePairs`
(the default: asks nothing, every pair stays `unresolved`), `DexScreenerPairs` and `GeckoTerminalPairs`
(contracts: docs/formats.md#candle-apis). Requests are paced per resolver (`ratelimit.Pacer`) and 429, 5xx,
timeouts and malformed answers are retried by the candle clients' own loop (`http.Retrying`: a total deadline
per attempt, a budget per look-up, Retry-After in every form, long waits logged at WARNING).

`resolve_pairs` asks each pair once ever: answers (found or not found) become `PAIR_TOKENS` rows the moment
they arrive (`on_answer`, e.g. `PairTokenStore.add`); errors are not answers and are asked again next run.
`apply_pair_tokens` (telegram/calls.py, run by `finalize_calls`) then re-keys the calls of resolved pairs.
"""

from __future__ import annotations

import abc
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import httpx
import orjson
import polars as pl
import pyarrow as pa

from quantbot_pipelines.candles.geckoterminal import NETWORKS as GECKO_NETWORKS
from quantbot_pipelines.candles.http import (
    Again,
    Attempt,
    AttemptFailed,
    Done,
    GaveUp,
    Retrying,
    RetryPolicy,
    get_sync,
)
from quantbot_pipelines.candles.ratelimit import Pacer
from quantbot_pipelines.schemas import PAIR_TOKENS
from quantbot_pipelines.telegram.extract import normalize

if TYPE_CHECKING:
    from quantbot_pipelines.warehouse import Warehouse

log = logging.getLogger(__name__)

PAIR_KEY = ["chain", "pair_address"]
PACE_MARGIN = 0.97  # under the published rate: late timer wake-ups bunch requests into the provider's window

# our chain -> DexScreener chainId (the same names where both have the chain)
DEXSCREENER_CHAINS = {c: c for c in ("solana", "ethereum", "bsc", "base", "arbitrum", "polygon", "avalanche",
                                     "optimism", "blast", "linea", "sonic")}

# the other side of most pools: when a pool's base token is one of these and its quote is not, the call is
# about the quote (a pool listed the other way round must not turn a call into a call of SOL or USDC)
QUOTE_TOKENS = {
    "solana": {"So11111111111111111111111111111111111111112", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
               "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"},
    "ethereum": {"0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
                 "0xdac17f958d2ee523a2206206994597c13d831ec7"},
    "bsc": {"0xbb4cdb9cbd36b01bd1cbaebf2de08d9173bc095c", "0x55d398326f99059ff775485246999027b3197955",
            "0xe9e7cea3dedca5984780bafc599bd69add087d56", "0x8ac76a51cc950d9822d68b83fe1ad97b32cd580d"},
    "base": {"0x4200000000000000000000000000000000000006", "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"},
}


class PairStatus(StrEnum):
    RESOLVED = "resolved"      # the pair's token is known
    NOT_FOUND = "not_found"    # the resolver answered: it does not know the pair
    UNRESOLVED = "unresolved"  # not asked (offline resolver, or a chain the resolver does not serve)
    ERROR = "error"            # no usable answer (retries exhausted, refused): asked again next run


ANSWERS = (PairStatus.RESOLVED, PairStatus.NOT_FOUND)  # what is cached: asking again would say the same


@dataclass(frozen=True)
class PairAnswer:
    chain: str
    pair_address: str
    status: PairStatus
    token_address: str | None = None
    detail: str | None = None
    requests: int = 0


class PairResolver(abc.ABC):
    name: str = "pairs"

    def network(self, chain: str) -> str | None:
        """The provider's name for our chain, or None when it does not serve it (then not asked)."""
        return None

    @abc.abstractmethod
    def resolve_many(self, pairs: list[tuple[str, str]],
                     on_answer: Callable[[PairAnswer], None] | None = None) -> list[PairAnswer]:
        """One answer per (chain, pair_address), in the order asked; `on_answer` sees each as it arrives."""

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class OfflinePairs(PairResolver):
    """Resolves nothing and makes no request: pairs stay `unresolved` (and their calls get no candles)."""

    name = "offline"

    def resolve_many(self, pairs, on_answer=None):
        out = [PairAnswer(c, p, PairStatus.UNRESOLVED, detail="offline: pairs are not looked up") for c, p in pairs]
        for a in out:
            if on_answer:
                on_answer(a)
        return out


class _Malformed(Exception):
    pass


def _token(chain: str, raw) -> str:
    """A token address of the answer, normalized as calls are; anything else is a malformed answer."""
    norm = normalize(raw) if isinstance(raw, str) else None
    if norm is None or (norm[0] == "sol") != (chain == "solana"):
        raise _Malformed(f"not a {chain} token address: {str(raw)[:60]!r}")
    return norm[1]


def _pick(chain: str, base: str, quote: str | None) -> str:
    quotes = QUOTE_TOKENS.get(chain, ())
    return quote if base in quotes and quote is not None and quote not in quotes else base


class _HttpPairs(PairResolver):
    """One GET per pair, paced and retried; subclasses give the path and read the answer."""

    def __init__(self, *, base_url: str, requests_per_minute: float, timeout_s: float = 15.0,
                 max_attempts: int = 5, backoff_base_s: float = 1.0, backoff_max_s: float = 60.0,
                 attempt_timeout_s: float = 30.0, request_budget_s: float = 180.0,
                 retry_after_cap_s: float = 120.0, warn_wait_s: float = 5.0, log: logging.Logger | None = None):
        if requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be > 0")
        self.base_url = base_url.rstrip("/")
        self.requests_per_minute = requests_per_minute
        self.timeout_s = timeout_s                  # one connect or read
        # one attempt is cut at attempt_timeout_s (whole body included); request_budget_s bounds all attempts
        # and waits of one pair
        self.retry_policy = RetryPolicy(
            max_attempts=max_attempts, backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s,
            attempt_timeout_s=attempt_timeout_s, request_budget_s=request_budget_s,
            retry_after_cap_s=retry_after_cap_s, warn_wait_s=warn_wait_s)
        self.log = log or globals()["log"]
        self._pacer = Pacer(requests_per_minute * PACE_MARGIN / 60.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, requests_per_minute={self.requests_per_minute})"

    @abc.abstractmethod
    def _path(self, network: str, pair: str) -> str: ...

    @abc.abstractmethod
    def _read(self, doc, chain: str, network: str, pair: str) -> str | None:
        """The token of a 200 answer, None when it says the pair is unknown; raises _Malformed."""

    def resolve_many(self, pairs, on_answer=None):
        out = []
        with httpx.Client(base_url=self.base_url, timeout=self.timeout_s,
                          headers={"accept": "application/json"}) as client:
            for chain, pair in pairs:
                ans = self._resolve(client, chain, pair)
                if on_answer:
                    on_answer(ans)
                out.append(ans)
        return out

    def _resolve(self, client: httpx.Client, chain: str, pair: str) -> PairAnswer:
        network = self.network(chain)
        if network is None:
            return PairAnswer(chain, pair, PairStatus.UNRESOLVED, detail=f"chain {chain!r} not served by {self.name}")
        path = self._path(network, pair)
        sent = [0]

        def attempt(a: Attempt) -> Done | Again:
            self._pacer.acquire(a.waiting)
            sent[0] += 1
            try:
                reply = get_sync(client, path, deadline_s=a.deadline_s, io_timeout_s=self.timeout_s)
            except AttemptFailed as e:
                return Again(str(e))
            status = reply.status
            if status == 200:
                try:
                    token = self._read(orjson.loads(reply.body), chain, network, pair)
                except (orjson.JSONDecodeError, _Malformed, AttributeError, TypeError) as e:
                    return Again(f"malformed answer ({e})"[:200])
                if token is None:
                    return Done(PairAnswer(chain, pair, PairStatus.NOT_FOUND, detail="no pairs", requests=sent[0]))
                return Done(PairAnswer(chain, pair, PairStatus.RESOLVED, token, requests=sent[0]))
            if status == 404:
                return Done(PairAnswer(chain, pair, PairStatus.NOT_FOUND, detail="HTTP 404", requests=sent[0]))
            if status == 429 or status >= 500:
                return Again(f"HTTP {status}", retry_after=reply.headers.get("retry-after"), hold=self._pacer.hold)
            # 400, 401, 403, 422: asking again in this run will not help; not an answer either
            return Done(PairAnswer(chain, pair, PairStatus.ERROR, detail=f"HTTP {status}", requests=sent[0]))

        out = Retrying(self.retry_policy, self.log).run_sync(f"{self.name} {chain} {pair}", attempt)
        if isinstance(out, GaveUp):
            return PairAnswer(chain, pair, PairStatus.ERROR, detail=out.detail, requests=sent[0])
        return out.value


def _same(a, pair: str) -> bool:
    return isinstance(a, str) and (a == pair or (pair.startswith("0x") and a.lower() == pair))


class DexScreenerPairs(_HttpPairs):
    """`GET /latest/dex/pairs/{chainId}/{pairId}` -> `pairs[0].baseToken.address`; `pairs` null or empty: not
    found. About 300 requests per minute."""

    name = "dexscreener"

    def __init__(self, *, base_url: str = "https://api.dexscreener.com", requests_per_minute: float = 300.0, **kw):
        super().__init__(base_url=base_url, requests_per_minute=requests_per_minute, **kw)

    def network(self, chain: str) -> str | None:
        return DEXSCREENER_CHAINS.get((chain or "").lower())

    def _path(self, network: str, pair: str) -> str:
        return f"/latest/dex/pairs/{network}/{pair}"

    def _read(self, doc, chain, network, pair):
        if not isinstance(doc, dict) or "pairs" not in doc:
            raise _Malformed("no 'pairs' in the answer")
        pairs = doc["pairs"]
        if not pairs:
            return None
        if not isinstance(pairs, list):
            raise _Malformed("'pairs' is not a list")
        # the entry of the pair asked (the documented answer has just that one)
        entry = next((p for p in pairs if isinstance(p, dict) and _same(p.get("pairAddress"), pair)), pairs[0])
        if not isinstance(entry, dict):
            raise _Malformed("a pair is not an object")
        base = _token(chain, (entry.get("baseToken") or {}).get("address"))
        quote = (entry.get("quoteToken") or {}).get("address")
        try:
            quote = _token(chain, quote) if quote else None
        except _Malformed:
            quote = None
        return _pick(chain, base, quote)


class GeckoTerminalPairs(_HttpPairs):
    """`GET /api/v2/networks/{network}/pools/{address}` -> `data.relationships.base_token.data.id`, spelled
    `<network>_<address>`; 404: not found. About 30 requests per minute (shared with the candle client)."""

    name = "geckoterminal"

    def __init__(self, *, base_url: str = "https://api.geckoterminal.com", requests_per_minute: float = 30.0, **kw):
        super().__init__(base_url=base_url, requests_per_minute=requests_per_minute, **kw)

    def network(self, chain: str) -> str | None:
        return GECKO_NETWORKS.get((chain or "").lower())

    def _path(self, network: str, pair: str) -> str:
        return f"/api/v2/networks/{network}/pools/{pair}"

    def _read(self, doc, chain, network, pair):
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
            raise _Malformed("no 'data' object in the answer")
        rel = doc["data"].get("relationships") or {}

        def side(name: str) -> str | None:
            tid = ((rel.get(name) or {}).get("data") or {}).get("id")
            if not isinstance(tid, str) or not tid.startswith(network + "_"):
                return None
            return tid[len(network) + 1:]

        base = side("base_token")
        if base is None:
            raise _Malformed("no base_token id '<network>_<address>'")
        base = _token(chain, base)
        try:
            quote = side("quote_token")
            quote = _token(chain, quote) if quote else None
        except _Malformed:
            quote = None
        return _pick(chain, base, quote)


# -- asking once ever ---------------------------------------------------------------------------------

RESOLVED_SCHEMA = {"chain": pl.String, "pair_address": pl.String, "token_address": pl.String, "status": pl.String,
                   "source": pl.String, "detail": pl.String, "cached": pl.Boolean, "requests": pl.Int64}


def pairs_to_resolve(calls: pl.DataFrame) -> pl.DataFrame:
    """(chain, pair_address) of the calls whose address is a pair no card or lookup has resolved yet."""
    if calls.is_empty() or "address_kind" not in calls.columns:
        return pl.DataFrame(schema={"chain": pl.String, "pair_address": pl.String})
    status = pl.col("pair_status") if "pair_status" in calls.columns else pl.lit(None, pl.String)
    return (calls.filter((pl.col("address_kind") == "pair") & (status.is_null() | (status != "resolved")))
            .select("chain", pl.col("address").alias("pair_address")).unique(maintain_order=True))


def _cache_rows(rows: list[dict]) -> pl.DataFrame:
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=PAIR_TOKENS.schema)) if rows else \
        pl.from_arrow(PAIR_TOKENS.empty())


def _known(cache: pl.DataFrame | None) -> pl.DataFrame:
    """The cached answers, one per pair (the earliest, should two runs have asked at once)."""
    if cache is None or cache.is_empty():
        return pl.DataFrame(schema={k: RESOLVED_SCHEMA[k] for k in
                                    ("chain", "pair_address", "token_address", "status", "source", "detail")})
    c = cache.filter(pl.col("status").is_in([str(s) for s in ANSWERS]))
    if "asked_at" in c.columns:
        c = c.sort("asked_at", nulls_last=True)
    return (c.unique(subset=PAIR_KEY, keep="first", maintain_order=True)
            .select("chain", "pair_address", "token_address", "status", "source", "detail"))


def resolve_pairs(pairs: pl.DataFrame, resolver: PairResolver, cache: pl.DataFrame | None, *,
                  on_answer: Callable[[pl.DataFrame], None] | None = None,
                  now: int | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each (chain, pair_address) of `pairs` -> its token, asking the resolver only for pairs `cache` (PAIR_TOKENS
    rows) holds no answer for. Returns `(resolved, new_rows)`:

    - `resolved`: one row per distinct pair: chain, pair_address, token_address, status (resolved, not_found,
      unresolved, error), source, detail, cached (answered from the cache), requests;
    - `new_rows`: the PAIR_TOKENS rows of the answers that came now (found or not found; never errors or
      unresolved pairs), each also handed to `on_answer` (one row frame) the moment it arrives.

    `now` (epoch s) fixes `asked_at` (tests); by default each answer is stamped when it arrives.
    """
    if pairs.is_empty():
        return pl.DataFrame(schema=RESOLVED_SCHEMA), _cache_rows([])
    wanted = pairs.select("chain", "pair_address").drop_nulls().unique(maintain_order=True)
    known = _known(cache)
    hits = wanted.join(known, on=PAIR_KEY, how="inner", maintain_order="left").with_columns(
        pl.lit(True).alias("cached"), pl.lit(0, pl.Int64).alias("requests"))
    ask = wanted.join(known, on=PAIR_KEY, how="anti", maintain_order="left").rows()
    new_rows: list[dict] = []

    def arrived(a: PairAnswer) -> None:
        if a.status not in ANSWERS:
            return
        at = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC)
        row = {"asked_day": at.date(), "chain": a.chain, "pair_address": a.pair_address,
               "token_address": a.token_address, "status": str(a.status), "source": resolver.name,
               "asked_at": at, "detail": a.detail}
        new_rows.append(row)
        if on_answer is not None:
            on_answer(_cache_rows([row]))

    answers = resolver.resolve_many(ask, on_answer=arrived) if ask else []
    fresh = pl.DataFrame([(a.chain, a.pair_address, a.token_address, str(a.status), resolver.name, a.detail, False,
                           a.requests) for a in answers], schema=RESOLVED_SCHEMA, orient="row")
    resolved = pl.concat([hits.select(list(RESOLVED_SCHEMA)).cast(RESOLVED_SCHEMA), fresh])
    order = wanted.with_row_index("_i")
    resolved = resolved.join(order, on=PAIR_KEY, how="left").sort("_i").drop("_i")
    return resolved, _cache_rows(new_rows)


def days_changed_by(calls: pl.DataFrame, new_rows: pl.DataFrame) -> list[dt.date]:
    """UTC call days whose telegram_calls rows new answers change: the days of the pairs' calls, and the days of
    the other calls of a token a pair resolved to (their first_call and repeat may move)."""
    if calls.is_empty() or new_rows.is_empty():
        return []
    pairs = new_rows.select("chain", pl.col("pair_address").alias("address"))
    tokens = new_rows.filter(pl.col("status") == str(PairStatus.RESOLVED)).select(
        "chain", pl.col("token_address").alias("address"))
    hit = pl.concat([pairs, tokens]).unique()
    days = calls.select("chain", "address", pl.col("call_ts").dt.date().alias("_d")).join(hit, on=["chain", "address"])
    return sorted(days.get_column("_d").unique().to_list())


class PairTokenStore:
    """PAIR_TOKENS in a warehouse: `read()` once, then `add(rows)` as answers arrive (the `on_answer` of
    `resolve_pairs`). Rows go to the partition of their answer day, merged with what it holds: history is
    never rewritten, and a crash loses at most the answer in flight."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse

    def read(self) -> pl.DataFrame:
        return self.warehouse.read(PAIR_TOKENS)

    def add(self, rows: pl.DataFrame) -> None:
        for day in rows.get_column("asked_day").unique().sort().to_list():
            part = rows.filter(pl.col("asked_day") == day)
            held = self.warehouse.read(PAIR_TOKENS, where=[("asked_day", "=", day)])
            merged = pl.concat([held.select(PAIR_TOKENS.columns), part.select(PAIR_TOKENS.columns)],
                               how="vertical_relaxed").unique(subset=PAIR_KEY, keep="first", maintain_order=True)
            self.warehouse.write_partition(PAIR_TOKENS, {"asked_day": day}, merged)


__all__ = ["ANSWERS", "DexScreenerPairs", "GeckoTerminalPairs", "OfflinePairs", "PairAnswer", "PairResolver",
           "PairStatus", "PairTokenStore", "days_changed_by", "pairs_to_resolve", "resolve_pairs"]
