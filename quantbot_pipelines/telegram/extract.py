"""Token addresses in message text and links.

Token identity (docs/semantics.md#calls): `(chain, address)`, Solana mints
byte-exact (base58 decoding to exactly 32 bytes), EVM addresses lower-cased with the spelling kept.
The chain is never guessed: Solana for base58 mints; for EVM it comes from a link, a text hint or a card,
else it is `unknown`. What a run in text must look like is the candidate rule of addresses.py: the regexes
below are built from it.

Every token carries the kind of address it is (`Token.kind`): what its link names (a mint for pump.fun,
solscan/birdeye/gmgn `token/`, bullx `address=`; a pair, i.e. a pool, for dexscreener, photon `lp/`,
dextools `pair-explorer/`, geckoterminal `pools/`, axiom `meme/`), `unknown` for an address written in the
text. A pair is not a token: it names one pool of a token, so it must be resolved (by a card or a pair lookup)
before anything is asked about it (docs/semantics.md#calls).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import unquote

from quantbot_pipelines.telegram.addresses import (
    B58_ALPHABET,
    EVM_CANDIDATE_PREFIXES,
    EVM_HEX_LEN,
    EVM_LEN,
    EVM_PATTERN,
    EVM_PREFIX,
    SOL_MAX_LEN,
    SOL_MIN_LEN,
    SOL_PATTERN,
)

_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}

SOL_RE = re.compile(SOL_PATTERN)
EVM_RE = re.compile(EVM_PATTERN)  # '0x' only: '0X' runs are candidates but never addresses
ZERO_EVM = EVM_PREFIX + "0" * EVM_HEX_LEN
ZERO_SOL = B58_ALPHABET[0] * SOL_MIN_LEN  # the system program: decodes to 32 zero bytes, never a token

LINK_HOSTS = ("dexscreener.com", "pump.fun", "birdeye.so", "solscan.io", "gmgn.ai", "photon-sol.tinyastro.io",
              "bullx.io", "dextools.io", "geckoterminal.com", "axiom.trade")
LINK_RE = re.compile(
    r"(?:https?://)?(?:www\.|neo\.)?(dexscreener\.com|pump\.fun|birdeye\.so|solscan\.io|gmgn\.ai"
    r"|photon-sol\.tinyastro\.io|bullx\.io|dextools\.io|geckoterminal\.com|axiom\.trade)(/[^\s<>\"'\)\]]*)",
    re.IGNORECASE)

# what an address is: what its link names (docs/semantics.md#calls, "what a link names")
MINT, PAIR, UNKNOWN = "mint", "pair", "unknown"

# chain names as written by links, bots and people -> our chain names
CHAIN_ALIASES = {
    "sol": "solana", "solana": "solana",
    "eth": "ethereum", "ethereum": "ethereum", "ether": "ethereum",
    "bsc": "bsc", "bnb": "bsc", "bnb chain": "bsc", "binance": "bsc",
    "base": "base",
    "arb": "arbitrum", "arbitrum": "arbitrum",
    "polygon": "polygon", "matic": "polygon", "pol": "polygon",
    "avax": "avalanche", "avalanche": "avalanche",
    "op": "optimism", "optimism": "optimism", "blast": "blast", "linea": "linea", "sonic": "sonic",
    "ton": "ton", "tron": "tron", "sui": "sui",
    "polygon_pos": "polygon",  # geckoterminal's network name
}
# bullx chainId -> chain
BULLX_CHAINS = {"1399811149": "solana", "1": "ethereum", "56": "bsc", "8453": "base", "42161": "arbitrum",
                "81457": "blast"}
# chain hints in a person's text: hashtags (#eth) and "on <chain>"; plain words like "base" are too common
_TEXT_CHAIN_RE = re.compile(
    r"(?i)(?:#|\$?\bon\s+)(eth|ethereum|bsc|bnb|base|arb|arbitrum|polygon|avax|avalanche|blast)\b"
    r"|\b(ethereum|arbitrum|BSC)\b")


def chain_name(word: str | None) -> str | None:
    if not word:
        return None
    return CHAIN_ALIASES.get(word.strip().lower())


@lru_cache(maxsize=1 << 16)
def is_solana_mint(s: str) -> bool:
    """True when `s` is base58 that decodes to exactly 32 bytes (and is not the all-zero key)."""
    if not SOL_MIN_LEN <= len(s) <= SOL_MAX_LEN or s == ZERO_SOL:
        return False
    n = 0
    for c in s:
        i = _B58_INDEX.get(c)
        if i is None:
            return False
        n = n * 58 + i
    leading = len(s) - len(s.lstrip("1"))
    return leading + (n.bit_length() + 7) // 8 == 32


def is_evm_address(s: str) -> bool:
    return (len(s) == EVM_LEN and s[:2] in EVM_CANDIDATE_PREFIXES and EVM_RE.fullmatch(s) is not None
            and s.lower() != ZERO_EVM)


class Token(NamedTuple):  # a NamedTuple: built per message, and far cheaper than a frozen dataclass
    chain: str            # solana, ethereum, ..., or unknown
    address: str          # normalized: Solana as is, EVM lower-cased
    address_raw: str      # as written
    source: str           # link or text
    kind: str = UNKNOWN   # mint, pair (a pool: dexscreener, photon lp, ...) or unknown (text, other links)

    @property
    def maybe_pair(self) -> bool:
        """From a link that names a pool rather than the token (what cards use to tell their pool link)."""
        return self.kind == PAIR


def normalize(raw: str) -> tuple[str, str] | None:
    """(kind, address) for a valid address, kind 'sol' or 'evm'; None otherwise."""
    if raw.startswith(EVM_CANDIDATE_PREFIXES):
        return ("evm", raw.lower()) if is_evm_address(raw) else None
    return ("sol", raw) if is_solana_mint(raw) else None


def _query(query: str, name: str) -> str:
    for kv in query.split("&"):
        k, _, v = kv.partition("=")
        if k == name:
            return unquote(v) if "%" in v else v
    return ""


@lru_cache(maxsize=1 << 16)
def _link_token(host: str, path: str) -> tuple[str, str | None, str] | None:
    """(raw address, chain or None, kind) named by a link, or None. Plain string ops: urllib is slow."""
    path, _, query = path.partition("?")
    query = query.partition("#")[0]
    segs = [unquote(x) if "%" in x else x for x in path.partition("#")[0].split("/") if x]
    host = host.lower()
    if host == "dexscreener.com":  # dexscreener.com/<chain>/<pair>: the page of one pool
        if len(segs) >= 2:
            return segs[1], chain_name(segs[0]) or segs[0].lower(), PAIR
        return None
    if host == "pump.fun":
        if segs and segs[0] == "coin" and len(segs) > 1:
            return segs[1], "solana", MINT
        return (segs[0], "solana", MINT) if segs else None
    if host == "birdeye.so":
        if len(segs) >= 2 and segs[0] == "token":
            return segs[1], chain_name(_query(query, "chain")), MINT
        return None
    if host == "solscan.io":
        if len(segs) >= 2 and segs[0] == "token":
            return segs[1], "solana", MINT
        return None
    if host == "gmgn.ai":
        if len(segs) >= 3 and segs[1] == "token":
            return segs[2], chain_name(segs[0]), MINT
        return None
    if host == "photon-sol.tinyastro.io":
        if segs:
            before = segs[:-1]
            return segs[-1], "solana", PAIR if "lp" in before else MINT if "token" in before else UNKNOWN
        return None
    if host == "bullx.io":
        addr = _query(query, "address")
        if addr:
            return addr, BULLX_CHAINS.get(_query(query, "chainId")), MINT
        return None
    # pool pages only: their other pages keep what the text extraction makes of them
    if host == "dextools.io":  # dextools.io/app/<lang>/<chain>/pair-explorer/<pair>
        if "pair-explorer" in segs:
            i = segs.index("pair-explorer")
            if 1 <= i < len(segs) - 1:
                return segs[i + 1], chain_name(segs[i - 1]), PAIR
        return None
    if host == "geckoterminal.com":  # geckoterminal.com/<network>/pools/<pool>
        if len(segs) >= 3 and segs[1] == "pools":
            return segs[2], chain_name(segs[0]), PAIR
        return None
    if host == "axiom.trade" and len(segs) >= 2 and segs[0] == "meme":  # axiom.trade/meme/<pair>
        return segs[1], "solana", PAIR
    return None


def text_chain_hint(text: str) -> str | None:
    """The one EVM chain a person's text names (#bsc, 'on base', 'ethereum'), else None."""
    found = {chain_name(a or b) for a, b in _TEXT_CHAIN_RE.findall(text)}
    found.discard(None)
    found.discard("solana")
    return found.pop() if len(found) == 1 else None


