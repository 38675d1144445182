"""The speed-ups keep the results: numba UTF-8 check = Python's strict decoder, HTML read-ahead with a bad or
blank part, and the JSON reader's growing chunks."""

from __future__ import annotations

import shutil

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quantbot_pipelines.telegram import parse_export
from quantbot_pipelines.telegram.calls import CallBuilder
from quantbot_pipelines.telegram.html_export import parse_html_folder
from quantbot_pipelines.telegram.json_stream import parse_json_file, utf8_valid
from tests.telegram.conftest import GRC


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


def _html(folder, fast: bool):
    b = CallBuilder(export_id="t", source_format="html")
    parse_html_folder(folder, b, None, fast=fast)
    r = b.result()
    return r.calls.to_pylist(), r.quarantine.to_pylist(), {k: v for k, v in r.stats.items() if k != "seconds"}


def test_html_invalid_utf8_and_blank_part_read_ahead(fixtures, tmp_path):
    folder = tmp_path / "chat"
    shutil.copytree(fixtures / "html_chat", folder)
    first = folder / "messages.html"
    data = first.read_bytes()
    cut = data.index(b'class="text"') + 40
    first.write_bytes(data[:cut] + b"\xff\xfe" + data[cut:])
    (folder / "messages3.html").write_bytes(b" \n\t\n")  # whitespace only: an empty part
    fast, full = _html(folder, True), _html(folder, False)
    assert fast == full
    calls, quarantine, stats = fast
    reasons = {q["reason"]: q for q in quarantine}
    assert set(reasons) == {"invalid_utf8", "missing_parts"}
    assert f"at byte {cut}" in reasons["invalid_utf8"]["detail"]
    assert "messages3.html" in reasons["missing_parts"]["detail"]
    assert GRC in {c["address"] for c in calls} and stats["chats"] == 1  # the rest still parsed


def test_json_growing_chunks_match_one_read(fixtures, tmp_path):
    # a file bigger than the first 1 MB read: messages cut by the 1, 2, 4 MB ... steps and the final chunk
    src = (fixtures / "one_chat.json").read_bytes()
    head, _, rest = src.partition(b'"messages": [')
    msgs = rest.rsplit(b"]", 1)[0].strip()
    big = head + b'"messages": [' + b",".join([msgs] * 900) + b"]}"
    p = tmp_path / "big.json"
    p.write_bytes(big)
    assert len(big) > 3 << 20

    def run(**kw):
        b = CallBuilder(export_id="t", source_format="json")
        parse_json_file(p, b, None, **kw)
        return b.result()

    ref, small = run(), run(chunk=64 << 10)
    assert ref.calls.equals(small.calls) and ref.stats["messages"] == small.stats["messages"]
    assert ref.stats["messages"] == 900 * parse_export(fixtures / "one_chat.json").stats["messages"]


def test_scanner_candidate_rule():
    """A message is decoded only when a string holds 32-44 base58 characters or 0x + 40 hex digits."""
    from quantbot_pipelines.telegram.json_stream import _CLS, _scan_message

    def cand(s: str) -> bool:
        raw = ('{"id": 1, "text": "' + s + '"}').encode()
        end, flag, _, _ = _scan_message(np.frombuffer(raw, np.uint8), 0, len(raw), _CLS)
        assert end == len(raw)
        return bool(flag)

    b58 = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"  # 44
    assert cand(b58) and cand(b58[:32]) and not cand(b58[:31]) and not cand(b58 + "z")
    assert not cand(b58[:20] + "0" + b58[21:])             # '0' is not base58
    assert cand("buy " + b58[:40] + "!") and cand("a\\n" + b58[:33])
    evm = "0xAbCdEf0123456789abcdef0123456789ABCDEF01"
    assert cand(evm) and cand("0X" + evm[2:]) and not cand(evm + "0") and not cand(evm[:-1] + "g")
    assert not cand("1x" + evm[2:]) and not cand("é" * 50)
