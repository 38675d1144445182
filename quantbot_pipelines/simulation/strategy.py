"""Exit strategies as data: the `Strategy` record, YAML loading with validation, and sweeps.

Rules and their meaning: docs/semantics.md#fills. A file in strategies/ holds
one strategy or a sweep. Format (every key but the exit rules is optional; unknown keys are errors):

    name: ladder_2x_5x            # default: the file stem; becomes the `strategy` column
    description: free text        # ignored by the engine
    take_profit:                  # ladder of [multiple, fraction of the initial position]
      - [2, 0.5]                  #   or {multiple: 2, fraction: 0.5}; a bare number m means [[m, 1.0]]
      - [5, 0.5]
    stop_loss: 0.5                # multiple < 1 of the entry price, or null
    trailing_stop: {activation: 2, distance: 0.3}   # armed once the high reaches 2x; 30 % below the peak
    break_even: 0.0               # after the first take-profit fill the stop moves to entry x (1 + 0.0)
    time_exit: 24h                # maximum hold: seconds or a duration (30s, 15m, 24h, 2d)
    entry_delay: 0                # seconds or a duration
    fee_bps: 100                  # per side
    slippage_bps: 50              # per side
    intrabar: stop_first          # or take_profit_first, nearest_first
    horizon: 48h                  # the window; default 48h
    max_entry_gap: 15m            # no candle this long after call + delay: no entry; default 15m

A sweep adds a `sweep:` mapping of field -> list of values; the file then expands to the cartesian product
(in the order the keys are written), each variant named `<name>[tp=3,sl=0.5]`. Sweepable fields and their
labels: take_profit (tp), stop_loss (sl), trailing_stop (trail), trailing_stop.activation (trail_act),
trailing_stop.distance (trail_dist), break_even (be), time_exit (time), entry_delay (delay), fee_bps (fee),
slippage_bps (slip), intrabar (intrabar). Example: 5 take-profits x 5 stops x 4 time exits = 100 strategies
in five lines. strategies/README.md shows complete files.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from quantbot_pipelines.backtest import DEFAULT_HORIZON_S, DEFAULT_MAX_ENTRY_GAP_S, Intrabar

INTRABAR_POLICIES = tuple(p.name for p in Intrabar)
_EPS = 1e-9


class StrategyError(ValueError):
    """A strategy file or value is invalid; the message names the file, the field and what was expected."""


@dataclass(frozen=True)
class Strategy:
    """One exit rule set. Multiples are of the entry price; fractions are of the initial position."""

    name: str
    take_profit: tuple[tuple[float, float], ...] = ()
    stop_loss: float | None = None
    trailing_stop: tuple[float, float] | None = None  # (activation multiple, distance below the peak)
    break_even: float | None = None  # offset: stop moves to entry x (1 + offset) after the first level
    time_exit_s: int | None = None
    entry_delay_s: int = 0
    fee_bps: float = 0.0
    slippage_bps: float = 0.0
    intrabar: str = "stop_first"
    horizon_s: int = DEFAULT_HORIZON_S
    max_entry_gap_s: int = DEFAULT_MAX_ENTRY_GAP_S

    def __post_init__(self) -> None:
        _check_strategy(self, where=f"strategy {self.name!r}")

    @property
    def entry_key(self) -> tuple[int, int, int]:
        """Strategies sharing this key share entries and windows (one call_windows)."""
        return (self.entry_delay_s, self.max_entry_gap_s, self.horizon_s)


def _fail(where: str, field: str, expected: str, got: Any = None) -> StrategyError:
    tail = f", got {got!r}" if got is not None else ""
    exc = StrategyError(f"{where}: field '{field}': expected {expected}{tail}")
    exc.detail = f"field '{field}': expected {expected}{tail}"  # the message without the place
    return exc


def _check_strategy(s: Strategy, where: str) -> None:
    if not isinstance(s.name, str) or not s.name.strip():
        raise _fail(where, "name", "a non-empty string", s.name)
    prev = 1.0
    total = 0.0
    for i, level in enumerate(s.take_profit):
        m, f = level
        if not m > prev:
            raise _fail(where, f"take_profit[{i}].multiple",
                        "a multiple > 1 and above the previous level (levels ascending)", m)
        if not 0 < f <= 1:
            raise _fail(where, f"take_profit[{i}].fraction", "a fraction in (0, 1]", f)
        prev, total = m, total + f
    if total > 1 + _EPS:
        raise _fail(where, "take_profit", "fractions summing to at most 1", round(total, 12))
    if s.stop_loss is not None and not 0 < s.stop_loss < 1:
        raise _fail(where, "stop_loss", "a multiple in (0, 1) of the entry price, or null", s.stop_loss)
    if s.trailing_stop is not None:
        act, dist = s.trailing_stop
        if not (act > 0 and math.isfinite(act)):
            raise _fail(where, "trailing_stop.activation", "a multiple > 0 (<= 1: armed at entry)", act)
        if not 0 < dist < 1:
            raise _fail(where, "trailing_stop.distance", "a fraction in (0, 1) below the peak", dist)
    if s.break_even is not None:
        if not s.take_profit:
            raise _fail(where, "break_even", "a take_profit ladder (break-even moves after its first level)")
        if not -1 < s.break_even < s.take_profit[0][0] - 1:
            raise _fail(where, "break_even", "an offset above -1 and below the first take-profit level",
                        s.break_even)
    if s.time_exit_s is not None and not s.time_exit_s > 0:
        raise _fail(where, "time_exit", "a positive duration", s.time_exit_s)
    if not s.entry_delay_s >= 0:
        raise _fail(where, "entry_delay", "a duration >= 0", s.entry_delay_s)
    for field in ("fee_bps", "slippage_bps"):
        v = getattr(s, field)
        if not 0 <= v < 10_000:
            raise _fail(where, field, "basis points in [0, 10000)", v)
    if s.intrabar not in INTRABAR_POLICIES:
        raise _fail(where, "intrabar", f"one of {', '.join(INTRABAR_POLICIES)}", s.intrabar)
    if not s.horizon_s > 0:
        raise _fail(where, "horizon", "a positive duration", s.horizon_s)
    if not s.max_entry_gap_s >= 0:
        raise _fail(where, "max_entry_gap", "a duration >= 0", s.max_entry_gap_s)


# ---- parsing of YAML values -------------------------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_FIELDS = ("name", "description", "take_profit", "stop_loss", "trailing_stop", "break_even", "time_exit",
           "entry_delay", "fee_bps", "slippage_bps", "intrabar", "horizon", "max_entry_gap", "sweep")
_SWEEP_LABELS = {"take_profit": "tp", "stop_loss": "sl", "trailing_stop": "trail",
                 "trailing_stop.activation": "trail_act", "trailing_stop.distance": "trail_dist",
                 "break_even": "be", "time_exit": "time", "entry_delay": "delay", "fee_bps": "fee",
                 "slippage_bps": "slip", "intrabar": "intrabar"}


def _number(where: str, field: str, v: Any, expected: str = "a number") -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _fail(where, field, expected, v)
    return float(v)


def _duration(where: str, field: str, v: Any, optional: bool = False) -> int | None:
    if v is None and optional:
        return None
    if isinstance(v, str):
        m = _DURATION.match(v)
        if m:
            return round(float(m.group(1)) * _UNITS[m.group(2)])
    elif isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return int(v)
    raise _fail(where, field, "seconds or a duration like 30s, 15m, 24h, 2d" + (", or null" if optional else ""), v)


def _ladder(where: str, field: str, v: Any) -> tuple[tuple[float, float], ...]:
    if v is None:
        return ()
    if isinstance(v, int | float) and not isinstance(v, bool):
        return ((_number(where, field, v), 1.0),)
    if not isinstance(v, list):
        raise _fail(where, field, "a list of [multiple, fraction] levels, a single multiple, or null", v)
    out = []
    for i, level in enumerate(v):
        if isinstance(level, dict):
            extra = set(level) - {"multiple", "fraction"}
            if extra or "multiple" not in level or "fraction" not in level:
                raise _fail(where, f"{field}[{i}]", "a mapping with exactly 'multiple' and 'fraction'", level)
            m, f = level["multiple"], level["fraction"]
        elif isinstance(level, list | tuple) and len(level) == 2:
            m, f = level
        else:
            raise _fail(where, f"{field}[{i}]", "[multiple, fraction] or {multiple: .., fraction: ..}", level)
        out.append((_number(where, f"{field}[{i}].multiple", m), _number(where, f"{field}[{i}].fraction", f)))
    return tuple(out)


def _trailing(where: str, field: str, v: Any) -> tuple[float, float] | None:
    if v is None:
        return None
    if not isinstance(v, dict) or set(v) != {"activation", "distance"}:
        raise _fail(where, field, "a mapping {activation: multiple, distance: fraction}, or null", v)
    return (_number(where, f"{field}.activation", v["activation"]),
            _number(where, f"{field}.distance", v["distance"]))


def _optional_number(where: str, field: str, v: Any) -> float | None:
    return None if v is None else _number(where, field, v, "a number or null")


def _build(where: str, doc: dict[str, Any], name: str) -> Strategy:
    """One strategy from a (sweep-free) mapping of YAML values."""
    intrabar = doc.get("intrabar", "stop_first")
    if not isinstance(intrabar, str):
        raise _fail(where, "intrabar", f"one of {', '.join(INTRABAR_POLICIES)}", intrabar)
    try:
        return Strategy(
            name=name,
            take_profit=_ladder(where, "take_profit", doc.get("take_profit")),
            stop_loss=_optional_number(where, "stop_loss", doc.get("stop_loss")),
            trailing_stop=_trailing(where, "trailing_stop", doc.get("trailing_stop")),
            break_even=_optional_number(where, "break_even", doc.get("break_even")),
            time_exit_s=_duration(where, "time_exit", doc.get("time_exit"), optional=True),
            entry_delay_s=_duration(where, "entry_delay", doc.get("entry_delay", 0)),
            fee_bps=_number(where, "fee_bps", doc.get("fee_bps", 0)),
            slippage_bps=_number(where, "slippage_bps", doc.get("slippage_bps", 0)),
            intrabar=intrabar,
            horizon_s=_duration(where, "horizon", doc.get("horizon", DEFAULT_HORIZON_S)),
            max_entry_gap_s=_duration(where, "max_entry_gap", doc.get("max_entry_gap", DEFAULT_MAX_ENTRY_GAP_S)),
        )
    except StrategyError as exc:
        # re-raise with the file as the place (the dataclass check only knows the strategy name)
        if str(exc).startswith(where):
            raise
        raise StrategyError(f"{where}: {getattr(exc, 'detail', exc)}") from None


def _label_value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int | float):
        return f"{v:g}"
    if isinstance(v, list):  # a ladder: 2:0.5+5:0.5
        parts = []
        for level in v:
            if isinstance(level, dict):
                level = [level.get("multiple"), level.get("fraction")]
            parts.append(":".join(_label_value(x) for x in level) if isinstance(level, list | tuple)
                         else _label_value(level))
        return "+".join(parts)
    if isinstance(v, dict):
        return "/".join(_label_value(v[k]) for k in sorted(v))
    return str(v)


def parse_strategies(doc: Any, *, where: str, default_name: str) -> list[Strategy]:
    """Strategies from one parsed YAML document (a mapping); `where` names the source in errors."""
    if not isinstance(doc, dict):
        raise _fail(where, "(top level)", "a mapping of strategy fields", type(doc).__name__)
    unknown = [k for k in doc if k not in _FIELDS]
    if unknown:
        raise _fail(where, str(unknown[0]), f"a known field ({', '.join(_FIELDS)})")
    name = doc.get("name", default_name)
    if not isinstance(name, str) or not name.strip() or any(ch in name for ch in "[],="):
        raise _fail(where, "name", "a non-empty string without [ ] , =", name)
    sweep = doc.get("sweep")
    if sweep is None:
        return [_build(where, doc, name)]
    if not isinstance(sweep, dict) or not sweep:
        raise _fail(where, "sweep", "a mapping of field -> list of values")
    axes = []
    for field, values in sweep.items():
        if field not in _SWEEP_LABELS:
            raise _fail(where, f"sweep.{field}", f"a sweepable field ({', '.join(_SWEEP_LABELS)})")
        if not isinstance(values, list) or not values:
            raise _fail(where, f"sweep.{field}", "a non-empty list of values", values)
        if field.startswith("trailing_stop.") and not isinstance(doc.get("trailing_stop"), dict):
            raise _fail(where, f"sweep.{field}", "a base trailing_stop mapping to vary", doc.get("trailing_stop"))
        if field in doc:
            raise _fail(where, f"sweep.{field}", "a field not also set outside the sweep")
        axes.append((field, values))
    out, names = [], set()
    for combo in itertools.product(*(values for _, values in axes)):
        variant = {k: v for k, v in doc.items() if k != "sweep"}
        if isinstance(variant.get("trailing_stop"), dict):
            variant["trailing_stop"] = dict(variant["trailing_stop"])
        labels = []
        for (field, _), value in zip(axes, combo, strict=True):
            if field.startswith("trailing_stop."):
                variant["trailing_stop"][field.split(".", 1)[1]] = value
            else:
                variant[field] = value
            labels.append(f"{_SWEEP_LABELS[field]}={_label_value(value)}")
        vname = f"{name}[{','.join(labels)}]"
        if vname in names:
            raise _fail(where, "sweep", "values that give distinct variant names", vname)
        names.add(vname)
        out.append(_build(f"{where} (variant {vname})", variant, vname))
    return out


def load_strategy_file(path: str | Path) -> list[Strategy]:
    """All strategies of one YAML file (one, or a sweep's expansion). Raises StrategyError naming the file."""
    path = Path(path)
    where = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StrategyError(f"{where}: cannot read the file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise StrategyError(f"{where}: field '(yaml)': expected valid YAML: {exc}") from exc
    return parse_strategies(doc, where=where, default_name=path.stem)


def load_strategies(folder: str | Path) -> dict[str, list[Strategy]]:
    """Every `*.yaml` file of `folder`, by file stem. Strategy names must be unique across files,
    since trades and leaderboards are keyed by name."""
    out: dict[str, list[Strategy]] = {}
    seen: dict[str, str] = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        strategies = load_strategy_file(path)
        for s in strategies:
            if s.name in seen:
                raise StrategyError(f"{path}: field 'name': expected a name unique across files, "
                                    f"got {s.name!r} (also in {seen[s.name]})")
            seen[s.name] = path.name
        out[path.stem] = strategies
    return out


def strategy_file_fingerprint(path: str | Path) -> str:
    """Content hash of a strategy file: a changed file gets a new fingerprint (and its results re-run)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
