"""What could be a token address: the one candidate rule of every reader (docs/semantics.md#calls).

A candidate is a whole run of ASCII letters and digits (any other character ends it, non-ASCII too) that is
- Solana: 32-44 characters, all from the base58 alphabet (no 0, O, I, l), or
- EVM: '0x' or '0X' and 40 hex digits.

Readers decode and extract only messages holding a candidate, so the rule must never be narrower than
extraction: the numba byte classes (scan_nb.py), the text check of the HTML reader (`has_candidate`) and the
extraction regexes (extract.py) are all built from the constants below. Extraction then keeps a Solana run
only if it decodes to 32 bytes, and an EVM run only if spelled '0x' (`EVM_PREFIX`): '0X' is a candidate, never
an address.
"""

from __future__ import annotations

import re
import string

WORD_CHARS = string.digits + string.ascii_uppercase + string.ascii_lowercase  # a run is made of these
B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
HEX_DIGITS = string.hexdigits
SOL_MIN_LEN, SOL_MAX_LEN = 32, 44  # 32 bytes in base58: 32 '1's (all zero) up to 44 characters
EVM_PREFIX = "0x"                  # how an EVM address is spelled
EVM_CANDIDATE_PREFIXES = ("0x", "0X")
EVM_HEX_LEN = 40
EVM_LEN = len(EVM_PREFIX) + EVM_HEX_LEN


def char_class(chars: str) -> str:
    """A regex class matching exactly `chars`, as ranges: '[1-9A-HJ-NP-Za-km-z]' for base58."""
    codes = sorted(set(map(ord, chars)))
    out = []
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        lo, hi = re.escape(chr(codes[i])), re.escape(chr(codes[j]))
        out.append(lo if i == j else lo + hi if j == i + 1 else f"{lo}-{hi}")
        i = j + 1
    return "[" + "".join(out) + "]"


_WORD = char_class(WORD_CHARS)
_RUN_START, _RUN_END = f"(?<!{_WORD})", f"(?!{_WORD})"  # the match is a whole run, never part of one
_HEX40 = f"{char_class(HEX_DIGITS)}{{{EVM_HEX_LEN}}}"


def _evm(prefixes) -> str:
    """'0' first and the run-start test behind it: a leading literal lets re jump from '0' to '0', a leading
    lookbehind is tried at every position (~8x slower on message texts)."""
    assert len({p[0] for p in prefixes}) == 1
    zero = re.escape(prefixes[0][0])
    seconds = "|".join(re.escape(p[1:]) for p in prefixes)
    return f"{zero}(?<!{_WORD}{zero})(?:{seconds}){_HEX40}{_RUN_END}"


SOL_PATTERN = f"{_RUN_START}{char_class(B58_ALPHABET)}{{{SOL_MIN_LEN},{SOL_MAX_LEN}}}{_RUN_END}"
EVM_PATTERN = _evm([EVM_PREFIX])  # extraction: '0x' only
EVM_CANDIDATE_PATTERN = _evm(EVM_CANDIDATE_PREFIXES)

_SOL_RE = re.compile(SOL_PATTERN)
_EVM_CANDIDATE_RE = re.compile(EVM_CANDIDATE_PATTERN)
_P1, _P2 = EVM_CANDIDATE_PREFIXES


def has_candidate(text: str) -> bool:
    """True when `text` holds a run that could be an address (the rule above)."""
    # the substring tests skip the EVM regex for almost every text
    return _SOL_RE.search(text) is not None or (
        (_P1 in text or _P2 in text) and _EVM_CANDIDATE_RE.search(text) is not None)
