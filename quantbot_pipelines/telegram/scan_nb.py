"""numba byte scanners shared by the JSON and HTML readers.

- `BYTE_CLASSES`: the address-candidate byte classes, built from addresses.py (docs/semantics.md#calls).
- `scan` / `_scan_message`: the structural walk of a Telegram JSON export (docs/formats.md#telegram-exports),
  string and escape aware, resumable across chunks; it reports chat header values, `"messages"` arrays and
  the messages holding an address candidate as rows of an event array (`EV_*`). Nesting deeper than
  `MAX_DEPTH` never stops the walk: a message that deep is flagged (`F_DEEP`), a part outside the messages
  that deep is skipped to its end and reported (`EV_DEEP`), and the scan goes on after it.
- `address_runs`: where candidates start in any bytes (an HTML file).
- `utf8_valid`: strict UTF-8 check, faster than decoding to find out.

Every candidate test goes through `_candidate_run`, so the scanners cannot drift apart.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from quantbot_pipelines.telegram.addresses import (
    B58_ALPHABET,
    EVM_CANDIDATE_PREFIXES,
    EVM_LEN,
    HEX_DIGITS,
    SOL_MAX_LEN,
    SOL_MIN_LEN,
    WORD_CHARS,
)

MAX_DEPTH = 256  # a message nested deeper is not decoded (Telegram's entity lists are 2-3 levels)
# events (rows of an int64 [cap, 5] array: code, a, b, c, d)
EV_HDR = 1        # a=key (KEY_NAME, KEY_TYPE, KEY_ID), b=value start, c=value end, d=object start
EV_MSGS = 2       # a "messages" array opens; d=chat object start
EV_MSG = 3        # a message: a=start, b=end (exclusive, -1: the file ends inside it), c=flags, d=chat start
EV_MSGS_END = 4   # d=chat object start
EV_DEEP = 5       # outside messages, nesting passes MAX_DEPTH: a=offset of that bracket, d=start of the
                  # enclosing value (reported once per value; each too-deep part of it is skipped to its end)
# EV_MSG flags: F_* | text_entities start << TE_START_SHIFT | its end << TE_END_SHIFT (offsets in the message)
F_CAND = 1
F_SERVICE = 2
F_DEEP = 4        # the message nests deeper than MAX_DEPTH
TE_START_SHIFT = 8
TE_END_SHIFT = 36
TE_MASK = (1 << 28) - 1
_TE_LIMIT = 1 << 27  # offsets must fit TE_MASK; a message that long is oversized anyway
# state slots (S_SKIP: levels open past MAX_DEPTH outside messages; S_DEEP_IN: the value last reported so)
S_DEPTH, S_INSTR, S_ESC, S_KEYSTART, S_NMSG, S_NSERV, S_DONE, S_SKIP, S_DEEP_IN = range(9)
KEY_NAME, KEY_TYPE, KEY_ID, KEY_MESSAGES = 1, 2, 3, 4

# byte classes (bits of BYTE_CLASSES); the table is passed as an argument: numba reads global arrays slowly
C_WORD, C_B58, C_HEX = 1, 2, 4


def _byte_classes() -> np.ndarray:
    table = np.zeros(256, np.uint8)
    for bit, chars in ((C_WORD, WORD_CHARS), (C_B58, B58_ALPHABET), (C_HEX, HEX_DIGITS)):
        for c in chars.encode("ascii"):
            table[c] |= bit
    return table


BYTE_CLASSES = _byte_classes()
# the EVM test below compares two prefix bytes: '0' then 'x' or 'X'
assert all(len(p) == 2 and p[0] == EVM_CANDIDATE_PREFIXES[0][0] for p in EVM_CANDIDATE_PREFIXES)
_EVM_0 = ord(EVM_CANDIDATE_PREFIXES[0][0])
_EVM_X1, _EVM_X2 = (ord(p[1]) for p in EVM_CANDIDATE_PREFIXES)
_EVM_HEX_START = len(EVM_CANDIDATE_PREFIXES[0])
# only runs this long need the full test
_RUN_MIN, _RUN_MAX = min(SOL_MIN_LEN, EVM_LEN), max(SOL_MAX_LEN, EVM_LEN)


def new_state() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(state, kind, expect_key, pending key, [value start, object start, key start] per depth)."""
    st = np.zeros(S_DEEP_IN + 1, np.int64)
    st[S_DEEP_IN] = -1
    return (st, np.zeros(MAX_DEPTH + 1, np.int8), np.zeros(MAX_DEPTH + 1, np.int8),
            np.zeros(MAX_DEPTH + 1, np.int8), np.zeros((MAX_DEPTH + 1, 3), np.int64))


