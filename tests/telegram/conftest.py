from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# addresses used across the fixtures
DCAP = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"       # Rick card, Solana
DCAP_PAIR = "67WKXSxm4oc149PvQjdXLacKFZpK5DyYdqBwpiVydJbb"  # its pool (dexscreener link on the card)
PUMP = "8RBsoeyoRwajj86MZfZE6gMDJQVYGYcdSfx1zxqxpump"
FIN = "FnqbqF7YJekTNEMkZJMcujSouSfd4CzTacotg2LmSqeV"
SHORT43 = "ZSx1e5zpVu3SY2cwo1vqUrSe34UaGkRdinnbv99nmSc"
GRC = "GRchfHguxbWYGGLHZfpSFo3SnPVbxmyh6FnR1ThKqfqS"
CDOG_RAW = "0xAbCdEf0123456789abcdef0123456789ABCDEF01"
CDOG = CDOG_RAW.lower()
PEPE = "0x6982508145454ce325ddbe47a25d4ec3d2311933"
NOT_32_BYTES = ("q7zBF4YiTeToNKgwEGHDqoqPz8bW9G5hxQeCcMdHA5pdE",   # decodes to 33 bytes
                "GgMsQVfs5tYx5AAJ3HdgDJ69151kp1PAh2BwgyhHWB")     # decodes to 31 bytes


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def rows_by(table, *keys) -> dict:
    """calls table -> {(key values...): row dict}"""
    return {tuple(r[k] for k in keys): r for r in table.to_pylist()}
