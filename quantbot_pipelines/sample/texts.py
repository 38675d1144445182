"""Message texts as Telegram JSON text parts: plain strings mixed with entity dicts ({type, text[, href]}).

Bot cards follow docs/formats.md#telegram-exports (Rick and Phanes); calls come in the styles people
post them in: bare address, address with chatter, a link of one of the usual hosts. A card of a token still on
pump.fun's bonding curve names the venue Pump.fun (Rick: `🌐 Solana @ Pump.fun`; Phanes: a `├ 💊 Pump.fun` line)
and shows the curve's progress where the pool's liquidity would be (Rick: `📈 Bonding Curve: 45.2%`; Phanes:
`├ Bonding: 45.2%`).
"""

from __future__ import annotations

import random

from quantbot_pipelines.sample.market import CHAINS, Token, age, money, price

Part = str | dict


def ent(type_: str, text: str, href: str | None = None) -> dict:
    d = {"type": type_, "text": text}
    if href is not None:
        d["href"] = href
    return d


def plain_text(parts: list[Part]) -> str:
    return "".join(p if isinstance(p, str) else p["text"] for p in parts)


# ---- links ---------------------------------------------------------------------------------------


def dexscreener(t: Token, *, pair: bool = True) -> str:
    slug = CHAINS[t.chain][3]
    return f"https://dexscreener.com/{slug}/{t.pair if pair else t.address.lower()}"


def token_links(t: Token) -> list[tuple[str, str]]:
    """The (label, url) row under a card: the DEX and PHO links carry the pair, the others the token."""
    g = CHAINS[t.chain][4]
    rows = [("DEX", dexscreener(t)), ("GMGN", f"https://gmgn.ai/{g}/token/{t.address}")]
    if t.chain == "solana":
        rows += [
            ("BIRD", f"https://birdeye.so/token/{t.address}?chain=solana"),
            ("PHO", f"https://photon-sol.tinyastro.io/en/lp/{t.pair}?handle=71203b2a"),
            ("BLX", f"https://neo.bullx.io/terminal?chainId=1399811149&address={t.address}"),
        ]
    return rows


# ---- calls ---------------------------------------------------------------------------------------

_CHATTER = [
    "aping this",
    "new gem",
    "sending",
    "dev doxxed, LP burnt",
    "CTO forming",
    "early on this one",
    "chart looks clean",
    "loading a bag",
    "this one has legs",
    "low cap gem, dyor",
    "volume coming in",
    "not financial advice but",
    "whales accumulating",
    "KOLs haven't found it yet",
]
_AFTER = ["🚀", "🔥🔥", "lfg", "x10 easy", "👀", "dyor", "", "send it", "💎🙌"]


def call_parts(t: Token, rng: random.Random, *, repeat: bool = False) -> tuple[list[Part], bool]:
    """A caller's message naming `t`; second value: whether a card is needed to know the token or chain."""
    if repeat:
        return [f"still early on ${t.ticker} imo, adding more\n", t.address], t.chain != "solana"
    if t.chain != "solana":
        style = rng.choices(["text", "dex", "gmgn"], weights=[6, 3, 1])[0]
        if style == "dex":
            return [
                f"{rng.choice(_CHATTER)} ",
                ent("link", dexscreener(t, pair=False)),
                f" {rng.choice(_AFTER)}",
            ], False
        if style == "gmgn":
            url = f"https://gmgn.ai/{CHAINS[t.chain][4]}/token/{t.address}"
            return [f"{t.ticker} ", ent("link", url)], False
        return [f"{rng.choice(_CHATTER)}\n", t.address], True
    styles = [
        "bare",
        "chatter",
        "ticker",
        "code",
        "pumpfun",
        "birdeye",
        "solscan",
        "gmgn",
        "bullx",
        "dexpair",
        "photon",
        "textlink",
    ]
    style = rng.choices(styles, weights=[10, 14, 8, 5, 6, 3, 3, 3, 2, 4, 2, 2])[0]
    if style == "pumpfun" and not t.address.endswith("pump"):
        style = "chatter"
    m = t.address
    if style == "bare":
        return [m], False
    if style == "chatter":
        return [f"{rng.choice(_CHATTER)} {m} {rng.choice(_AFTER)}".strip()], False
    if style == "ticker":
        return [ent("cashtag", f"${t.ticker}"), f" {m}\n\n{rng.choice(_CHATTER)}"], False
    if style == "code":
        return ["CA: ", ent("code", m), f"\n{rng.choice(_CHATTER)}"], False
    if style == "pumpfun":
        return [f"{rng.choice(_CHATTER)} ", ent("link", f"https://pump.fun/coin/{m}")], False
    if style == "birdeye":
        return [ent("link", f"https://birdeye.so/token/{m}?chain=solana"), f" {rng.choice(_AFTER)}"], False
    if style == "solscan":
        return [f"{rng.choice(_CHATTER)} ", ent("link", f"https://solscan.io/token/{m}")], False
    if style == "gmgn":
        return [ent("link", f"https://gmgn.ai/sol/token/{m}")], False
    if style == "bullx":
        return [ent("link", f"https://neo.bullx.io/terminal?chainId=1399811149&address={m}")], False
    if style == "dexpair":  # the link holds the pool, not the mint: only the card tells the token
        return [f"${t.ticker} ", ent("link", dexscreener(t)), f" {rng.choice(_AFTER)}"], True
    if style == "photon":
        return [ent("link", f"https://photon-sol.tinyastro.io/en/lp/{t.pair}?handle=71203b2a")], True
    return [
        f"{rng.choice(_CHATTER)} ",
        ent("text_link", "chart", dexscreener(t)),
        " / ",
        ent("text_link", "buy", f"https://gmgn.ai/sol/token/{m}"),
    ], False


