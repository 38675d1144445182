"""Token cards posted by Rick (RickBurpBot) and Phanes (phanes_bot) in reply to a caller's message.

A card resolves the token of the message it replies to: its mint, its chain (the only reliable source of an
EVM token's chain), the pool (pair) address of its dexscreener/photon link, and the market at call time.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from quantbot_pipelines.telegram.extract import (
    EVM_RE,
    SOL_RE,
    chain_name,
    is_solana_mint,
    link_tokens,
    normalize,
)

RICK_NAMES = frozenset({"rick", "rickburpbot", "@rickburpbot"})
PHANES_NAMES = frozenset({"phanes", "phanes [gold]", "phanes_bot", "@phanes_bot", "phanesbot", "phanes gold"})
BUILTIN_BOTS = RICK_NAMES | PHANES_NAMES

_NUM = r"\$?\s*([0-9][0-9,]*(?:\.[0-9]*[₀-₉]?[0-9]*)?\s*[KMBTkmbt]?)"
_NUM_RE = re.compile(r"\s*" + _NUM)
_AGE_NUM_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(mo|[smhdwy])\b")
# labels are found with str.find (cheap) and the figure matched right after them
PRICE_LABELS = ("USD:",)
MCAP_LABELS = ("FDV:", "MC:", "MCap:", "Mcap:", "Market Cap:")
LIQ_LABELS = ("Liq:", "LP:", "Liquidity:")
AGE_LABELS = ("Age:", "🌱")
_RICK_CHAIN_RE = re.compile(r"🌐\s*([A-Za-z][A-Za-z ]*?)\s*@")
_HASH_CHAIN_RE = re.compile(r"#(SOL|ETH|BSC|BASE|ARB|BLAST|AVAX|POLYGON|TON|TRON|SUI)\b", re.IGNORECASE)
_RICK_HEAD_RE = re.compile(
    r"^[^\w\[$]*(?P<name>[^\[\n$]*?)\s*(?:\[(?P<mc>[^/\]]*)[/\]][^\n$]*?)?\$\$?(?P<ticker>[^\s$]+)")
_PHANES_HEAD_RE = re.compile(r"^[^\w$]*(?P<name>[^\n(]*?)\s*\(\$(?P<ticker>[^)\s]+)\)", re.MULTILINE)
_SUBSCRIPT = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_SUB_RE = re.compile(r"^(\d*\.0)([₀-₉]+)(\d+)$")
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
_AGE_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}


def parse_amount(text: str | None) -> float | None:
    """'$48.2K' -> 48200.0; '0.0₄482' (subscript = count of zeros after '0.0') -> 0.0000482."""
    if not text:
        return None
    s = text.strip()
    if s[:1] == "$":
        s = s[1:]
    if "," in s or " " in s:
        s = s.replace(",", "").replace(" ", "")
    mult = _SUFFIX.get(s[-1:].lower(), 1.0)
    if mult != 1.0:
        s = s[:-1]
    try:
        return float(s) * mult
    except ValueError:
        pass
    m = _SUB_RE.match(s)
    if m:
        try:
            return float(m.group(1) + "0" * (int(m.group(2).translate(_SUBSCRIPT)) - 1) + m.group(3)) * mult
        except ValueError:
            return None
    return None


def _after(labels: tuple[str, ...], text: str, rx: re.Pattern) -> re.Match | None:
    for label in labels:
        i = text.find(label)
        while i >= 0:
            m = rx.match(text, i + len(label))
            if m:
                return m
            i = text.find(label, i + 1)
    return None


def _figure(labels: tuple[str, ...], text: str) -> str | None:
    m = _after(labels, text, _NUM_RE)
    return m.group(1) if m else None


def parse_age(text: str) -> int | None:
    """'5h' -> 18000, '3d', '12m' (minutes), '2mo'."""
    m = _after(AGE_LABELS, text, _AGE_NUM_RE)
    if not m:
        return None
    return int(float(m.group(1)) * _AGE_UNIT[m.group(2)])


class Card(NamedTuple):
    bot: str
    mint: str | None          # token address (EVM lower-cased)
    chain: str | None
    pair: str | None = None   # pool address named by the card's chart link
    name: str | None = None
    ticker: str | None = None
    price_usd: float | None = None
    mcap_usd: float | None = None
    liquidity_usd: float | None = None
    age_s: int | None = None


def bot_kind(name: str | None, extra: frozenset[str] = frozenset()) -> str | None:
    """'Rick', 'Phanes' or 'bot' when `name` (display name or id) is a card bot, else None."""
    if not name:
        return None
    n = name.strip().lower()
    if n in RICK_NAMES:
        return "Rick"
    if n in PHANES_NAMES:
        return "Phanes"
    if n in extra:
        return "Rick" if "rick" in n else "Phanes" if "phanes" in n else "bot"
    return None


def _chain_of_card(text: str) -> str | None:
    m = _RICK_CHAIN_RE.search(text) if "🌐" in text else None
    if m and chain_name(m.group(1)):
        return chain_name(m.group(1))
    m = _HASH_CHAIN_RE.search(text) if "#" in text else None
    return chain_name(m.group(1)) if m else None


def parse_card(bot: str, text: str, hrefs: list[str] | tuple[str, ...] = (),
               codes: list[str] | tuple[str, ...] = ()) -> Card | None:
    """Parse a Rick or Phanes card; None when it names no token."""
    links = link_tokens(hrefs)
    # the mint: a <code> line first, then a bare address line, then a token (not pool) link
    mint = None
    for c in codes:
        c = c.strip()
        if 32 <= len(c) <= 44:  # prices and figures are shorter: no address test for them
            norm = normalize(c)
            if norm:
                mint = norm[1]
                break
    if mint is None:
        for m in list(SOL_RE.finditer(text)) + list(EVM_RE.finditer(text)):
            norm = normalize(m.group(0))
            if norm and not any(t.address == norm[1] and t.maybe_pair for t in links):
                mint = norm[1]
                break
    if mint is None:
        for t in links:
            if not t.maybe_pair:
                mint = t.address
                break
    if mint is None:
        return None
    pair = None
    for t in links:
        if t.maybe_pair and t.address != mint:
            pair = t.address
            break
    if is_solana_mint(mint):
        chain = "solana"
    else:
        chain = _chain_of_card(text) or next((t.chain for t in links if t.chain != "unknown"), None)
        if chain == "solana":
            chain = None
    if bot == "Rick" or "💊" in text:
        j = text.find("💊")
        if j < 0:
            j = len(text) - len(text.lstrip())
        k = text.find("\n", j)
        head = _RICK_HEAD_RE.match(text[j:k] if k >= 0 else text[j:])
        if bot == "bot":
            bot = "Rick"
        mc = True
    else:
        head = _PHANES_HEAD_RE.search(text)
        if bot == "bot":
            bot = "Phanes"
        mc = False
    name = ticker = None
    if head:
        name = head.group("name").strip() or None
        ticker = head.group("ticker").strip().lstrip("$") or None
    mcap = parse_amount(_figure(MCAP_LABELS, text))
    if mcap is None and mc and head is not None:
        mcap = parse_amount(head.group("mc"))
    return Card(bot, mint, chain, pair, name, ticker, parse_amount(_figure(PRICE_LABELS, text)), mcap,
                parse_amount(_figure(LIQ_LABELS, text)), parse_age(text))
