from __future__ import annotations

import json

import pytest

from quantbot_pipelines.telegram import parse_export
from quantbot_pipelines.telegram.cards import (
    bot_kind,
    card_format,
    is_pump_fun,
    parse_age,
    parse_amount,
    parse_bonding,
    parse_card,
    parse_venue,
)
from tests.telegram.conftest import CDOG, DCAP, DCAP_PAIR, FIN, GRC, PEPE, PUMP, SHORT43

RICK = ("💊 Doge Captain [48.2K/310%] $DCAP\n🌐 Solana @ Raydium\n💰 USD: $0.0000482\n💎 FDV: $48.2K ⇨ ATH: $52K\n"
        "💦 Liq: $19K\n📊 Vol: $210K 🕰️ Age: 5h\n📈 1H: 42.8% ⋅ $42K 🅑 218 Ⓢ 109\n" + DCAP + "\nDEX")
PHANES = (f"Cake Dog ($CDOG)\n├ {CDOG}\n└ #BSC | 🌱 3d | 👁️ 663\n\n📊 Stats\n├ USD: $0.0₄482\n├ MC: $1.2M\n"
          "├ Vol: $300K\n├ LP: $85.5K\n├ 1H: 12%\n└ ATH: $3.38M (-33% / 10m)\nTop 10: 21%\nDev Sold: 🟢")


def test_amounts_and_ages():
    assert parse_amount("$48.2K") == 48_200 and parse_amount("$1.2M") == 1_200_000
    assert parse_amount("$3.38B") == 3.38e9 and parse_amount("1,234.5") == 1234.5
    assert abs(parse_amount("$0.0₄482") - 0.0000482) < 1e-12
    assert parse_amount("n/a") is None and parse_amount(None) is None
    assert parse_age("Age: 5h") == 5 * 3600 and parse_age("🌱 8h |") == 8 * 3600
    assert parse_age("Age: 3d") == 3 * 86400 and parse_age("Age: 12m") == 12 * 60


def test_rick_card_fields_and_pair():
    card = parse_card("Rick", RICK, [f"https://pump.fun/{DCAP}", f"https://dexscreener.com/solana/{DCAP_PAIR}"],
                      ["$0.0000482", "$48.2K", "$52K", "$19K", DCAP])
    assert (card.bot, card.name, card.ticker, card.mint, card.chain) == ("Rick", "Doge Captain", "DCAP", DCAP,
                                                                         "solana")
    assert card.pair == DCAP_PAIR
    assert (card.price_usd, card.mcap_usd, card.liquidity_usd, card.age_s) == (0.0000482, 48_200, 19_000, 18_000)
    assert (card.dex, card.bonding_pct) == ("Raydium", None)


def test_rick_card_evm_chain_from_globe_line():
    text = f"💊 Cake Dog [1.2M/5%] $CDOG\n🌐 BSC @ PancakeSwap\n💰 USD: $0.01\n💎 FDV: $1.2M\n{CDOG}"
    card = parse_card("Rick", text, [f"https://dexscreener.com/bsc/0x{'1' * 40}"], [CDOG])
    assert (card.chain, card.mint, card.pair, card.dex) == ("bsc", CDOG, "0x" + "1" * 40, "PancakeSwap")


def test_phanes_card_fields():
    card = parse_card("Phanes", PHANES, [], [CDOG])
    assert (card.name, card.ticker, card.mint, card.chain) == ("Cake Dog", "CDOG", CDOG, "bsc")
    assert (card.mcap_usd, card.liquidity_usd, card.age_s) == (1_200_000, 85_500, 3 * 86400)
    assert abs(card.price_usd - 0.0000482) < 1e-12
    assert (card.dex, card.bonding_pct) == (None, None)  # no venue on this card


def test_phanes_eth_and_base_hashtags():
    for tag, chain in (("#ETH", "ethereum"), ("#BASE", "base")):
        card = parse_card("Phanes", f"Pepe ($PEPE)\n├ {PEPE}\n└ {tag} | 🌱 1y", [], [])
        assert (card.chain, card.mint) == (chain, PEPE)


def test_evm_card_without_chain_leaves_it_open():
    card = parse_card("Phanes", f"Pepe ($PEPE)\n├ {PEPE}\n└ 🌱 1y", [], [])
    assert card.chain is None  # the caller's link/text may still give it; else 'unknown'


def test_card_without_token_is_none():
    assert parse_card("Rick", "⚠️ rate limited, try again", [], []) is None


