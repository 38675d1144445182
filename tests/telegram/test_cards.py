from __future__ import annotations

from quantbot_pipelines.telegram.cards import bot_kind, parse_age, parse_amount, parse_card
from tests.telegram.conftest import CDOG, DCAP, DCAP_PAIR, PEPE

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


def test_rick_card_evm_chain_from_globe_line():
    text = f"💊 Cake Dog [1.2M/5%] $CDOG\n🌐 BSC @ PancakeSwap\n💰 USD: $0.01\n💎 FDV: $1.2M\n{CDOG}"
    card = parse_card("Rick", text, [f"https://dexscreener.com/bsc/0x{'1' * 40}"], [CDOG])
    assert (card.chain, card.mint, card.pair) == ("bsc", CDOG, "0x" + "1" * 40)


def test_phanes_card_fields():
    card = parse_card("Phanes", PHANES, [], [CDOG])
    assert (card.name, card.ticker, card.mint, card.chain) == ("Cake Dog", "CDOG", CDOG, "bsc")
    assert (card.mcap_usd, card.liquidity_usd, card.age_s) == (1_200_000, 85_500, 3 * 86400)
    assert abs(card.price_usd - 0.0000482) < 1e-12


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
