"""Strategy YAML: loading, sweeps, and errors that name the file, the field and what was expected."""

from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path

import pytest

from quantbot_pipelines.simulation import (
    Strategy,
    StrategyError,
    load_strategies,
    load_strategy_file,
    strategy_file_fingerprint,
)

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_single_strategy_file(tmp_path):
    p = write(tmp_path, "ladder.yaml", """
take_profit:
  - [2, 0.5]
  - {multiple: 5, fraction: 0.5}
stop_loss: 0.5
trailing_stop: {activation: 2, distance: 0.25}
break_even: 0.05
time_exit: 24h
entry_delay: 30s
fee_bps: 100
slippage_bps: 50
intrabar: nearest_first
horizon: 2d
max_entry_gap: 5m
""")
    [s] = load_strategy_file(p)
    assert s == Strategy(name="ladder", take_profit=((2.0, 0.5), (5.0, 0.5)), stop_loss=0.5,
                         trailing_stop=(2.0, 0.25), break_even=0.05, time_exit_s=86400, entry_delay_s=30,
                         fee_bps=100.0, slippage_bps=50.0, intrabar="nearest_first", horizon_s=172800,
                         max_entry_gap_s=300)


def test_sweep_expands_to_the_cartesian_product_with_names(tmp_path):
    p = write(tmp_path, "grid.yaml", """
name: g
fee_bps: 100
trailing_stop: {activation: 1.5, distance: 0.3}
sweep:
  take_profit: [2, 3, [[2, 0.5], [5, 0.5]]]
  stop_loss: [0.5, null]
  trailing_stop.distance: [0.2, 0.3]
""")
    out = load_strategy_file(p)
    assert len(out) == 12 and len({s.name for s in out}) == 12
    assert out[0].name == "g[tp=2,sl=0.5,trail_dist=0.2]"
    assert out[-1].name == "g[tp=2:0.5+5:0.5,sl=none,trail_dist=0.3]"
    assert out[-1].take_profit == ((2.0, 0.5), (5.0, 0.5)) and out[-1].stop_loss is None
    assert out[-1].trailing_stop == (1.5, 0.3) and all(s.fee_bps == 100 for s in out)


def test_shipped_strategies_load():
    files = load_strategies(REPO / "strategies")
    assert {"hold_48h", "quick_2x", "ladder_2x_5x_10x", "trailing_30", "sweep_tp_sl_time"} <= set(files)
    assert 50 <= len(files["sweep_tp_sl_time"]) <= 200


@pytest.mark.parametrize(("text", "field", "expected"), [
    ("stop_loss: 1.5", "stop_loss", "(0, 1)"),
    ("stop_loss: abc", "stop_loss", "a number"),
    ("take_profit: [[2, 0.6], [3, 0.6]]", "take_profit", "summing to at most 1"),
    ("take_profit: [[3, 0.5], [2, 0.5]]", "take_profit[1].multiple", "ascending"),
    ("take_profit: [[0.9, 1.0]]", "take_profit[0].multiple", "> 1"),
    ("take_profit: [[2, 0]]", "take_profit[0].fraction", "(0, 1]"),
    ("take_profit: [2, 0.5, 3]", "take_profit[0]", "[multiple, fraction]"),
    ("trailing_stop: {activation: 2}", "trailing_stop", "activation"),
    ("trailing_stop: {activation: 2, distance: 1.5}", "trailing_stop.distance", "(0, 1)"),
    ("break_even: 0.0", "break_even", "take_profit ladder"),
    ("time_exit: soon", "time_exit", "duration"),
    ("time_exit: 0", "time_exit", "positive"),
    ("fee_bps: -5", "fee_bps", "basis points"),
    ("intrabar: optimistic", "intrabar", "stop_first"),
    ("stoploss: 0.5", "stoploss", "a known field"),
    ("sweep: {stop_loss: 0.5}", "sweep.stop_loss", "list"),
    ("sweep: {colour: [1, 2]}", "sweep.colour", "sweepable"),
    ("stop_loss: 0.5\nsweep: {stop_loss: [0.4, 0.6]}", "sweep.stop_loss", "not also set"),
    ("sweep: {stop_loss: [0.5, 2]}", "stop_loss", "(0, 1)"),
    ("- 1\n- 2", "(top level)", "mapping"),
    ("stop_loss: [0.5", "(yaml)", "valid YAML"),
    ("name: 'a[b]'", "name", "without"),
])
def test_errors_name_the_file_the_field_and_what_was_expected(tmp_path, text, field, expected):
    p = write(tmp_path, "bad.yaml", text)
    with pytest.raises(StrategyError) as err:
        load_strategy_file(p)
    msg = str(err.value)
    assert str(p) in msg and f"'{field}'" in msg and expected in msg, msg


def test_sweep_error_names_the_variant(tmp_path):
    p = write(tmp_path, "sw.yaml", "sweep: {stop_loss: [0.5, 2]}")
    with pytest.raises(StrategyError, match=r"sw\.yaml \(variant sw\[sl=2\]\): field 'stop_loss'"):
        load_strategy_file(p)


def test_names_must_be_unique_across_files(tmp_path):
    write(tmp_path, "a.yaml", "name: same\nstop_loss: 0.5")
    write(tmp_path, "b.yaml", "name: same\nstop_loss: 0.6")
    with pytest.raises(StrategyError, match="unique across files"):
        load_strategies(tmp_path)


def test_fingerprint_follows_the_content(tmp_path):
    p = write(tmp_path, "a.yaml", "stop_loss: 0.5")
    before = strategy_file_fingerprint(p)
    assert strategy_file_fingerprint(p) == before
    p.write_text("stop_loss: 0.6")
    assert strategy_file_fingerprint(p) != before


