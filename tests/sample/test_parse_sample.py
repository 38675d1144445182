"""The sample through the real parser: all planned calls found, both card bots, quarantine only if planted."""

from __future__ import annotations

import pytest

from quantbot_pipelines.candles import CandleRequest, SyntheticMarket
from quantbot_pipelines.sample.market import GRADUATION_MCAP

telegram = pytest.importorskip("quantbot_pipelines.telegram")


def test_parser_reads_the_sample_as_planned(sample_inbox, sample):
    exports = telegram.find_exports(sample_inbox)
    assert len(exports) == 3
    found, callers, bots, quarantined = set(), set(), set(), set()
    for ref in exports:
        parsed = telegram.parse_export(ref.path, export_id=ref.key)
        calls = parsed.calls.to_pylist()
        found |= {(c["chat_name"], c["message_id"]) for c in calls}
        callers |= {c["caller_id"] for c in calls}
        bots |= {c["card_bot"] for c in calls if c["card_bot"]}
        quarantined |= {(q["chat_name"], q["message_id"]) for q in parsed.quarantine.to_pylist()}
    planned = {(c.defn.name, m.id) for c in sample.chats.values() for m in c.messages if m.role == "call"}
    edges = {(sample.chats[k].defn.name, m.id) for k, m, _ in sample.edge_cases}
    assert len(found) > 100
    assert len(callers) >= 6
    assert bots >= {"Rick", "Phanes"}
    assert planned <= found, sorted(planned - found)[:10]
    assert found - planned <= edges  # e.g. the EVM call without chain, recorded with chain unknown
    assert quarantined <= edges, sorted(quarantined - edges)


def test_card_venues_bonding_curves_and_pools_in_both_formats(sample_inbox, sample):
    """Cards carry the venue; pump.fun tokens on their curve show its progress and no pool; the liquidity a
    card shows is the pool the synthetic candle market reports for the token."""
    rows = []
    for ref in telegram.find_exports(sample_inbox):
        rows += telegram.parse_export(ref.path, export_id=ref.key).calls.to_pylist()
    carded = [r for r in rows if r["card_bot"]]
    assert {r["card_dex"] for r in carded if r["card_bot"] == "Rick"} >= {"Raydium", "PumpSwap", "Pump.fun",
                                                                          "PancakeSwap"}
    curve = [r for r in carded if r["card_bonding_pct"] is not None]
    assert {(r["source_format"], r["card_bot"]) for r in curve} == {(f, b) for f in ("json", "html")
                                                                    for b in ("Rick", "Phanes")}
    for r in curve:
        assert r["card_dex"] == "Pump.fun" and r["address"].endswith("pump") and r["card_liquidity_usd"] is None
        assert 0 < r["card_bonding_pct"] <= 100 and r["card_mcap_usd"] < GRADUATION_MCAP
    assert {r["card_dex"] for r in carded if r["card_bonding_pct"] is None} >= {"Raydium", None}
    # Phanes names a venue only for a curve
    assert all(r["card_dex"] in (None, "Pump.fun") for r in carded if r["card_bot"] == "Phanes")
    market = SyntheticMarket(seed=sample.spec.seed)
    shown = [r for r in carded if r["card_liquidity_usd"] is not None]
    assert len(shown) > 50
    for r in shown:
        pool = market.pool_liquidity_usd(r["chain"], r["address"])
        assert 5e3 <= pool <= 2e5 and 0.84 <= r["card_liquidity_usd"] / pool <= 1.16, r
    r = shown[0]
    ts = int(r["call_ts"].timestamp())
    start = ts - ts % 60
    got = market.fetch(CandleRequest(r["chain"], r["address"], "1m", start, start + 3600, anchor_ts=ts))
    assert got.pool_liquidity_usd == market.pool_liquidity_usd(r["chain"], r["address"])
