"""One address-candidate rule everywhere: the numba scanners (JSON and HTML), the HTML text check, the extraction
regexes and both readers end to end accept exactly the same strings."""

from __future__ import annotations

import html
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantbot_pipelines.telegram import html_export
from quantbot_pipelines.telegram.addresses import B58_ALPHABET, HEX_DIGITS, char_class, has_candidate
from quantbot_pipelines.telegram.calls import CallBuilder
from quantbot_pipelines.telegram.extract import EVM_RE, SOL_RE
from quantbot_pipelines.telegram.html_export import parse_html_folder
from quantbot_pipelines.telegram.json_export import parse_json_file
from quantbot_pipelines.telegram.scan_nb import BYTE_CLASSES, C_B58, _scan_message, address_runs
from tests.telegram.conftest import CDOG_RAW, DCAP, DCAP_PAIR, PEPE, PUMP, SHORT43

HEX40 = CDOG_RAW[2:]  # mixed case
# (text, holds a candidate); '0X' runs are candidates that extraction never takes (EVM_RE wants '0x')
CASES = [
    (DCAP[:31], False),
    (DCAP[:32], True),
    (SHORT43, True),
    (DCAP, True),                                   # 44
    (DCAP + "z", False),                            # 45
    ("1" * 32, True),                               # the zero key: a candidate, not an address
    (DCAP[:20] + "0" + DCAP[21:], False),           # 0, O, I, l are not base58
    (DCAP[:20] + "O" + DCAP[21:], False),
    (DCAP[:20] + "I" + DCAP[21:], False),
    (DCAP[:20] + "l" + DCAP[21:], False),
    ("0" + DCAP[:32], False),                       # glued to a non-base58 letter or digit
    (DCAP[:40] + "l", False),
    ("O" + SHORT43, False),
    (DCAP[:20] + " " + DCAP[20:], False),           # two short runs
    ("abcdef123456789abcdef123456789abcdef1234", True),  # hex without '0x' is base58
    ("0x" + HEX40, True),
    (PEPE, True),
    ("0x" + HEX40.upper(), True),
    ("0X" + HEX40, True),
    ("0x" + HEX40[:39], False),
    ("0x" + HEX40 + "a", False),
    ("0x" + HEX40[:39] + "g", False),
    ("1x" + HEX40, False),
    ("a0x" + HEX40, False),
    ("0x" + HEX40 + "_", True),                     # '_' is punctuation here, not a letter
    ("0x " + HEX40, False),
    (f"({DCAP})", True),
    (f"{DCAP},", True),
    (f"${DCAP}.", True),
    (f"ca:{SHORT43}!", True),
    (f"\"{PEPE}\"", True),
    (f"é{DCAP}é", True),                            # non-ASCII ends a run
    (f"💊{DCAP}💊", True),
    (f"line\n{DCAP}\nnext", True),
    (f"tab\t{PEPE}", True),
    (f"https://dexscreener.com/solana/{DCAP_PAIR}?maker=a&b=c", True),
    (f"https://pump.fun/coin/{PUMP}", True),
    (f"https://neo.bullx.io/terminal?chainId=1&address={CDOG_RAW}", True),
    (f"https://etherscan.io/token/{PEPE}#code", True),
    (f"https://pump.fun/coin/{DCAP}pump", False),   # glued to the path's next letters
    (f"https://dexscreener.com/solana/x{DCAP}", False),
    ("https://dexscreener.com/solana", False),
    ("gm frens, no address here", False),
]


def _json_flag(text: str) -> bool:
    raw = ('{"id": 1, "text": ' + json.dumps(text, ensure_ascii=False) + "}").encode()
    end, flag, _, _ = _scan_message(np.frombuffer(raw, np.uint8), 0, len(raw), BYTE_CLASSES)
    assert end == len(raw)
    return bool(flag)


def _html_runs(text: str) -> bool:
    return address_runs(np.frombuffer(text.encode(), np.uint8), BYTE_CLASSES).size > 0