def test_bot_names():
    assert bot_kind("Rick") == "Rick" and bot_kind("RickBurpBot") == "Rick"
    assert bot_kind("Phanes [Gold]") == "Phanes" and bot_kind("phanes_bot") == "Phanes"
    assert bot_kind("Mia") is None
    assert bot_kind("MyScanner", frozenset({"myscanner"})) == "bot"


# ---- card texts in both structures, one table per field --------------------------------------------------

BSC_PAIR, ETH_PAIR, BASE_PAIR = "0x" + "1" * 40, "0x" + "2" * 40, "0x" + "3" * 40
BASE_TOKEN = "0x4ed4e862860bed51a9570b96d89af5e1b0efefed"


def _rick(head: str, mint: str, *, chain="Solana @ Raydium", price="$0.0000482", fdv="$48.2K", liq="$19K",
          age="5h", tail="") -> str:
    lines = [head, f"🌐 {chain}", f"💰 USD: {price}"]
    if fdv:
        lines.append(f"💎 FDV: {fdv} ⇨ ATH: $52K")
    lines += [f"💦 Liq: {liq}", f"📊 Vol: $88K 🕰️ Age: {age}", "📈 1H: 42.8% ⋅ $42K 🅑 218 Ⓢ 109", "", mint]
    return "\n".join(lines) + tail


def _phanes(head: str, mint: str, *, tag="#SOL", age="8h", price="$0.0000482", mc="$48.2K", lp="$19K",
            tail="") -> str:
    return (f"{head}\n├ {mint}\n└ {tag} | 🌱 {age} | 👁️ 663\n\n📊 Stats\n├ USD: {price} (+4%)\n├ MC: {mc}\n"
            f"├ Vol: $88K\n├ LP: {lp}\n├ 1H: 42.8% 🅑 218 Ⓢ 109\n└ ATH: $3.38M (-33% / 10m)\n\n🔒 Security\n"
            f"├ Top 10: 21%\n├ Dev Sold: 🟢\n└ Dex Paid: 🔴\n{tail}")


def _links(mint: str, pair: str) -> list[str]:  # the row under a Solana card: DEX and PHO name the pool
    return [f"https://dexscreener.com/solana/{pair}", f"https://gmgn.ai/sol/token/{mint}",
            f"https://birdeye.so/token/{mint}?chain=solana", f"https://photon-sol.tinyastro.io/en/lp/{pair}?handle=1",
            f"https://neo.bullx.io/terminal?chainId=1399811149&address={mint}"]