# ---- bot cards -----------------------------------------------------------------------------------


def rick_card(t: Token, s: dict) -> list[Part]:
    label, _dexes, _tag, _slug, _g = CHAINS[t.chain]
    icon_href = f"https://pump.fun/{t.address}" if t.address.endswith("pump") else dexscreener(t)
    parts: list[Part] = [
        ent("text_link", "💊", icon_href),
        f" {t.name} ",
        ent("bold", f"[{money(s['mcap'])[1:]}/{s['change']:.0f}%]"),
        " ",
        ent("cashtag", f"${t.ticker}"),
        f"\n🌐 {label} @ {s['venue']}\n💰 USD: ",
        ent("code", price(s["price"])),
        "\n💎 FDV: ",
        ent("code", money(s["mcap"])),
        " ⇨ ATH: ",
        ent("code", money(s["ath"])),
        *(("\n💦 Liq: ", ent("code", money(s["liq"]))) if s["bonding_pct"] is None else
          (f"\n📈 Bonding Curve: {s['bonding_pct']:.1f}%",)),
        "\n📊 Vol: ",
        ent("code", money(s["vol"])),
        f" 🕰️ Age: {age(s['age_s'])}",
        f"\n📈 1H: {s['change']:.1f}% ⋅ {money(s['vol'] / 5)} 🅑 {s['buys']} Ⓢ {s['sells']}",
        "\n\n",
        ent("code", t.address),
        "\n",
    ]
    for i, (lbl, url) in enumerate(token_links(t)):
        parts += (["⋅"] if i else []) + [ent("text_link", lbl, url)]
    return parts


def phanes_card(t: Token, s: dict) -> list[Part]:
    tag = CHAINS[t.chain][2]
    ath_drop = (s["mcap"] / s["ath"] - 1) * 100
    curve = s["bonding_pct"] is not None
    pool = f"├ Bonding: {s['bonding_pct']:.1f}%" if curve else f"├ LP: {money(s['liq'])}"
    parts: list[Part] = [
        ent("bold", t.name),
        " (",
        ent("cashtag", f"${t.ticker}"),
        ")\n├ ",
        ent("code", t.address),
        f"\n├ 💊 {s['venue']}\n└ " if curve else "\n└ ",
        ent("hashtag", tag),
        f" | 🌱 {age(s['age_s'])} | 👁️ {s['views']}\n\n📊 ",
        ent("bold", "Stats"),
        (
            f"\n├ USD: {price(s['price'])} ({s['change']:+.0f}%)\n├ MC: {money(s['mcap'])}"
            f"\n├ Vol: {money(s['vol'])}"
            f"\n{pool}\n├ 1H: {s['change']:.1f}% 🅑 {s['buys']} Ⓢ {s['sells']}"
            f"\n└ ATH: {money(s['ath'])} ({ath_drop:.0f}% / {age(s['ath_ago_s'])})\n\n🔒 "
        ),
        ent("bold", "Security"),
        (
            f"\n├ Top 10: {s['top10']}%\n├ Dev Sold: {'🟢' if s['top10'] % 2 else '🔴'}"
            f"\n└ Dex Paid: {'🟢' if s['buys'] % 3 else '🔴'}\n\n"
        ),
    ]
    for i, (lbl, url) in enumerate(token_links(t)):
        parts += ([" ⋅ "] if i else []) + [ent("text_link", lbl, url)]
    return parts


# ---- noise ---------------------------------------------------------------------------------------

_NOISE = [
    "gm",
    "gm frens ☀️",
    "lfg",
    "who's still holding?",
    "rugged again 😭",
    "dev sold lol",
    "ngmi",
    "anyone got a good RPC?",
    "this market is cooked",
    "bought the top as usual",
    "wen moon",
    "ser pls",
    "taking profits here",
    "SOL pumping hard today",
    "chart is bleeding",
    "just woke up, what did I miss",
    "volume is insane today",
    "I'm out, 3x in 20 min",
    "holding my bags <3",
    "fees on raydium are crazy",
    "that's a honeypot, careful",
    "can't sell, tax 99%",
    "nice",
    "🚀🚀🚀",
    "😂",
    "same",
    "gn",
    "anyone in the twitter space?",
    "new meta is cats apparently",
    '"trust me bro" & other strategies',
    "it's over",
    "we're so back",
    "btc to 150k then alts",
    "did the dev renounce?",
    "lol",
]


def noise_parts(rng: random.Random, names: list[str]) -> list[Part]:
    r = rng.random()
    if r < 0.55:
        return [rng.choice(_NOISE)]
    if r < 0.65:
        return [ent("mention", f"@{rng.choice(names).split()[0].lower()}"), f" {rng.choice(_NOISE)}"]
    if r < 0.73:
        return [ent("bold", rng.choice(_NOISE).upper()), " " + rng.choice(_AFTER)]
    if r < 0.80:
        return ["look at this ", ent("link", f"https://x.com/solana/status/{rng.randint(10**18, 10**19)}")]
    if r < 0.86:
        return [ent("cashtag", rng.choice(["$SOL", "$BTC", "$ETH", "$BNB"])), f" {rng.choice(_NOISE)}"]
    if r < 0.91:
        return [rng.choice(_NOISE), " ", ent("hashtag", rng.choice(["#alpha", "#memecoins", "#solana"]))]
    if r < 0.95:
        return [ent("italic", rng.choice(_NOISE)), " ", ent("spoiler", "dyor")]
    return [ent("text_link", "join our vc", "https://t.me/+a1b2c3d4e5"), f" {rng.choice(_AFTER)}"]