def _extracted(text: str) -> bool:
    return SOL_RE.search(text) is not None or EVM_RE.search(text) is not None


def test_cases_are_distinct():
    assert len({t for t, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_every_check_takes_the_same_candidates(text, expected):
    assert has_candidate(text) is expected
    assert _json_flag(text) is expected
    assert _html_runs(text) is expected
    assert _extracted(text) is (expected and "0X" not in text)


def test_derived_classes():
    assert char_class(B58_ALPHABET) == "[1-9A-HJ-NP-Za-km-z]" and char_class(HEX_DIGITS) == "[0-9A-Fa-f]"
    b58 = {c for c in range(256) if BYTE_CLASSES[c] & C_B58}
    assert b58 == set(B58_ALPHABET.encode()) and not b58 & set(b"0OIl")


def _json_export(tmp_path, texts):
    msgs = [{"id": i + 1, "type": "message", "date_unixtime": str(1700000000 + i), "from": "Mia",
             "from_id": "user1", "text": t} for i, t in enumerate(texts)]
    p = tmp_path / "result.json"
    p.write_text(json.dumps({"name": "Edge", "type": "private_group", "id": 1, "messages": msgs},
                            ensure_ascii=False), encoding="utf-8")
    return p


def _html_export(tmp_path, texts):
    folder = tmp_path / "html"
    folder.mkdir()
    body = "".join(
        f'<div class="message default clearfix" id="message{i + 1}"><div class="body">'
        f'<div class="pull_right date details" title="02.03.2025 10:14:05 UTC+01:00">10:14</div>'
        f'<div class="from_name">Mia</div><div class="text">{html.escape(t, quote=False)}</div></div></div>\n'
        for i, t in enumerate(texts))
    (folder / "messages.html").write_text(
        '<div class="page_header"><div class="content"><div class="text bold">Edge</div></div></div>\n'
        f'<div class="history">\n{body}</div>\n', encoding="utf-8")
    return folder


def test_both_readers_read_exactly_the_candidate_messages(tmp_path, monkeypatch):
    texts = [t for t, _ in CASES]
    expected = [t for t, cand in CASES if cand]

    seen_json: list[str] = []
    add_json = CallBuilder.add_json_message
    monkeypatch.setattr(CallBuilder, "add_json_message",
                        lambda self, msg, *a: (seen_json.append(msg["text"]), add_json(self, msg, *a)))
    parse_json_file(_json_export(tmp_path, texts), CallBuilder(export_id="e", source_format="json"), None)
    assert seen_json == expected

    folder = _html_export(tmp_path, texts)
    text_of = html_export._text_of
    seen_html: list[str] = []
    monkeypatch.setattr(html_export, "_text_of", lambda inner: (seen_html.append(inner), text_of(inner))[1])
    for fast in (True, False):
        seen_html.clear()
        parse_html_folder(folder, CallBuilder(export_id="e", source_format="html"), None, fast=fast)
        assert [html.unescape(t) for t in seen_html] == expected, fast


_RUN = st.one_of(
    st.text(alphabet=B58_ALPHABET, min_size=30, max_size=46),
    st.text(alphabet=B58_ALPHABET + "0OIl", min_size=30, max_size=46),
    st.builds(str.__add__, st.sampled_from(["0x", "0X", "0", "x", "a0x", ""]),
              st.text(alphabet=HEX_DIGITS, min_size=38, max_size=42)),
    st.text(alphabet="0OIlxX_-", max_size=2),
)
_SEP = st.sampled_from(["", " ", ",", "/", "?", "=", "&", ".", "_", "\n", "\\", '"', "é", "💊", "\x01"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_RUN, _SEP), max_size=5).map(lambda parts: "".join(a + b for a, b in parts)))
def test_every_check_agrees_on_generated_text(text):
    cand = has_candidate(text)
    assert _json_flag(text) is cand
    assert _html_runs(text) is cand
    assert _extracted(text.replace("0X", "0x")) is cand