# id -> (sender kind, text, hrefs, code parts)
CARDS = {
    "rick_links": ("Rick", _rick("💊 Doge Captain [48.2K/310%] $DCAP", DCAP),
                   [f"https://pump.fun/{DCAP}", *_links(DCAP, DCAP_PAIR)], ["$0.0000482", "$48.2K", DCAP]),
    # links written out in the text (JSON `link` entities): no href, no code part
    "rick_text_links": ("Rick", _rick("💊 Fin Coin [1.1M/5%] $$FIN", FIN, fdv="$1.1M", liq="$120K", age="2m",
                                      tail=f"\nDEX https://dexscreener.com/solana/{GRC} ⋅ PHO "
                                           f"https://photon-sol.tinyastro.io/en/lp/{GRC}?handle=1"),
                        [], []),
    "rick_photon_only": ("Rick", _rick("💊 Short Coin [3.38M/-12%] $SHRT", SHORT43, fdv="$3.38M", age="3d"),
                         [f"https://photon-sol.tinyastro.io/en/lp/{DCAP_PAIR}"], [SHORT43]),
    "rick_no_links": ("Rick", _rick("💊 Pump It [12K/1%] $PUMP", PUMP, fdv="$12K", liq="$4,500", age="45s"),
                      [], [PUMP]),
    "rick_plain_head": ("Rick", _rick("💊 Doge Captain $DCAP", DCAP), [], [DCAP]),
    "rick_header_mcap": ("Rick", _rick("💊 Doge Captain [51K/3%] $DCAP", DCAP, fdv=None), [], [DCAP]),
    "rick_bsc": ("Rick", _rick("💊 Cake Dog [1.2B/5%] $CDOG", CDOG, chain="BSC @ PancakeSwap", price="$0.01",
                               fdv="$1.2B", liq="$85.5K", age="8h"),
                 [f"https://dexscreener.com/bsc/{BSC_PAIR}"], [CDOG]),
    "rick_eth": ("Rick", _rick("💊 Pepe [3.38B/2%] $PEPE", PEPE, chain="Ethereum @ Uniswap V3",
                               price="$0.000008", fdv="$3.38B", liq="$48.2M", age="1y"),
                 [f"https://dexscreener.com/ethereum/{ETH_PAIR}"], [PEPE]),
    "rick_base": ("Rick", _rick("💊 Degen [1.2M/9%] $DEGEN", BASE_TOKEN, chain="Base @ Aerodrome",
                                price="$0.004", fdv="$1.2M", liq="$300K", age="1mo"),
                  [f"https://dexscreener.com/base/{BASE_PAIR}"], [BASE_TOKEN]),
    "phanes": ("Phanes", _phanes("Doge Captain ($DCAP)", DCAP), _links(DCAP, DCAP_PAIR), [DCAP]),
    "phanes_pill": ("Phanes", _phanes("💊 Trust Me Bro ($TRUST)", PUMP, age="2m", mc="$1.2M", lp="$85.5K"),
                    [], [PUMP]),
    "phanes_gold": (bot_kind("Phanes [Gold]"), _phanes("🟡 Gold Dog ($GDOG) 🔥", FIN, age="3d", mc="$3.38M"),
                    [f"https://birdeye.so/token/{FIN}/{GRC}?chain=solana"], [FIN]),
    "phanes_plain_text": ("Phanes", _phanes("Short Coin ($SHRT)", SHORT43, price="$0.0₄482", mc="48.2K",
                                            lp="19K"), [], []),
    "phanes_bsc": ("Phanes", _phanes("Cake Dog ($CDOG)", CDOG, tag="#BSC", price="$0.01", mc="$1.2B",
                                     age="3d"),
                   [f"https://dexscreener.com/bsc/{BSC_PAIR}"], [CDOG]),
    "phanes_eth": ("Phanes", _phanes("Pepe ($PEPE)", PEPE, tag="#ETH", price="$0.000008", mc="$1,234,567",
                                     lp="$48.2M", age="1y"), [], [PEPE]),
    "phanes_base": ("Phanes", _phanes("Degen ($DEGEN)", BASE_TOKEN, tag="#BASE", price="$0.004", mc="$1.2M",
                                      lp="$300K", age="1mo"),
                    [f"https://dexscreener.com/base/{BASE_PAIR}"], [BASE_TOKEN]),
    # the sender does not decide the structure: a Phanes card from Rick's name, a Rick card from an extra bot
    "phanes_from_rick": ("Rick", _phanes("💊 Trust Me Bro ($TRUST)", PUMP), [], [PUMP]),
    "rick_from_extra_bot": ("bot", _rick("💊 Doge Captain [48.2K/310%] $DCAP", DCAP), [], [DCAP]),
    # neither structure: what the labels say, no name or ticker
    "neither": ("bot", f"New token!\nCA: {DCAP}\nMC: $48.2K | Liq: $19K\nAge: 2m\n#SOL", [], [DCAP]),
}


def _card(key: str):
    bot, text, hrefs, codes = CARDS[key]
    return parse_card(bot, text, hrefs, codes)


def _table(field: str, expected: dict) -> list:
    assert set(expected) == set(CARDS), set(CARDS) ^ set(expected)
    return [pytest.param(key, field, value, id=key) for key, value in expected.items()]


def _check(key, field, value):
    got = getattr(_card(key), field)
    if isinstance(value, float):
        assert got == pytest.approx(value, rel=1e-9), (key, got)
    else:
        assert got == value, (key, got)


@pytest.mark.parametrize(("key", "field", "value"), _table("bot", {
    "rick_links": "Rick", "rick_text_links": "Rick", "rick_photon_only": "Rick", "rick_no_links": "Rick",
    "rick_plain_head": "Rick", "rick_header_mcap": "Rick", "rick_bsc": "Rick", "rick_eth": "Rick",
    "rick_base": "Rick", "phanes": "Phanes", "phanes_pill": "Phanes", "phanes_gold": "Phanes",
    "phanes_plain_text": "Phanes", "phanes_bsc": "Phanes", "phanes_eth": "Phanes", "phanes_base": "Phanes",
    "phanes_from_rick": "Rick",  # who sent it
    "rick_from_extra_bot": "Rick",  # an extra bot is named by the structure it posts
    "neither": "bot",
}))
def test_bot(key, field, value):
    _check(key, field, value)


