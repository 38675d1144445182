"""Bitcoin-alphabet base58, enough to mint realistic Solana addresses (32 bytes) for the sample."""

from __future__ import annotations

import random

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}


def b58encode(raw: bytes) -> str:
    n = int.from_bytes(raw, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(ALPHABET[r])
    pad = len(raw) - len(raw.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        n = n * 58 + _INDEX[ch]  # KeyError on a non-base58 character, on purpose
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body


def solana_mint(rng: random.Random, *, pump: bool = False) -> str:
    """A valid Solana address from random 32 bytes; `pump` ones end in 'pump' like pump.fun mints.

    Grinding a real vanity suffix takes ~11M tries, so the last 4 characters are replaced instead and the
    result kept only if it still decodes to exactly 32 bytes and round-trips.
    """
    while True:
        text = b58encode(rng.randbytes(32))
        if len(text) < 43:  # real mints are 43-44 characters; shorter ones are rare
            continue
        if not pump:
            return text
        text = text[:-4] + "pump"
        raw = b58decode(text)
        if len(raw) == 32 and b58encode(raw) == text:
            return text


def evm_address(rng: random.Random) -> str:
    """0x + 40 hex in mixed case, as people paste them (not EIP-55: only the spelling matters here)."""
    hexed = rng.randbytes(20).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and rng.random() < 0.5 else c for c in hexed)
