"""Token cards posted by Rick (RickBurpBot) and Phanes (phanes_bot) in reply to a caller's message.

A card resolves the token of the message it replies to: its mint, its chain (the only reliable source of an
EVM token's chain), the pool (pair) address of its dexscreener/photon/birdeye link, and the market at call
time. The two card structures are described in docs/formats.md#telegram-exports ("Bot cards").

Which structure a card has is read from its elements, not from one emoji or the sender: both bots may open
with 💊, and a configured extra bot may post either. Rick: the first line `NAME [MCAP/CHANGE%] $TICKER` (or
`💊 NAME $TICKER`), then emoji + label lines `🌐 Solana @ Raydium`, `💰 USD:`, `💎 FDV:`, `💦 Liq:`,
`📊 Vol:`, `🕰️ Age:`, `📈 1H:`, `⇨ ATH:`. Phanes: a header line `NAME ($TICKER)` (after any emoji), then a
tree: `├ <mint>`, `└ #SOL | 🌱 8h | 👁️ 663`, `├ USD:`, `├ MC:`, `├ Vol:`, `├ LP:`, `├ 1H:`, `└ ATH:`,
`Top 10`, `Dev Sold`, `Dex Paid`. The structure with more of its elements wins, the sender breaking a tie; a
card with neither gives what its labels say (mint, pair, chain, price, market cap, liquidity, age) and no name
or ticker.

The venue (`dex`) is what follows `@` on Rick's `🌐` line, else a `DEX:` / `Venue:` label, else a line that
is nothing but a known venue's name after its tree mark and emoji (Phanes' `├ 💊 Pump.fun`). A pump.fun
venue (`Pump.fun`, `pumpfun`, `pump fun`) puts the token on its bonding curve; the curve's progress
(`bonding_pct`) is the percent after `Bonding:`, `Bonding Curve:` or `BC:`, kept only for a card on the
curve (a pump.fun venue, or none named): a token that migrated trades in a pool, whatever the card still says
of its curve.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from quantbot_pipelines.telegram.extract import (
    EVM_RE,
    SOL_RE,
    chain_name,
    has_link_host,
    is_solana_mint,
    link_tokens,
    normalize,
)

RICK_NAMES = frozenset({"rick", "rickburpbot", "@rickburpbot"})
PHANES_NAMES = frozenset({"phanes", "phanes [gold]", "phanes_bot", "@phanes_bot", "phanesbot", "phanes gold"})
BUILTIN_BOTS = RICK_NAMES | PHANES_NAMES
RICK, PHANES = "Rick", "Phanes"

# an amount: digits with thousands commas, a decimal part that may hold a subscript zero count (0.0₄482),
# and a K/M/B/T suffix ('19K', '19 K'; not the B of 'Bn' or of a next line's 'Buys'); atomic, so that a
# figure glued to letters is not read shorter ('$1.2Bn' as '1.')
_AMOUNT = r"((?>[0-9][0-9,]*(?:\.[0-9]*[₀-₉]*[0-9]*)?(?:[^\S\n]?[KMBTkmbt](?![A-Za-z]))?))"
# a figure right after its label; one glued to letters ('$1.2Bn') is none we know
_FIG = r"[^\S\n]*(\$)?[^\S\n]*" + _AMOUNT + r"(?![^\W\d_])"
_DOLLAR_RE = re.compile(r"\$[^\S\n]*" + _AMOUNT)
_UNIT_WORD_RE = re.compile(r"[^\S\n]*[A-Za-z]{2}")  # "45 SOL": a figure in another currency
# units in any case (the label stays case-sensitive: a cheap literal search)
_AGE_PART = (r"[^\S\n]*([0-9]+(?:\.[0-9]+)?)[^\S\n]*"
             r"((?i:mo(?:nths?|s)?|min(?:ute)?s?|m|s(?:ec(?:ond)?s?)?|h(?:(?:ou)?rs?)?|d(?:ays?)?"
             r"|w(?:(?:ee)?ks?)?|y(?:(?:ea)?rs?)?))(?![A-Za-z])")
_AGE_PART_RE = re.compile(_AGE_PART)
_AGE_LEAD = r"[\s\ufe0f\u200d]*~?"  # after 🌱: its variation selector; '~2h' is still the card's figure
_AGE_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}

# per structure, its own label first, then the others a card might use
PRICE_LABELS = ("USD:",)
MCAP_LABELS = ("FDV:", "MC:", "MCap:", "Mcap:", "Market Cap:")
LIQ_LABELS = ("Liq:", "LP:", "Liquidity:")
AGE_LABELS = ("Age:", "🌱")
# one regex per label: a search for it and its figure at once (cheaper than find + match)
_FIG_RX = {label: re.compile(re.escape(label) + _FIG)
           for label in {*PRICE_LABELS, *MCAP_LABELS, *LIQ_LABELS}}
_AGE_RX = {label: re.compile(re.escape(label) + _AGE_LEAD + _AGE_PART) for label in AGE_LABELS}
_MCAP = {RICK: MCAP_LABELS, PHANES: ("MC:", "MCap:", "Mcap:", "Market Cap:", "FDV:"), None: MCAP_LABELS}
_LIQ = {RICK: LIQ_LABELS, PHANES: ("LP:", "Liq:", "Liquidity:"), None: LIQ_LABELS}
_AGE = {RICK: AGE_LABELS, PHANES: ("🌱", "Age:"), None: AGE_LABELS}

_ADDR = r"[1-9A-HJ-NP-Za-km-z]{32,44}|0x[0-9a-fA-F]{40}"
# the elements of each structure, as the bots write them: substring tests, each behind a test of its first
# character (one character is found several times faster than a string that is not there; this runs per card)
_RICK_ELEMENTS = tuple((e[0], e if len(e) > 1 else None)
                       for e in ("🌐", "💰 USD:", "💎 FDV:", "💦 Liq:", "📊 Vol:", "🕰", "📈 1H:", "⇨ ATH:"))
_PHANES_ICONS = ("🌱", "👁")
_PHANES_TREE = ("├ USD:", "├ MC:", "├ Vol:", "├ LP:", "├ 1H:", "└ ATH:", "└ #",
                "Top 10", "Dev Sold", "Dex Paid")
# headers, matched on a line whose leading emoji are cut off (names keep their own punctuation: God's Plan)
_RICK_HEAD_RE = re.compile(
    r"(?P<name>.*?)[^\S\n]*\[(?P<mc>[^\]/\n]*)(?:/[^\]\n]*)?\][^\S\n]*\$+(?P<ticker>[^\s$]+)")
_RICK_PLAIN_HEAD_RE = re.compile(r"(?P<name>.*?)[^\S\n]+\$+(?P<ticker>[^\s$()]+)[^\S\n]*$")
_PHANES_HEAD_RE = re.compile(r"(?P<name>.*?)[^\S\n]*\(\$+(?P<ticker>[^\s()$]+)\)[^\w\n()$]*$")
# emoji (pictographs, dingbats, arrows, symbols), their selectors and joiners, spaces
_LEAD_RE = re.compile(r"[\s\u200b-\u200f\u2060\u20e3\u2190-\u2bff\ufe0e\ufe0f\U0001f000-\U0001faff"
                      r"\U000e0000-\U000e007f]*")
_HEAD_LINES = 3  # Phanes may put a banner line above its header

_RICK_CHAIN_RE = re.compile(r"🌐[^\S\n]*([A-Za-z][A-Za-z ]*?)[^\S\n]*@")
# the venue: `🌐 Solana @ Raydium` (to the end of the line or a field separator), a `DEX:` / `Venue:` label,
# or a line holding only a known venue (after a tree mark and emoji); `Dex Paid:` is no venue label
_VENUE_END = r"[^\S\n]*([^\n|⋅•⇨]*?)[^\S\n]*(?:[|⋅•⇨]|$)"
_RICK_VENUE_RE = re.compile(r"🌐[^@\n]*@" + _VENUE_END, re.MULTILINE)
_VENUE_LABEL_RE = re.compile(r"(?<![A-Za-z])(?:DEX|Dex|Venue):" + _VENUE_END, re.MULTILINE)
_VENUES = (r"pump(?:\.|[^\S\n])?fun|pump[^\S\n]?swap|raydium(?:[^\S\n]+(?:cpmm|clmm|amm|v4|launchlab))?"
           r"|meteora(?:[^\S\n]+(?:dlmm|damm(?:[^\S\n]?v2)?|dyn))?|orca|moonshot|bonk\.?fun|letsbonk"
           r"|launchlab|uniswap(?:[^\S\n]?v[234])?|pancake[^\S\n]?swap(?:[^\S\n]?v[23])?|sushi[^\S\n]?swap"
           r"|aerodrome|velodrome|baseswap|camelot|trader[^\S\n]?joe|four\.meme")
_EMOJI = r"\u200b-\u200f\u2060\u20e3\u2190-\u2bff\ufe0e\ufe0f\U0001f000-\U0001faff\U000e0000-\U000e007f"
# a line that is a venue and nothing else; found by its name in the lower-cased text first (one search without
# flags is several times cheaper than a case-blind search line by line, and this runs per card)
_VENUE_NAME_RE = re.compile(_VENUES)
_VENUE_LINE_RE = re.compile(r"(?:[" + _EMOJI + r"]|[^\S\n])*((?i:" + _VENUES + r"))[^\S\n]*")
_EDGE_EMOJI_RE = re.compile(r"^[\s" + _EMOJI + r"]+|[\s" + _EMOJI + r"]+$")
# pump.fun itself, not its AMM (PumpSwap, "Pump.fun AMM": a pool after migration)
PUMP_FUN_VENUE = r"\W*pump(?:\.|\s)?fun\W*"  # a whole venue name; tables test it with polars (pools.py)
_PUMP_FUN_RE = re.compile(PUMP_FUN_VENUE, re.IGNORECASE)
# bonding-curve progress: `Bonding: 45%`, `📈 Bonding Curve: 45.2%`, `BC: 45%` (a bar of blocks may come first)
_BONDING_RE = re.compile(r"(?<![A-Za-z])(?:(?i:bonding(?:[^\S\n]+curve)?(?:[^\S\n]+progress)?)|BC)[^\S\n]*:"
                         r"[^\S\n]*(?:[▰▱■□▪▫█▓▒░●○][^\S\n]*)*([0-9]+(?:\.[0-9]+)?)[^\S\n]*%")
_HASHTAG_RE = re.compile(r"#([A-Za-z]+)\b")
_ADDR_LINE_RE = re.compile(r"^[^\S\n]*[├└│]?[^\S\n]*(" + _ADDR + r")[^\S\n]*$", re.MULTILINE)
# birdeye names a pool as /pair/<pool> or /token/<mint>/<pool>; the link classification keeps only the mint
_BIRDEYE_POOL_RE = re.compile(r"birdeye\.so/(?:token/(?:" + _ADDR + r")/|pair/)(" + _ADDR + r")")

_SUBSCRIPT = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_SUB_RE = re.compile(r"^(\d*\.0)([₀-₉]+)(\d+)$")
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


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


def _figure(labels: tuple[str, ...], text: str) -> str | None:
    """The USD figure after the first of `labels` that has one."""
    for label in labels:
        rx = _FIG_RX[label]
        m = rx.search(text)
        while m:
            if m.group(1) or not _UNIT_WORD_RE.match(text, m.end()):
                return m.group(2)
            # "Liq: 45 SOL ($19K)": the dollar figure of the same line, else none
            end = text.find("\n", m.end())
            d = _DOLLAR_RE.search(text, m.end(), len(text) if end < 0 else end)
            if d:
                return d.group(1)
            m = rx.search(text, m.end())
    return None


def _age_parts(m: re.Match | None, text: str) -> int | None:
    """Seconds of an age whose first part `m` matched: '2m', '8h', '3d', '1mo', '1y', '2 mins', '1h 30m'."""
    total, last = 0.0, None
    while m:
        unit = m.group(2)
        if unit == "M":  # minutes or months: not ours to decide
            break
        u = unit.lower()
        u = "mo" if u.startswith("mo") else "m" if u.startswith("mi") else u[0]
        secs = _AGE_UNIT[u]
        if last is not None and secs >= last:  # '5h 3h' is no compound age
            break
        total += float(m.group(1)) * secs
        last = secs
        m = _AGE_PART_RE.match(text, m.end())
    return int(total) if last is not None else None


def _age(labels: tuple[str, ...], text: str) -> int | None:
    for label in labels:
        rx = _AGE_RX[label]
        m = rx.search(text)
        while m:
            got = _age_parts(m, text)
            if got is not None:
                return got
            m = rx.search(text, m.start() + 1)
    return None


def parse_age(text: str) -> int | None:
    """Age after `Age:` or `🌱`: '5h' -> 18000, '3d', '12m' (minutes), '2mo', '1y'."""
    return _age(AGE_LABELS, text)


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
    dex: str | None = None           # venue on the card (Raydium, PancakeSwap, Pump.fun, ...)
    bonding_pct: float | None = None  # pump.fun bonding-curve progress, percent (a card on the curve only)


def bot_kind(name: str | None, extra: frozenset[str] = frozenset()) -> str | None:
    """'Rick', 'Phanes' or 'bot' when `name` (display name or id) is a card bot, else None."""
    if not name:
        return None
    n = name.strip().lower()
    if n in RICK_NAMES:
        return RICK
    if n in PHANES_NAMES:
        return PHANES
    if n in extra:
        return RICK if "rick" in n else PHANES if "phanes" in n else "bot"
    return None


def _cut_lead(line: str) -> tuple[str, bool]:
    """(line without its leading emoji and spaces, whether it opened with Rick's 💊)."""
    k = _LEAD_RE.match(line).end()
    return line[k:], k > 0 and "💊" in line[:k]


def _structure(text: str, bot: str | None) -> tuple[str | None, re.Match | None]:
    """(structure, its header match): 'Rick' or 'Phanes', whichever has more of its elements in `text`, the
    sender breaking a tie; None when there is neither."""
    # a lead of two elements decides: each header adds at most one to its side
    tree = "├" in text or "└" in text
    p = 0
    for e in _PHANES_ICONS:
        if e in text:
            p += 1
    r = 0
    for first, e in _RICK_ELEMENTS:
        if first in text and (e is None or e in text):
            r += 1
            if not tree and r >= p + 2:  # without its tree, Phanes has nothing more
                break
    if tree:  # Top 10, Dev Sold, Dex Paid: lines of its Security tree
        for e in _PHANES_TREE:
            if p >= r + 2:
                break
            if e in text:
                p += 1
    rick_head = phanes_head = None
    want_rick, want_phanes = p < r + 2, r < p + 2
    n = i = 0
    while n < _HEAD_LINES and i <= len(text):
        j = text.find("\n", i)
        if j < 0:
            j = len(text)
        line, i = text[i:j], j + 1
        if not line or line.isspace():
            continue
        line, pill = _cut_lead(line)
        n += 1
        if n == 1 and want_rick:  # Rick's header is its first line; 💊 NAME $TICKER counts only with the pill
            rick_head = _RICK_HEAD_RE.match(line)
            if rick_head:
                r += 1
                break
            rick_head = _RICK_PLAIN_HEAD_RE.match(line)
            if rick_head and pill:
                r += 1
        if not want_phanes:
            break
        phanes_head = _PHANES_HEAD_RE.match(line)
        if phanes_head:
            p += 1
            break
    if r > p or r == p and r and bot == RICK:
        return RICK, rick_head
    if p > r or p and bot == PHANES:
        return PHANES, phanes_head
    return None, None


def card_format(text: str, bot: str | None = None) -> str | None:
    """'Rick' or 'Phanes' by the structure of `text`, None when it has neither (`bot` breaks a tie)."""
    return _structure(text, bot)[0]


def _header(m: re.Match | None) -> tuple[str | None, str | None, str | None]:
    """(name, ticker, header market cap) of a header match."""
    if m is None:
        return None, None, None
    return m.group("name").strip() or None, m.group("ticker").lstrip("$") or None, m.groupdict().get("mc")


def _chain_of_card(fmt: str | None, text: str) -> str | None:
    if fmt != PHANES and "🌐" in text:  # Rick: 🌐 BSC @ PancakeSwap
        m = _RICK_CHAIN_RE.search(text)
        if m and chain_name(m.group(1)):
            return chain_name(m.group(1))
    if fmt != RICK and "#" in text:  # Phanes: └ #BSC | 🌱 3d
        for m in _HASHTAG_RE.finditer(text):
            chain = chain_name(m.group(1))
            if chain:
                return chain
    return None


def is_pump_fun(venue: str | None) -> bool:
    """Whether a card's venue is pump.fun (`Pump.fun`, `pumpfun`, `pump fun`, any case): the token is still on
    its bonding curve."""
    return bool(venue) and _PUMP_FUN_RE.fullmatch(venue) is not None


def _venue_after(rx: re.Pattern, text: str) -> str | None:
    m = rx.search(text)
    return _EDGE_EMOJI_RE.sub("", m.group(1)) or None if m else None


def parse_venue(text: str) -> str | None:
    """The venue a card names: after `@` on a `🌐` line, after `DEX:` / `Venue:`, or a line holding only a
    known venue (`├ 💊 Pump.fun`); as written, trimmed of spaces and emoji; None when it names none."""
    if "🌐" in text:
        venue = _venue_after(_RICK_VENUE_RE, text)
        if venue:
            return venue
    if "DEX:" in text or "Dex:" in text or "Venue:" in text:
        venue = _venue_after(_VENUE_LABEL_RE, text)
        if venue:
            return venue
    low = text.lower()
    if len(low) != len(text):  # a character whose lower case is longer: offsets differ, test every line
        return next((m.group(1) for m in map(_VENUE_LINE_RE.fullmatch, text.split("\n")) if m), None)
    m = _VENUE_NAME_RE.search(low)
    while m:
        start, end = low.rfind("\n", 0, m.start()) + 1, low.find("\n", m.end())
        end = len(low) if end < 0 else end
        line = _VENUE_LINE_RE.fullmatch(text, start, end)
        if line:
            return line.group(1)
        m = _VENUE_NAME_RE.search(low, end)
    return None


def parse_bonding(text: str, venue: str | None = None) -> float | None:
    """Bonding-curve progress in percent after `Bonding:`, `Bonding Curve:` or `BC:`, for a card on the curve
    (its venue pump.fun, or none named); None otherwise, or when no 0-100 percent follows the label."""
    if "%" not in text or (venue and not is_pump_fun(venue)):
        return None
    if "onding" not in text and "ONDING" not in text and "BC" not in text:  # cheaper than the search
        return None
    m = _BONDING_RE.search(text)
    if m is None:
        return None
    pct = float(m.group(1))
    return pct if pct <= 100.0 else None


def _code_mint(codes) -> str | None:
    for c in codes:
        c = c.strip()
        if 32 <= len(c) <= 44:  # prices and figures are shorter: no address test for them
            norm = normalize(c)
            if norm:
                return norm[1]
    return None


def _text_mint(text: str, links) -> str | None:
    # an address alone on its line (Rick's code line, Phanes' `├ <mint>`), then any address in the text that
    # is not the pool of a link, then a token (not pool) link
    pools = {t.address for t in links if t.maybe_pair}
    for m in _ADDR_LINE_RE.finditer(text):
        norm = normalize(m.group(1))
        if norm and norm[1] not in pools:
            return norm[1]
    for m in list(SOL_RE.finditer(text)) + list(EVM_RE.finditer(text)):
        norm = normalize(m.group(0))
        if norm and norm[1] not in pools:
            return norm[1]
    for t in links:
        if not t.maybe_pair:
            return t.address
    return None


def _pair(mint: str, links, urls) -> str | None:
    for t in links:
        if t.maybe_pair and t.address != mint:
            return t.address
    for url in urls:
        if "birdeye" in url:
            for m in _BIRDEYE_POOL_RE.finditer(url):
                norm = normalize(m.group(1))
                if norm and norm[1] != mint:
                    return norm[1]
    return None


def parse_card(bot: str, text: str, hrefs: list[str] | tuple[str, ...] = (),
               codes: list[str] | tuple[str, ...] = ()) -> Card | None:
    """Parse a Rick or Phanes card; None when it names no token. `bot` 'bot' (an extra bot) becomes the
    structure found, if any."""
    # the mint: a <code> part first (where both bots put it); the pool: a link's. URLs written out in the text
    # (JSON `link` entities) are links too, read only when entities and buttons leave a question open
    links = link_tokens(hrefs)
    mint = _code_mint(codes)
    pair = _pair(mint, links, hrefs) if mint else None
    text_links = False
    if pair is None:
        if has_link_host(text):
            hrefs, links, text_links = [*hrefs, text], links + link_tokens([text]), True
        if mint is None:
            mint = _text_mint(text, links)
            if mint is None:
                return None
            pair = _pair(mint, links, hrefs)
        elif text_links:
            pair = _pair(mint, links, hrefs)
    fmt, head = _structure(text, bot)
    if is_solana_mint(mint):
        chain = "solana"
    else:
        chain = _chain_of_card(fmt, text)
        if chain is None:
            if not text_links and has_link_host(text):
                links = links + link_tokens([text])
            chain = next((t.chain for t in links if t.chain != "unknown"), None)
        if chain == "solana":
            chain = None
    if bot == "bot" and fmt:
        bot = fmt
    name, ticker, head_mc = _header(head)
    mcap = parse_amount(_figure(_MCAP[fmt], text))
    if mcap is None and head_mc:  # Rick's header [MCAP/CHANGE%]
        mcap = parse_amount(head_mc)
    dex = parse_venue(text)
    return Card(bot, mint, chain, pair, name, ticker, parse_amount(_figure(PRICE_LABELS, text)), mcap,
                parse_amount(_figure(_LIQ[fmt], text)), _age(_AGE[fmt], text), dex, parse_bonding(text, dex))