@pytest.mark.parametrize(("key", "field", "value"), _table("name", {
    "rick_links": "Doge Captain", "rick_text_links": "Fin Coin", "rick_photon_only": "Short Coin",
    "rick_no_links": "Pump It", "rick_plain_head": "Doge Captain", "rick_header_mcap": "Doge Captain",
    "rick_bsc": "Cake Dog", "rick_eth": "Pepe", "rick_base": "Degen", "phanes": "Doge Captain",
    "phanes_pill": "Trust Me Bro", "phanes_gold": "Gold Dog", "phanes_plain_text": "Short Coin",
    "phanes_bsc": "Cake Dog", "phanes_eth": "Pepe", "phanes_base": "Degen",
    "phanes_from_rick": "Trust Me Bro",
    "rick_from_extra_bot": "Doge Captain", "neither": None,
}))
def test_name(key, field, value):
    _check(key, field, value)


@pytest.mark.parametrize(("key", "field", "value"), _table("ticker", {
    "rick_links": "DCAP", "rick_text_links": "FIN", "rick_photon_only": "SHRT", "rick_no_links": "PUMP",
    "rick_plain_head": "DCAP", "rick_header_mcap": "DCAP", "rick_bsc": "CDOG", "rick_eth": "PEPE",
    "rick_base": "DEGEN", "phanes": "DCAP", "phanes_pill": "TRUST", "phanes_gold": "GDOG",
    "phanes_plain_text": "SHRT", "phanes_bsc": "CDOG", "phanes_eth": "PEPE", "phanes_base": "DEGEN",
    "phanes_from_rick": "TRUST", "rick_from_extra_bot": "DCAP", "neither": None,
}))
def test_ticker(key, field, value):
    _check(key, field, value)


@pytest.mark.parametrize(("key", "field", "value"), _table("mint", {
    "rick_links": DCAP, "rick_text_links": FIN, "rick_photon_only": SHORT43, "rick_no_links": PUMP,
    "rick_plain_head": DCAP, "rick_header_mcap": DCAP, "rick_bsc": CDOG, "rick_eth": PEPE,
    "rick_base": BASE_TOKEN,
    "phanes": DCAP, "phanes_pill": PUMP, "phanes_gold": FIN, "phanes_plain_text": SHORT43, "phanes_bsc": CDOG,
    "phanes_eth": PEPE, "phanes_base": BASE_TOKEN, "phanes_from_rick": PUMP, "rick_from_extra_bot": DCAP,
    "neither": DCAP,
}))
def test_mint(key, field, value):
    _check(key, field, value)


@pytest.mark.parametrize(("key", "field", "value"), _table("pair", {
    "rick_links": DCAP_PAIR, "rick_text_links": GRC, "rick_photon_only": DCAP_PAIR, "rick_no_links": None,
    "rick_plain_head": None, "rick_header_mcap": None, "rick_bsc": BSC_PAIR, "rick_eth": ETH_PAIR,
    "rick_base": BASE_PAIR, "phanes": DCAP_PAIR, "phanes_pill": None,
    "phanes_gold": GRC,  # birdeye /token/<mint>/<pool>
    "phanes_plain_text": None, "phanes_bsc": BSC_PAIR, "phanes_eth": None, "phanes_base": BASE_PAIR,
    "phanes_from_rick": None, "rick_from_extra_bot": None, "neither": None,
}))
def test_pair(key, field, value):
    _check(key, field, value)


@pytest.mark.parametrize(("key", "field", "value"), _table("chain", {
    "rick_links": "solana", "rick_text_links": "solana", "rick_photon_only": "solana",
    "rick_no_links": "solana",
    "rick_plain_head": "solana", "rick_header_mcap": "solana", "rick_bsc": "bsc", "rick_eth": "ethereum",
    "rick_base": "base", "phanes": "solana", "phanes_pill": "solana", "phanes_gold": "solana",
    "phanes_plain_text": "solana", "phanes_bsc": "bsc", "phanes_eth": "ethereum", "phanes_base": "base",
    "phanes_from_rick": "solana", "rick_from_extra_bot": "solana", "neither": "solana",
}))
def test_chain(key, field, value):
    _check(key, field, value)


@pytest.mark.parametrize(("key", "field", "value"), _table("price_usd", {
    "rick_links": 0.0000482, "rick_text_links": 0.0000482, "rick_photon_only": 0.0000482,
    "rick_no_links": 0.0000482, "rick_plain_head": 0.0000482, "rick_header_mcap": 0.0000482, "rick_bsc": 0.01,
    "rick_eth": 0.000008, "rick_base": 0.004, "phanes": 0.0000482, "phanes_pill": 0.0000482,
    "phanes_gold": 0.0000482, "phanes_plain_text": 0.0000482, "phanes_bsc": 0.01, "phanes_eth": 0.000008,
    "phanes_base": 0.004, "phanes_from_rick": 0.0000482, "rick_from_extra_bot": 0.0000482, "neither": None,
}))
def test_price(key, field, value):
    _check(key, field, value)


