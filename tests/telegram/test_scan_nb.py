"""The numba scanners keep Python's answers: the UTF-8 check = Python's strict decoder, and the JSON scanner's
candidate test."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quantbot_pipelines.telegram.scan_nb import (
    BYTE_CLASSES,
    EV_DEEP,
    EV_MSG,
    MAX_DEPTH,
    _scan_message,
    new_state,
    scan,
    utf8_valid,
)


def _py_valid(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _nb_valid(b: bytes) -> bool:
    return bool(utf8_valid(np.frombuffer(b, np.uint8)))


def test_utf8_check_matches_python_on_every_lead_and_second_byte():
    # overlongs (C0, E0 80, F0 80), surrogates (ED A0), > U+10FFFF (F4 90, F5+), lone and cut sequences
    bad = 0
    for c0 in range(256):
        for c1 in range(256):
            for tail in (b"", b"\x80", b"\x80\x80", b"\xbf\xbf", b"a"):
                b = bytes([c0, c1]) + tail
                bad += _nb_valid(b) != _py_valid(b)
    assert bad == 0
    assert _nb_valid("💊 Pepe €".encode()) and not _nb_valid(b"\xed\xa0\x80") and _nb_valid(b"")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=4), st.text(max_size=3).map(str.encode)), max_size=12))
def test_utf8_check_matches_python_on_mixed_bytes(pieces):
    b = b"".join(pieces)
    assert _nb_valid(b) == _py_valid(b)



def test_scanner_candidate_rule():
    """A message is decoded only when a string holds 32-44 base58 characters or 0x + 40 hex digits."""
    def cand(s: str) -> bool:
        raw = ('{"id": 1, "text": "' + s + '"}').encode()
        end, flag, _, _ = _scan_message(np.frombuffer(raw, np.uint8), 0, len(raw), BYTE_CLASSES)
        assert end == len(raw)
        return bool(flag)

    b58 = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"  # 44
    assert cand(b58) and cand(b58[:32]) and not cand(b58[:31]) and not cand(b58 + "z")
    assert not cand(b58[:20] + "0" + b58[21:])             # '0' is not base58
    assert cand("buy " + b58[:40] + "!") and cand("a\\n" + b58[:33])
    evm = "0xAbCdEf0123456789abcdef0123456789ABCDEF01"
    assert cand(evm) and cand("0X" + evm[2:]) and not cand(evm + "0") and not cand(evm[:-1] + "g")
    assert not cand("1x" + evm[2:]) and not cand("é" * 50)


def _msg_scan(raw: bytes):
    return _scan_message(np.frombuffer(raw, np.uint8), 0, len(raw), BYTE_CLASSES)


def test_a_message_past_max_depth_is_walked_to_its_end_and_flagged():
    addr = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"
    for depth, deep in ((MAX_DEPTH - 1, False), (MAX_DEPTH, True), (5000, True)):
        # the message object is level 1: its text list adds `depth` more
        raw = ('{"id": 1, "text": ' + "[" * depth + f'"{addr}"' + "]" * depth + ', "x": "}]"}').encode()
        end, cand, te_s, te_e = _msg_scan(raw)
        assert end == len(raw) and cand == 1
        assert ((te_s, te_e) == (-1, -1)) == deep, depth


def _events(doc: bytes, chunk: int) -> list[tuple]:
    st, kind, expkey, keyid, pos = new_state()
    ev = np.zeros((64, 5), np.int64)
    out, carry, base = [], b"", 0
    for i in range(0, len(doc) + 1, chunk):
        piece = doc[i:i + chunk]
        buf = np.frombuffer(carry + piece, np.uint8)
        ev[:] = 0  # columns an event does not use keep old values
        nev, carry_from, _ = scan(buf, base, not piece, st, kind, expkey, keyid, pos, ev, 64, BYTE_CLASSES)
        out += [tuple(r) for r in ev[:nev].tolist()]
        if carry_from >= 0:
            carry, base = bytes(buf[carry_from:]), base + carry_from
        else:
            carry, base = b"", base + len(buf)
    return out


def test_nesting_past_max_depth_outside_messages_is_skipped_and_reported():
    addr = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"
    deep = '{"k": "]", "v": ' * MAX_DEPTH + "[1]" + "}" * MAX_DEPTH
    doc = ('{"about": ' + deep + ', "name": "C", "id": 7, "messages": [{"id": 1, "text": "' + addr + '"}]}').encode()
    ref = None
    for chunk in (1, 5, 64, len(doc)):
        events = _events(doc, chunk)
        assert [e[0] for e in events].count(EV_DEEP) == 1
        (at,) = [e[1] for e in events if e[0] == EV_DEEP]
        assert doc[at:at + 1] == b"{" and doc[:at].count(b"{") == MAX_DEPTH  # the level past MAX_DEPTH
        (msg,) = [e for e in events if e[0] == EV_MSG]
        assert doc[msg[1]:msg[2]] == b'{"id": 1, "text": "' + addr.encode() + b'"}'
        assert ref is None or events == ref, chunk
        ref = events
