"""token_runs reads string columns from their Arrow views; it must agree with a plain comparison."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from quantbot_pipelines.backtest.nb import token_runs


def reference(df: pl.DataFrame, keys: list[str]) -> np.ndarray:
    rows = df.select(keys).rows()
    return np.cumsum([True] + [rows[i] != rows[i - 1] for i in range(1, len(rows))]) - 1


@pytest.mark.parametrize("seed", range(4))
def test_runs_match_a_plain_comparison(seed):
    rng = np.random.default_rng(seed)
    # short (inline) and long names, equal prefixes, the same text at different places, several chunks
    names = [
        "a",
        "b",
        "abcdefghijkl",
        "abcdefghijklm",
        "abcdefghijklmX" * 3,
        "abcdefghijklmY" * 3,
        "",
        "0x" + "f" * 40,
    ]
    idx = np.repeat(rng.integers(0, len(names), 300), rng.integers(1, 5, 300))
    chain = pl.Series("chain", ["base", "solana"])[
        rng.integers(0, 2, len(idx)) * (rng.random(len(idx)) < 0.05)
    ]
    copied = pl.Series("address", [names[i] for i in idx])  # each row its own bytes
    shared = pl.Series("address", names)[idx]  # rows share the bytes of `names`
    for address in (copied, shared):
        half = len(idx) // 2
        df = pl.concat(
            [pl.DataFrame([chain, address]).slice(0, half), pl.DataFrame([chain, address]).slice(half)],
            rechunk=False,
        )
        run_id, heads, _ = token_runs(df, ["chain", "address"])
        assert np.array_equal(run_id, reference(df, ["chain", "address"]))
        assert heads.height == run_id[-1] + 1
        sliced = df.slice(7, 100)
        assert np.array_equal(
            token_runs(sliced, ["chain", "address"])[0], reference(sliced, ["chain", "address"])
        )


def test_contiguity_and_non_string_keys():
    df = pl.DataFrame({"day": [1, 1, 2, 2], "address": ["x", "y", "y", "x"]})
    run_id, _, contiguous = token_runs(df, ["day", "address"])
    assert list(run_id) == [0, 1, 2, 3] and contiguous
    run_id, _, contiguous = token_runs(df, ["address"])
    assert list(run_id) == [0, 1, 1, 2] and not contiguous  # x comes back later
    with_null = pl.DataFrame({"address": ["x", None, None, "x"]})
    assert list(token_runs(with_null, ["address"])[0]) == [0, 1, 1, 2]