@pytest.mark.parametrize(("key", "field", "value"), _table("mcap_usd", {
    "rick_links": 48_200.0, "rick_text_links": 1.1e6, "rick_photon_only": 3.38e6, "rick_no_links": 12_000.0,
    "rick_plain_head": 48_200.0,
    "rick_header_mcap": 51_000.0,  # no FDV line: the header's [MCAP/CHANGE%]
    "rick_bsc": 1.2e9, "rick_eth": 3.38e9, "rick_base": 1.2e6, "phanes": 48_200.0, "phanes_pill": 1.2e6,
    "phanes_gold": 3.38e6, "phanes_plain_text": 48_200.0, "phanes_bsc": 1.2e9, "phanes_eth": 1_234_567.0,
    "phanes_base": 1.2e6, "phanes_from_rick": 48_200.0, "rick_from_extra_bot": 48_200.0, "neither": 48_200.0,
}))
def test_market_cap(key, field, value):
    _check(key, field, value)


@pytest.mark.parametrize(("key", "field", "value"), _table("liquidity_usd", {
    "rick_links": 19_000.0, "rick_text_links": 120_000.0, "rick_photon_only": 19_000.0,
    "rick_no_links": 4_500.0,
    "rick_plain_head": 19_000.0, "rick_header_mcap": 19_000.0, "rick_bsc": 85_500.0, "rick_eth": 48.2e6,
    "rick_base": 300_000.0, "phanes": 19_000.0, "phanes_pill": 85_500.0, "phanes_gold": 19_000.0,
    "phanes_plain_text": 19_000.0, "phanes_bsc": 19_000.0, "phanes_eth": 48.2e6, "phanes_base": 300_000.0,
    "phanes_from_rick": 19_000.0, "rick_from_extra_bot": 19_000.0, "neither": 19_000.0,
}))
def test_liquidity(key, field, value):
    _check(key, field, value)


@pytest.mark.parametrize(("key", "field", "value"), _table("age_s", {
    "rick_links": 5 * 3600, "rick_text_links": 120, "rick_photon_only": 3 * 86400, "rick_no_links": 45,
    "rick_plain_head": 5 * 3600, "rick_header_mcap": 5 * 3600, "rick_bsc": 8 * 3600, "rick_eth": 365 * 86400,
    "rick_base": 30 * 86400, "phanes": 8 * 3600, "phanes_pill": 120, "phanes_gold": 3 * 86400,
    "phanes_plain_text": 8 * 3600, "phanes_bsc": 3 * 86400, "phanes_eth": 365 * 86400,
    "phanes_base": 30 * 86400,
    "phanes_from_rick": 8 * 3600, "rick_from_extra_bot": 5 * 3600, "neither": 120,
}))
def test_age(key, field, value):
    _check(key, field, value)


@pytest.mark.parametrize(("key", "field", "value"), _table("dex", {
    "rick_links": "Raydium", "rick_text_links": "Raydium", "rick_photon_only": "Raydium",
    "rick_no_links": "Raydium", "rick_plain_head": "Raydium", "rick_header_mcap": "Raydium",
    "rick_bsc": "PancakeSwap", "rick_eth": "Uniswap V3", "rick_base": "Aerodrome",
    # these Phanes cards name no venue
    "phanes": None, "phanes_pill": None, "phanes_gold": None, "phanes_plain_text": None, "phanes_bsc": None,
    "phanes_eth": None, "phanes_base": None, "phanes_from_rick": None,
    "rick_from_extra_bot": "Raydium", "neither": None,
}))
def test_dex(key, field, value):
    _check(key, field, value)


@pytest.mark.parametrize(("key", "field", "value"), _table("bonding_pct", {key: None for key in CARDS}))
def test_no_bonding_curve_without_its_line(key, field, value):
    _check(key, field, value)


# ---- pump.fun cards: the venue puts the token on its bonding curve, the label gives its progress -----------