def has_link_host(text: str) -> bool:
    # substring tests are far cheaper than running the link regex over every message
    return ("dexscreener" in text or "pump.fun" in text or "birdeye" in text or "solscan" in text
            or "gmgn" in text or "photon-sol" in text or "bullx" in text or "dextools" in text
            or "geckoterminal" in text or "axiom.trade" in text)


def link_tokens(urls: list[str] | tuple[str, ...]) -> list[Token]:
    out: list[Token] = []
    for url in urls:
        if has_link_host(url):
            out += _url_tokens(url)
    return out


@lru_cache(maxsize=1 << 14)
def _url_tokens(url: str) -> tuple[Token, ...]:
    out = []
    for m in LINK_RE.finditer(url):
        got = _link_token(m.group(1), m.group(2))
        if got is None:
            continue
        raw, chain, kind = got
        norm = normalize(raw)
        if norm is None:
            continue
        family, addr = norm
        if family == "sol":
            chain = "solana"
        elif chain in (None, "solana"):
            chain = "unknown"
        out.append(Token(chain, addr, raw, "link", kind))
    return tuple(out)


def extract_tokens(text: str, hrefs: list[str] | tuple[str, ...] = ()) -> list[Token]:
    """Distinct tokens a message names, in order of appearance: links first (they carry a chain), then text."""
    tokens: dict[str, Token] = {}
    unknown = False  # an EVM token without chain so far
    for url in hrefs:
        if has_link_host(url):
            for tok in _url_tokens(url):
                if tok.address not in tokens:
                    tokens[tok.address] = tok
                    unknown = unknown or tok.chain == "unknown"
    if has_link_host(text):
        for tok in _url_tokens(text):
            if tok.address not in tokens:
                tokens[tok.address] = tok
                unknown = unknown or tok.chain == "unknown"
    if EVM_PREFIX in text:  # EVM_RE needs it; far cheaper than the regex
        hint = None
        for m in EVM_RE.finditer(text):
            raw = m.group(0)
            addr = raw.lower()
            if addr == ZERO_EVM or addr in tokens:
                continue
            if hint is None:
                hint = text_chain_hint(text) or "unknown"
            tokens[addr] = Token(hint, addr, raw, "text")
            unknown = unknown or hint == "unknown"
    for raw in SOL_RE.findall(text):
        if raw not in tokens and is_solana_mint(raw):
            tokens[raw] = Token("solana", raw, raw, "text")
    # an EVM link without chain can still take a chain the text names
    if unknown:
        hint = text_chain_hint(text)
        if hint:
            return [Token(hint, t.address, t.address_raw, t.source, t.kind) if t.chain == "unknown"
                    else t for t in tokens.values()]
    return list(tokens.values())
