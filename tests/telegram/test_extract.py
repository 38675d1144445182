from __future__ import annotations

import pytest

from quantbot_pipelines.telegram.extract import extract_tokens, is_solana_mint, link_tokens, text_chain_hint
from tests.telegram.conftest import CDOG, CDOG_RAW, DCAP, DCAP_PAIR, NOT_32_BYTES, PEPE, PUMP, SHORT43


def test_base58_mints_decode_to_exactly_32_bytes():
    assert is_solana_mint(DCAP) and is_solana_mint(PUMP) and is_solana_mint(SHORT43)
    for s in NOT_32_BYTES:
        assert not is_solana_mint(s)
    assert not is_solana_mint("1" * 32)                 # system program: all zero bytes
    assert not is_solana_mint(DCAP.replace("x", "0"))   # '0' is not base58
    assert not is_solana_mint(DCAP[:-1] + "l")          # nor is 'l'


def test_text_extraction_keeps_solana_case_and_lowercases_evm():
    toks = extract_tokens(f"buy {DCAP} and {CDOG_RAW} #bsc")
    by = {t.address: t for t in toks}
    assert by[DCAP].chain == "solana" and by[DCAP].address_raw == DCAP and by[DCAP].source == "text"
    assert by[CDOG].address_raw == CDOG_RAW and by[CDOG].chain == "bsc"


def test_evm_without_chain_is_unknown_never_a_default():
    (tok,) = extract_tokens(f"ape {CDOG_RAW}")
    assert tok.chain == "unknown"


def test_not_tokens():
    text = " ".join(NOT_32_BYTES) + " 0x" + "0" * 40 + " " + "1" * 32 + " 0x" + "a" * 64 + " " + DCAP + "extra"
    assert extract_tokens(text) == []


def test_glued_text_is_not_an_address():
    assert extract_tokens("x" + DCAP) == []
    assert [t.address for t in extract_tokens(f"({DCAP}).")] == [DCAP]


@pytest.mark.parametrize("url, chain, address, kind", [
    # links to a pool (pair): not the token
    (f"https://dexscreener.com/solana/{DCAP_PAIR}", "solana", DCAP_PAIR, "pair"),
    (f"https://dexscreener.com/ethereum/{PEPE}", "ethereum", PEPE, "pair"),
    (f"https://dexscreener.com/bsc/{CDOG_RAW}?maker=1", "bsc", CDOG, "pair"),
    (f"https://photon-sol.tinyastro.io/en/lp/{DCAP_PAIR}", "solana", DCAP_PAIR, "pair"),
    (f"https://www.dextools.io/app/en/solana/pair-explorer/{DCAP_PAIR}?t=1", "solana", DCAP_PAIR, "pair"),
    (f"https://www.dextools.io/app/en/ether/pair-explorer/{PEPE}", "ethereum", PEPE, "pair"),
    (f"https://www.geckoterminal.com/solana/pools/{DCAP_PAIR}", "solana", DCAP_PAIR, "pair"),
    (f"https://www.geckoterminal.com/polygon_pos/pools/{PEPE}", "polygon", PEPE, "pair"),
    (f"https://axiom.trade/meme/{DCAP_PAIR}", "solana", DCAP_PAIR, "pair"),
    # links to the token (mint)
    (f"https://pump.fun/{PUMP}", "solana", PUMP, "mint"),
    (f"https://pump.fun/coin/{PUMP}", "solana", PUMP, "mint"),
    (f"https://birdeye.so/token/{DCAP}?chain=solana", "solana", DCAP, "mint"),
    (f"https://birdeye.so/token/{PEPE}?chain=ethereum", "ethereum", PEPE, "mint"),
    (f"https://solscan.io/token/{DCAP}", "solana", DCAP, "mint"),
    (f"https://gmgn.ai/sol/token/{DCAP}", "solana", DCAP, "mint"),
    (f"https://gmgn.ai/base/token/{PEPE}", "base", PEPE, "mint"),
    (f"https://photon-sol.tinyastro.io/en/token/{DCAP}", "solana", DCAP, "mint"),
    (f"https://neo.bullx.io/terminal?chainId=1399811149&address={DCAP}", "solana", DCAP, "mint"),
    (f"https://bullx.io/terminal?chainId=56&address={CDOG_RAW}", "bsc", CDOG, "mint"),
    # a link that does not say
    (f"https://photon-sol.tinyastro.io/en/r/@caller/{DCAP}", "solana", DCAP, "unknown"),
])
def test_every_link_host(url, chain, address, kind):
    """docs/semantics.md#calls, "what a link names"."""
    (tok,) = link_tokens([url])
    assert (tok.chain, tok.address, tok.kind, tok.source) == (chain, address, kind, "link")
    assert tok.maybe_pair == (kind == "pair")  # what cards read
    # the same link inside plain text
    (tok2,) = extract_tokens(f"look {url} now")
    assert (tok2.chain, tok2.address, tok2.kind) == (chain, address, kind)


def test_text_addresses_are_of_unknown_kind():
    assert {t.kind for t in extract_tokens(f"buy {DCAP} and {CDOG_RAW} #bsc")} == {"unknown"}


def test_other_pages_of_pool_sites_stay_text():
    # only their pool pages are read as links; an address elsewhere in them is what the text says
    (tok,) = extract_tokens(f"https://www.geckoterminal.com/solana/tokens/{DCAP}")
    assert (tok.source, tok.kind) == ("text", "unknown")
    assert link_tokens([f"https://www.dextools.io/app/en/solana/token/{DCAP}"]) == []


def test_link_with_invalid_address_is_ignored():
    assert link_tokens([f"https://pump.fun/{NOT_32_BYTES[0]}", "https://dexscreener.com/solana/"]) == []
    assert extract_tokens("https://birdeye.so/token/0x" + "0" * 40 + "?chain=ethereum") == []


def test_link_and_text_of_same_token_count_once():
    toks = extract_tokens(f"{DCAP} https://pump.fun/{DCAP}")
    assert len(toks) == 1 and toks[0].source == "link"


def test_text_chain_hints():
    assert text_chain_hint("new gem #ETH") == "ethereum"
    assert text_chain_hint("launching on base today") == "base"
    assert text_chain_hint("#bsc or #eth?") is None          # ambiguous: not guessed
    assert text_chain_hint("the base layer") is None