PUMP_CARDS = {
    # id -> (sender, text, dex, bonding_pct, liquidity)
    "rick_pump_fun": ("Rick", _rick("💊 Pump It [12K/1%] $PUMP", PUMP, chain="Solana @ Pump.fun", fdv="$12K",
                                    liq="$4,500", tail="\n📈 Bonding Curve: 45.2%"),
                      "Pump.fun", 45.2, 4_500.0),
    "rick_pumpfun_bc": ("Rick", _rick("💊 Pump It [12K/1%] $PUMP", PUMP, chain="Solana @ pumpfun",
                                      tail="\nBC: 99.9% (84 SOL)"), "pumpfun", 99.9, 19_000.0),
    "rick_pump_fun_spaced": ("Rick", _rick("💊 Pump It [12K/1%] $PUMP", PUMP, chain="Solana @ Pump Fun",
                                           tail="\nBonding: 7%"), "Pump Fun", 7.0, 19_000.0),
    # the venue alone on a tree line, the progress in the Stats tree
    "phanes_pump_fun": ("Phanes", _phanes("💊 Trust Me Bro ($TRUST)", PUMP, lp="$9.1K").replace(
        f"├ {PUMP}\n", f"├ {PUMP}\n├ 💊 Pump.fun\n").replace("├ 1H:", "├ Bonding: 63.5%\n├ 1H:"),
        "Pump.fun", 63.5, 9_100.0),
    "phanes_dex_line": ("Phanes", _phanes("Doge Captain ($DCAP)", DCAP).replace(
        f"├ {DCAP}\n", f"├ {DCAP}\n├ 🔵 Raydium CPMM\n"), "Raydium CPMM", None, 19_000.0),
    "phanes_dex_label": ("Phanes", _phanes("Doge Captain ($DCAP)", DCAP).replace(
        "├ Vol:", "├ DEX: Meteora DLMM\n├ Vol:"), "Meteora DLMM", None, 19_000.0),
    # no venue named: the label says it is a curve
    "phanes_curve_no_venue": ("Phanes", _phanes("💊 Trust Me Bro ($TRUST)", PUMP).replace(
        "├ 1H:", "├ 📈 Bonding Curve: ▰▰▰▱▱ 60%\n├ 1H:"), None, 60.0, 19_000.0),
    # migrated: the pool is no curve, whatever the card still says of it
    "rick_migrated": ("Rick", _rick("💊 Pump It [90K/1%] $PUMP", PUMP, chain="Solana @ PumpSwap",
                                    tail="\n📈 Bonding Curve: 100%"), "PumpSwap", None, 19_000.0),
    # on the curve, progress not shown
    "rick_pump_fun_no_progress": ("Rick", _rick("💊 Pump It [12K/1%] $PUMP", PUMP, chain="Solana @ Pump.fun"),
                                  "Pump.fun", None, 19_000.0),
}


@pytest.mark.parametrize("key", list(PUMP_CARDS))
def test_pump_fun_venue_and_bonding_curve(key):
    bot, text, dex, pct, liq = PUMP_CARDS[key]
    card = parse_card(bot, text, [], [])
    assert card.mint in (PUMP, DCAP) and card.chain == "solana"
    assert (card.dex, card.bonding_pct, card.liquidity_usd) == (dex, pct, liq)
    assert card.bot == card_format(text, bot)  # the new lines change no structure


@pytest.mark.parametrize(("text", "venue"), [
    ("🌐 Solana @ Raydium", "Raydium"),
    ("🌐 Ethereum @ Uniswap V3\n💰 USD: $1", "Uniswap V3"),
    ("🌐 BSC @ PancakeSwap ⋅ 🔥", "PancakeSwap"),        # a field separator ends it
    ("🌐 Solana @ Pump.fun 💊", "Pump.fun"),              # trailing emoji are no part of it
    ("🌐 Solana @ \n├ Orca", "Orca"),                    # an empty venue is none
    ("├ 💊 Pump.fun", "Pump.fun"), ("└ 💊 PUMP.FUN", "PUMP.FUN"),
    ("├ DEX: Meteora DLMM | 12%", "Meteora DLMM"),
    ("└ Dex Paid: 🔴", None),                              # a label, not a venue
    ("fees on raydium are crazy", None),                  # a venue named in a sentence is not the card's
    ("Top 10: 21%", None), ("", None),
])
def test_venues(text, venue):
    assert parse_venue(text) == venue


@pytest.mark.parametrize(("text", "venue", "pct"), [
    ("📈 Bonding Curve: 45.2%", None, 45.2), ("├ Bonding: 45%", "Pump.fun", 45.0),
    ("BC: 99.9% (84 SOL)", "pumpfun", 99.9), ("bonding curve progress: ▰▰▰▱▱ 60%", "pump fun", 60.0),
    ("Bonding Curve: 0%", None, 0.0),
    ("Bonding Curve: 45.2%", "Raydium", None),   # migrated: a pool, no curve
    ("Bonding Curve: 45.2%", "PumpSwap", None),
    ("ABC: 45%", None, None),                     # not the BC label
    ("Bonding: 120%", None, None),                # no progress
    ("Bonding Curve: n/a", None, None), ("Bonding Curve: 45", None, None),
])
def test_bonding_progress(text, venue, pct):
    assert parse_bonding(text, venue) == pct