def test_strategy_validates_on_construction():
    with pytest.raises(StrategyError, match="field 'stop_loss'"):
        Strategy(name="x", stop_loss=0.0)
    assert isinstance(StrategyError("x"), ValueError)


# ---- hostile and oversized files: bounded work, an error naming the file ------------------------------------

@contextmanager
def within(seconds: float):
    """Fail (instead of hanging) if the block runs longer than `seconds`."""
    def timeout(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def alias_bomb() -> str:
    """Billion laughs: nine levels of nine aliases each, 9**9 strings once expanded, in under 400 bytes."""
    lines = ["name: bomb", "description:", "  - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    prev = "a"
    for anchor in "bcdefghi":
        lines.append(f"  - &{anchor} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = anchor
    return "\n".join([*lines, "sweep:", "  take_profit: [*i]"]) + "\n"


def test_yaml_alias_bomb_is_refused_at_once(tmp_path):
    p = write(tmp_path, "bomb.yaml", alias_bomb())
    assert p.stat().st_size < 600
    with within(5), pytest.raises(StrategyError) as err:
        load_strategy_file(p)
    assert str(p) in str(err.value) and "alias" in str(err.value), err.value


def test_deep_nesting_is_refused(tmp_path):
    p = write(tmp_path, "deep.yaml", "take_profit: " + "[" * 5000 + "]" * 5000 + "\n")
    with within(5), pytest.raises(StrategyError, match=r"deep\.yaml.*nested") as err:
        load_strategy_file(p)
    assert "levels" in str(err.value)


def test_oversized_file_is_refused(tmp_path):
    p = write(tmp_path, "big.yaml", "stop_loss: 0.5\ndescription: " + "x" * 300_000 + "\n")
    with pytest.raises(StrategyError, match=r"big\.yaml: field '\(file\)': expected at most 262144 bytes"):
        load_strategy_file(p)


def test_non_utf8_file_names_the_file_and_the_offset(tmp_path):
    p = tmp_path / "latin1.yaml"
    p.write_bytes("name: caf\xe9\nstop_loss: 0.5\n".encode("latin-1"))
    with pytest.raises(StrategyError) as err:
        load_strategy_file(p)
    msg = str(err.value)
    assert str(p) in msg and "UTF-8" in msg and "offset 9" in msg, msg


@pytest.mark.parametrize(("text", "field"), [
    ("time_exit: 1.0e+26", "time_exit"),
    ("time_exit: 100000000000000000000000000", "time_exit"),
    ("time_exit: 366d", "time_exit"),
    ("horizon: 9999999999999d", "horizon"),
    ("entry_delay: 400d", "entry_delay"),
    ("max_entry_gap: 40000000", "max_entry_gap"),
    ("sweep: {time_exit: [1h, 1.0e+26]}", "sweep.time_exit[1]"),
])
def test_durations_are_bounded(tmp_path, text, field):
    p = write(tmp_path, "long.yaml", text)
    with pytest.raises(StrategyError) as err:
        load_strategy_file(p)
    msg = str(err.value)
    assert str(p) in msg and f"'{field}'" in msg and "365 days" in msg, msg


def test_a_number_too_large_for_a_float_is_a_strategy_error(tmp_path):
    p = write(tmp_path, "huge.yaml", "fee_bps: 1" + "0" * 400)
    with pytest.raises(StrategyError, match="field 'fee_bps'"):
        load_strategy_file(p)


def test_take_profit_ladders_are_bounded(tmp_path):
    levels = ", ".join(f"[{1 + (i + 1) / 100}, 0.01]" for i in range(40))
    p = write(tmp_path, "ladder.yaml", f"take_profit: [{levels}]")
    with pytest.raises(StrategyError, match=r"field 'take_profit': expected at most 32 levels"):
        load_strategy_file(p)


def _grid(n: int) -> str:
    values = ", ".join(str(i) for i in range(n))
    return f"sweep:\n  fee_bps: [{values}]\n  slippage_bps: [{values}]\n  entry_delay: [{values}]\n"


def test_a_sweep_past_the_variant_cap_is_refused_before_expansion(tmp_path):
    p = write(tmp_path, "grid.yaml", _grid(100))  # 100 x 100 x 100 = 10**6 variants
    with within(2), pytest.raises(StrategyError) as err:
        load_strategy_file(p)
    msg = str(err.value)
    assert str(p) in msg and "1000000 variants" in msg and "10000" in msg and "QUANTBOT_MAX_VARIANTS" in msg, msg


def test_the_variant_cap_is_a_parameter(tmp_path):
    p = write(tmp_path, "grid.yaml", _grid(3))  # 27 variants
    with pytest.raises(StrategyError, match="27 variants"):
        load_strategy_file(p, max_variants=26)
    assert len(load_strategy_file(p, max_variants=27)) == 27
    with pytest.raises(StrategyError, match="27 variants"):
        load_strategies(tmp_path, max_variants=10)


def test_swept_values_are_checked_before_the_product_is_built(tmp_path):
    values = ", ".join(str(i) for i in range(70))  # 70 x 70 x 2: within the cap
    p = write(tmp_path, "typo.yaml", f"sweep:\n  fee_bps: [{values}]\n  slippage_bps: [{values}]\n"
                                     "  intrabar: [stop_first, [oops]]\n")
    with within(2), pytest.raises(StrategyError, match=r"typo\.yaml: field 'sweep\.intrabar\[1\]'"):
        load_strategy_file(p)