@nb.njit(cache=True, inline="always")
def _candidate_run(buf, s, n, all_b58, cls_table):
    """1 when the run of `n` letters and digits at buf[s] (bounded by other bytes) is an address candidate,
    else 0; `all_b58`: every byte of it is base58 (the callers track that as they go). An int result and the
    length passed in: the JSON scan measured ~4% slower with a bool computed from an end index."""
    if all_b58:
        return 1 if n >= SOL_MIN_LEN and n <= SOL_MAX_LEN else 0
    if n != EVM_LEN or buf[s] != _EVM_0 or (buf[s + 1] != _EVM_X1 and buf[s + 1] != _EVM_X2):
        return 0
    for j in range(s + _EVM_HEX_START, s + n):
        if (cls_table[buf[j]] & C_HEX) == 0:
            return 0
    return 1


@nb.njit(cache=True, inline="always")
def _key_id(buf, s, e):
    n = e - s
    if n == 2 and buf[s] == 105 and buf[s + 1] == 100:  # id
        return KEY_ID
    if n == 4 and buf[s] == 110 and buf[s + 1] == 97 and buf[s + 2] == 109 and buf[s + 3] == 101:  # name
        return KEY_NAME
    if n == 4 and buf[s] == 116 and buf[s + 1] == 121 and buf[s + 2] == 112 and buf[s + 3] == 101:  # type
        return KEY_TYPE
    if n == 8 and buf[s] == 109 and buf[s + 1] == 101 and buf[s + 2] == 115 and buf[s + 3] == 115 \
            and buf[s + 4] == 97 and buf[s + 5] == 103 and buf[s + 6] == 101 and buf[s + 7] == 115:  # messages
        return KEY_MESSAGES
    return 0


_TYPE_PAT = (34, 116, 121, 112, 101, 34)  # "type"
_SERVICE_PAT = (34, 115, 101, 114, 118, 105, 99, 101, 34)  # "service"


@nb.njit(cache=True)
def _is_service(buf, s, e):
    """Telegram writes `{"id": N, "type": "service"` first: look in the first bytes only."""
    lim = min(e, s + 96)
    pat = _TYPE_PAT
    srv = _SERVICE_PAT
    for i in range(s, lim - 6):
        ok = True
        for j in range(6):
            if buf[i + j] != pat[j]:
                ok = False
                break
        if ok:
            k = i + 6
            while k < lim and (buf[k] == 32 or buf[k] == 58 or buf[k] == 10 or buf[k] == 13 or buf[k] == 9):
                k += 1
            if k + 9 > e:
                return False
            for j in range(9):
                if buf[k + j] != srv[j]:
                    return False
            return True
    return False


_TE_KEY = (116, 101, 120, 116, 95, 101, 110, 116, 105, 116, 105, 101, 115, 34)  # text_entities"


@nb.njit(cache=True, inline="always")
def _is_te_key(buf, i):
    for j in range(14):
        if buf[i + j] != _TE_KEY[j]:
            return False
    return True


@nb.njit(cache=True)
def _scan_message(buf, start, n, cls_table):
    """From the '{' of a message: (index after its closing '}' or -1 if buf ends first, candidate flag,
    span of `, "text_entities": [...]` or (0, 0), or (-1, -1) when it nests deeper than MAX_DEPTH).

    Only strings can hold an address candidate (`_candidate_run`); escapes (\\n, \\uXXXX) end a run.
    `text_entities` repeats `text` entity by entity; cutting it out halves what orjson decodes for cards.
    """
    i = start
    depth = 0
    comma = 0
    te_start = 0
    te_end = 0
    te_open = 0
    runlen = 0
    runstart = 0
    runcls = 0
    cand = 0
    deep = 0
    while i < n:
        c = buf[i]
        if c == 34:
            if depth == 1 and comma > 0 and i + 15 <= n and _is_te_key(buf, i + 1):
                te_start = comma
                te_open = 1
            i += 1
            while i < n:
                c = buf[i]
                if cand == 0:  # once a candidate, only the string's end matters
                    cl = cls_table[c]
                    if cl & C_WORD:
                        if runlen == 0:
                            runstart = i
                            runcls = cl
                        else:
                            runcls &= cl  # C_B58 stays set while every character is base58
                        runlen += 1
                        i += 1
                        continue
                    if runlen >= _RUN_MIN and runlen <= _RUN_MAX:
                        cand = _candidate_run(buf, runstart, runlen, runcls & C_B58, cls_table)
                    runlen = 0
                if c == 34:
                    break
                if c == 92:  # escape: \uXXXX or \x, never part of an address
                    if i + 1 < n and buf[i + 1] == 117:
                        i += 6
                    else:
                        i += 2
                    continue
                i += 1
        elif c == 44:
            if depth == 1:
                comma = i
        elif c == 123 or c == 91:
            depth += 1
            if depth > MAX_DEPTH:  # only counted: the walk finds the end all the same
                deep = 1
        elif c == 125 or c == 93:
            depth -= 1
            if depth == 1 and te_open == 1:
                te_end = i + 1
                te_open = 0
            elif depth == 0:
                if deep:  # not decoded at all: its span does not matter
                    return i + 1, cand, -1, -1
                if te_open == 1:
                    te_start = 0
                    te_end = 0
                return i + 1, cand, te_start, te_end
        i += 1
    return -1, cand, 0, 0