def test_pump_fun_spellings():
    assert all(map(is_pump_fun, ("Pump.fun", "pumpfun", "PUMP FUN", "pump.fun", "💊 Pump.fun")))
    assert not any(map(is_pump_fun, ("PumpSwap", "Pump.fun AMM", "Raydium", "", None)))


@pytest.mark.parametrize(("key", "fmt"), [
    ("rick_links", "Rick"), ("rick_text_links", "Rick"), ("rick_plain_head", "Rick"), ("rick_bsc", "Rick"),
    ("phanes", "Phanes"), ("phanes_pill", "Phanes"), ("phanes_gold", "Phanes"), ("phanes_eth", "Phanes"),
    ("phanes_from_rick", "Phanes"), ("rick_from_extra_bot", "Rick"), ("neither", None),
])
def test_structure(key, fmt):
    assert card_format(CARDS[key][1], CARDS[key][0]) == fmt


def test_structure_is_not_the_pill_or_the_sender():
    assert card_format("💊 Trust Me Bro ($TRUST)") == "Phanes"   # the header shape, not the emoji
    assert card_format("💊 Doge Captain [48K/1%] $DCAP") == "Rick"
    assert card_format("💊 just a pill", "Rick") is None  # nothing of either: the sender alone is not enough
    # a tie between the two structures goes to the sender
    assert card_format("Pepe ($PEPE)\n💰 USD: $1", "Rick") == "Rick"
    assert card_format("Pepe ($PEPE)\n💰 USD: $1", "Phanes") == "Phanes"
    assert card_format("Pepe ($PEPE)\n💰 USD: $1", "bot") is None


# ---- real cards read wrongly before: Phanes cards opening with 💊, pools only in links, ages --------------

@pytest.mark.parametrize(("head", "name", "ticker"), [
    ("💊 TRUST ($TRUST)", "TRUST", "TRUST"),
    ("💊 1% ($1%)", "1%", "1%"),
    ("💊 BLOOPERMAN ($BLOOPERMAN)", "BLOOPERMAN", "BLOOPERMAN"),
    ("💊 God's Plan ($GODS)", "God's Plan", "GODS"),
], ids=["TRUST", "1%", "BLOOPERMAN", "God's Plan"])
def test_phanes_card_opening_with_a_pill_keeps_its_header(head, name, ticker):
    for bot in ("Phanes", "Rick", "bot"):
        card = parse_card(bot, _phanes(head, PUMP), [], [PUMP])
        assert (card.name, card.ticker) == (name, ticker), bot


def test_rick_pool_only_in_written_out_links():
    # no href and no code part: the pool comes from the URL in the text, and is never taken for the mint
    for url in (f"https://dexscreener.com/solana/{GRC}", f"https://photon-sol.tinyastro.io/en/lp/{GRC}?handle=1"):
        text = f"{url}\n" + _rick("💊 Fin Coin [1.1M/5%] $FIN", FIN)
        card = parse_card("Rick", text, [], [])
        assert (card.mint, card.pair) == (FIN, GRC), url
    # a link that names the token itself is no pool
    card = parse_card("Rick", _rick("💊 Fin Coin [1.1M/5%] $FIN", FIN), [f"https://dexscreener.com/solana/{FIN}"],
                      [FIN])
    assert card.pair is None


@pytest.mark.parametrize(("text", "seconds"), [
    ("Age: 2m", 120), ("Age: 8h", 8 * 3600), ("Age: 3d", 3 * 86400), ("Age: 1mo", 30 * 86400),
    ("Age: 1y", 365 * 86400), ("Age: 45s", 45), ("Age: 2w", 14 * 86400),
    ("🌱\ufe0f 2m | 👁️ 12", 120),   # the sprout with its variation selector
    ("Age: 2min", 120), ("Age: 2 mins", 120), ("Age: 3 days", 3 * 86400), ("Age: ~2h", 7200),
    ("Age: 2m30s", 150), ("Age: 1h 30m", 5400), ("Age: 1d 2h", 26 * 3600),
    ("Age: 5h\n📈 1H: 42%", 5 * 3600),  # the next line is not part of it
    ("Age: 2M", None),                   # minutes or months: not read
    ("Age: n/a", None), ("no age here", None),
])
def test_ages(text, seconds):
    assert parse_age(text) == seconds


