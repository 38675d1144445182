"""The sample through the real parser: all planned calls found, both card bots, quarantine only if planted."""

from __future__ import annotations

import pytest

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