@nb.njit(cache=True, nogil=True)
def address_runs(buf, cls_table):
    """Start offsets of the address candidates in any bytes (an HTML file); the JSON scanner's rule."""
    n = buf.shape[0]
    out = np.empty(n // _RUN_MIN + 1, np.int64)  # a candidate takes >= _RUN_MIN bytes: no resizing (8x slower)
    k = 0
    i = 0
    while i < n:
        c = cls_table[buf[i]]
        if (c & C_WORD) == 0:
            i += 1
            continue
        s = i
        b58 = C_B58
        while i < n:
            c = cls_table[buf[i]]
            if (c & C_WORD) == 0:
                break
            b58 &= c
            i += 1
        if _candidate_run(buf, s, i - s, b58, cls_table):
            out[k] = s
            k += 1
    return out[:k]


@nb.njit(cache=True, nogil=True)
def utf8_valid(buf):
    """True when buf is well-formed UTF-8 as Python's strict decoder sees it (no overlongs, no surrogates,
    nothing above U+10FFFF)."""
    n = buf.shape[0]
    i = 0
    while i < n:
        c = buf[i]
        if c < 0x80:
            i += 1
            continue
        if c < 0xC2:
            return False
        if c < 0xE0:
            if i + 1 >= n or (buf[i + 1] & 0xC0) != 0x80:
                return False
            i += 2
            continue
        if c < 0xF0:
            if i + 2 >= n:
                return False
            c1 = buf[i + 1]
            if (c1 & 0xC0) != 0x80 or (buf[i + 2] & 0xC0) != 0x80:
                return False
            if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 >= 0xA0):
                return False
            i += 3
            continue
        if c < 0xF5:
            if i + 3 >= n:
                return False
            c1 = buf[i + 1]
            if (c1 & 0xC0) != 0x80 or (buf[i + 2] & 0xC0) != 0x80 or (buf[i + 3] & 0xC0) != 0x80:
                return False
            if (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 >= 0x90):
                return False
            i += 4
            continue
        return False
    return True