@pytest.mark.parametrize(("raw", "value"), [
    ("$48.2K", 48_200.0), ("48.2K", 48_200.0), ("$3.38M", 3.38e6), ("$1.2B", 1.2e9), ("1.2b", 1.2e9),
    ("$1,234,567", 1_234_567.0), ("$1,234.5", 1234.5), ("$540", 540.0), ("$0.0₄482", 0.0000482),
    ("$0.0₁₂5", 5e-13), ("$", None), ("", None),
])
def test_amounts(raw, value):
    got = parse_amount(raw)
    assert got == (pytest.approx(value, rel=1e-9) if value else value)


@pytest.mark.parametrize(("line", "liq"), [
    ("💦 Liq: $540\nBuys: 12", 540.0),        # the next line's B is no suffix
    ("💦 Liq: 45 SOL ($19K)", 19_000.0),      # a figure in SOL is not dollars
    ("💦 Liq: 45 SOL", None),
    ("💦 Liq: $1.2Bn", None),
    ("💦 Liq: 19 K", 19_000.0),
], ids=["next-line", "in-sol-then-usd", "in-sol", "glued-letters", "spaced-suffix"])
def test_labelled_figures(line, liq):
    assert parse_card("Rick", f"💊 Fin Coin [1.1M/5%] $FIN\n{line}\n{FIN}", [], []).liquidity_usd == liq


def test_cards_in_an_export(tmp_path):
    """Through the JSON reader: a Phanes card opening with 💊, a Rick card whose links are `link` entities."""
    def msg(mid, sender, text, reply=None):
        m = {"id": mid, "type": "message", "date_unixtime": str(1700000000 + mid), "from": sender,
             "from_id": f"user{mid}", "text": text}
        return m | ({"reply_to_message_id": reply} if reply else {})

    rick = _rick("💊 Fin Coin [1.1M/5%] $FIN", FIN)
    msgs = [msg(1, "Mia", f"gm {PUMP}"),
            msg(2, "Phanes [Gold]", [{"type": "bold", "text": "💊 God's Plan ($TRUST)"},
                                     _phanes("", PUMP, age="2m")], reply=1),
            msg(3, "Bob", f"https://dexscreener.com/solana/{GRC}"),
            msg(4, "RickBurpBot", [rick, "\n", {"type": "link", "text": f"https://dexscreener.com/solana/{GRC}"}],
                reply=3)]
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"name": "X", "type": "private_group", "id": 5, "messages": msgs}))
    rows = {r["message_id"]: r for r in parse_export(path).calls.to_pylist()}
    assert (rows[1]["card_bot"], rows[1]["card_name"], rows[1]["card_ticker"], rows[1]["card_age_s"]) == (
        "Phanes", "God's Plan", "TRUST", 120)
    assert (rows[3]["address"], rows[3]["pair_address"], rows[3]["card_ticker"]) == (FIN, GRC, "FIN")
    assert (rows[1]["card_dex"], rows[1]["card_bonding_pct"]) == (None, None)
    assert (rows[3]["card_dex"], rows[3]["card_bonding_pct"]) == ("Raydium", None)


def test_pump_fun_cards_in_an_export(tmp_path):
    """card_dex and card_bonding_pct reach telegram_calls rows, from either bot."""
    def msg(mid, sender, text, reply=None):
        m = {"id": mid, "type": "message", "date_unixtime": str(1700000000 + mid), "from": sender,
             "from_id": f"user{mid}", "text": text}
        return m | ({"reply_to_message_id": reply} if reply else {})

    rick, phanes = PUMP_CARDS["rick_pump_fun"][1], PUMP_CARDS["phanes_pump_fun"][1]
    msgs = [msg(1, "Mia", f"gm {PUMP}"), msg(2, "Rick", rick, reply=1),
            msg(3, "Bob", f"ape {PUMP}"), msg(4, "Phanes", phanes, reply=3),
            msg(5, "Kai", f"old one {DCAP}"), msg(6, "Rick", _rick("💊 Doge Captain [48.2K/310%] $DCAP", DCAP),
                                                   reply=5)]
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"name": "X", "type": "private_group", "id": 5, "messages": msgs}))
    calls = parse_export(path).calls
    assert calls.schema.field("card_bonding_pct").type == "double"
    rows = {r["message_id"]: r for r in calls.to_pylist()}
    assert (rows[1]["card_dex"], rows[1]["card_bonding_pct"], rows[1]["card_liquidity_usd"]) == (
        "Pump.fun", 45.2, 4_500)
    assert (rows[3]["card_dex"], rows[3]["card_bonding_pct"], rows[3]["card_liquidity_usd"]) == (
        "Pump.fun", 63.5, 9_100)
    assert (rows[5]["card_dex"], rows[5]["card_bonding_pct"]) == ("Raydium", None)