@nb.njit(cache=True, nogil=True)
def scan(buf, base, final, st, kind, expkey, keyid, pos, ev, cap, cls_table):
    """Scan buf (file bytes from offset `base`) from its start; returns (n_events, carry_from, stopped_at).

    Resumes from/updates the state arrays. `carry_from` (local index, -1 for none) is the first byte that
    must be kept for the next call (an open message, or an open header key/value); the state is rolled
    back to that byte. With the event array full it stops early at `stopped_at` (then call again on
    buf[stopped_at:]).
    """
    n = buf.shape[0]
    depth = st[S_DEPTH]
    instr = st[S_INSTR]
    esc = st[S_ESC]
    keystart = st[S_KEYSTART]
    nmsg = st[S_NMSG]
    nserv = st[S_NSERV]
    skip = st[S_SKIP]  # > 0: inside a part nested past MAX_DEPTH, only brackets and strings are followed
    msgd = 0           # depth of the open message object (0: none)
    msgstart = 0
    nev = 0
    i = 0
    while i < n:
        c = buf[i]
        if msgd > 0:
            end, cand, te_s, te_e = _scan_message(buf, msgstart, n, cls_table)
            if end < 0:
                i = n
                break
            nmsg += 1
            flags = F_CAND if cand else 0
            if _is_service(buf, msgstart, end):
                flags |= F_SERVICE
                nserv += 1
            if cand:
                if te_s < 0:
                    flags |= F_DEEP
                ev[nev, 0] = EV_MSG
                ev[nev, 1] = base + msgstart
                ev[nev, 2] = base + end
                if te_e > te_s and te_e - msgstart < _TE_LIMIT:
                    flags |= ((te_s - msgstart) << TE_START_SHIFT) | ((te_e - msgstart) << TE_END_SHIFT)
                ev[nev, 3] = flags
                ev[nev, 4] = pos[msgd - 2, 1]
                nev += 1
            msgd = 0
            depth -= 1
            i = end
            if nev >= cap - 4:
                break
            continue

        # outside messages: full structure, keys and header values
        if instr:
            if esc > 0:
                esc = 0
            elif c == 92:
                esc = 1
            elif c == 34:
                instr = 0
                if skip == 0 and depth > 0 and kind[depth] == 1 and expkey[depth] == 1:
                    keyid[depth] = _key_id(buf, keystart - base + 1, i)
                    pos[depth, 2] = keystart
            i += 1
            continue
        if c == 34:
            instr = 1
            keystart = base + i
        elif skip > 0:
            if c == 123 or c == 91:
                skip += 1
            elif c == 125 or c == 93:
                skip -= 1
        elif (c == 123 or c == 91) and depth == MAX_DEPTH:
            # the per-level arrays end here: skip this value to its end and go on after it
            skip = 1
            keyid[depth] = 0
            if st[S_DEEP_IN] != pos[depth, 1]:  # one report per enclosing value, not per deep item in it
                st[S_DEEP_IN] = pos[depth, 1]
                ev[nev, 0] = EV_DEEP
                ev[nev, 1] = base + i
                ev[nev, 4] = pos[depth, 1]
                nev += 1
        elif c == 123 or c == 91:  # { [
            parent = depth
            depth += 1
            kind[depth] = 1 if c == 123 else 2
            expkey[depth] = 1 if c == 123 else 0
            keyid[depth] = 0
            pos[depth, 1] = base + i
            if parent > 0 and kind[parent] == 1:
                if c == 91 and keyid[parent] == KEY_MESSAGES:
                    expkey[depth] = 3  # marks a messages array
                    ev[nev, 0] = EV_MSGS
                    ev[nev, 4] = pos[parent, 1]
                    nev += 1
                keyid[parent] = 0
            elif parent > 0 and kind[parent] == 2 and expkey[parent] == 3 and c == 123:
                msgd = depth
                msgstart = i
                continue  # _scan_message takes it from its '{'

        elif c == 58:  # :
            if kind[depth] == 1:
                expkey[depth] = 0
                pos[depth, 0] = base + i + 1
        elif c == 44 or c == 125 or c == 93:  # , } ]
            if depth > 0 and kind[depth] == 1 and keyid[depth] >= 1 and keyid[depth] <= 3:
                ev[nev, 0] = EV_HDR
                ev[nev, 1] = keyid[depth]
                ev[nev, 2] = pos[depth, 0]
                ev[nev, 3] = base + i
                ev[nev, 4] = pos[depth, 1]
                nev += 1
            if depth > 0:
                keyid[depth] = 0
                if kind[depth] == 1:
                    expkey[depth] = 1
            if c != 44 and depth > 0:
                if depth > 0 and kind[depth] == 2 and expkey[depth] == 3:
                    ev[nev, 0] = EV_MSGS_END
                    ev[nev, 4] = pos[depth - 1, 1]
                    nev += 1
                depth -= 1
                if depth == 0:
                    st[S_DONE] = 1
        i += 1
        if nev >= cap - 4 and instr == 0:
            break

    stopped = i
    carry = -1
    if i >= n and not final:
        if msgd > 0:
            carry = msgstart
            depth = msgd - 1
            instr = 0
            esc = 0
        elif skip == 0 and depth > 0 and kind[depth] == 1 and keyid[depth] >= 1 and keyid[depth] <= 3:
            carry = pos[depth, 2] - base  # rescan the header key and its value
            keyid[depth] = 0
            expkey[depth] = 1
            instr = 0
            esc = 0
        elif skip == 0 and instr and depth > 0 and kind[depth] == 1 and expkey[depth] == 1:
            carry = keystart - base
            instr = 0
            esc = 0
    elif i < n and msgd > 0:
        # stopped early inside a message cannot happen (we only stop after a message closes or outside)
        stopped = msgstart
        depth = msgd - 1
        instr = 0
    st[S_DEPTH] = depth
    st[S_INSTR] = instr
    st[S_ESC] = esc
    st[S_KEYSTART] = keystart
    st[S_NMSG] = nmsg
    st[S_NSERV] = nserv
    st[S_SKIP] = skip
    if i >= n and msgd > 0 and final:
        # truncated inside a message: report it as a message event with no end
        ev[nev, 0] = EV_MSG
        ev[nev, 1] = base + msgstart
        ev[nev, 2] = -1
        ev[nev, 3] = F_CAND
        ev[nev, 4] = pos[msgd - 2, 1]
        nev += 1
    return nev, carry, stopped
