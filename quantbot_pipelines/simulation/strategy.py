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
    size: 500                     # USD per trade; absent = unit size (returns only, no USD figures)
    impact: xyk                   # none (default) or xyk: fills priced against the pool (needs size)
    dex_fee_bps: 25               # the pool's own fee (xyk); default 25, 100 on a pump.fun curve
    fee_fixed_usd: 0.5            # per transaction (priority fee, tip); needs size
    max_volume_share: 0.2         # a fill takes at most this share of a candle's volume (needs size)
    book: {bankroll: 2000, sizing: fixed, stake: 500, max_open: 10, max_per_token: 1}   # the bankroll

A sweep adds a `sweep:` mapping of field -> list of values; the file then expands to the cartesian product
(in the order the keys are written), each variant named `<name>[tp=3,sl=0.5]`. Sweepable fields and their
labels: take_profit (tp), stop_loss (sl), trailing_stop (trail), trailing_stop.activation (trail_act),
trailing_stop.distance (trail_dist), break_even (be), time_exit (time), entry_delay (delay), fee_bps (fee),
slippage_bps (slip), intrabar (intrabar), size (size), impact (impact), dex_fee_bps (dexfee), fee_fixed_usd
(fixed), max_volume_share (vol). Example: 5 take-profits x 5 stops x 4 time exits = 100 strategies
in five lines. strategies/README.md shows complete files.

Limits, so that no file (however written) costs more than a bounded amount of work: a file is at most
MAX_FILE_BYTES (256 KB) of UTF-8, with no YAML anchors or aliases and at most MAX_DEPTH (16) levels of nested
lists and mappings; durations are at most MAX_DURATION_S (365 days); a ladder has at most MAX_LEVELS (32)
levels; a sweep expands to at most `max_variants` strategies (DEFAULT_MAX_VARIANTS, 10 000; the setting
QUANTBOT_MAX_VARIANTS). Every swept value is checked, and the product's size computed, before any variant
is built.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from quantbot_pipelines.backtest import DEFAULT_HORIZON_S, DEFAULT_MAX_ENTRY_GAP_S, Intrabar

INTRABAR_POLICIES = tuple(p.name for p in Intrabar)
_EPS = 1e-9

MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 16  # nested lists / mappings in a file (a ladder of [m, f] pairs in a sweep list is 4)
MAX_DURATION_S = 365 * 86400
MAX_LEVELS = 32  # take-profit levels of one ladder
DEFAULT_MAX_VARIANTS = 10_000
_MAX_MAGNITUDE = 1e15  # larger numbers are no multiple, fraction or basis points (and may not fit a float)
_MAX_DURATION = "365 days"
_MAX_NAME = 200  # characters of a strategy name (variant names add their labels)


BOOK_SIZINGS = ("fixed", "equity_share")
IMPACT_MODELS = ("none", "xyk")


@dataclass(frozen=True)
class Book:
    """The bankroll that follows a strategy's calls: docs/semantics.md#bankroll."""

    bankroll_usd: float = 2000.0
    sizing: str = "fixed"  # fixed: stake_usd per call; equity_share: equity_share x equity at the call
    stake_usd: float | None = None  # None: the strategy's size, else DEFAULT_STAKE_USD
    equity_share: float = 0.05
    max_open: int = 10
    max_per_token: int = 1  # positions in one token at a time


DEFAULT_STAKE_USD = 100.0


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
    size_usd: float | None = None  # None: unit size (today's returns, no USD figures)
    impact: str = "none"
    dex_fee_bps: float | None = None  # None: by venue (DEFAULT_DEX_FEE_BPS, PUMP_FEE_BPS on a bonding curve)
    fee_fixed_usd: float = 0.0
    max_volume_share: float | None = None
    book: Book = Book()

    def __post_init__(self) -> None:
        _check_strategy(self, where=f"strategy {self.name!r}")

    @property
    def sized(self) -> bool:
        """Whether trades are priced in USD (size, impact, fixed fees, volume caps apply)."""
        return self.size_usd is not None

    @property
    def stake_usd(self) -> float:
        """The book's fixed stake per call."""
        if self.book.stake_usd is not None:
            return self.book.stake_usd
        return self.size_usd if self.size_usd is not None else DEFAULT_STAKE_USD

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
    if len(s.take_profit) > MAX_LEVELS:
        raise _fail(where, "take_profit", f"at most {MAX_LEVELS} levels", len(s.take_profit))
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
    if s.time_exit_s is not None and not 0 < s.time_exit_s <= MAX_DURATION_S:
        raise _fail(where, "time_exit", f"a positive duration of at most {_MAX_DURATION}", s.time_exit_s)
    if not 0 <= s.entry_delay_s <= MAX_DURATION_S:
        raise _fail(where, "entry_delay", f"a duration >= 0 of at most {_MAX_DURATION}", s.entry_delay_s)
    for field in ("fee_bps", "slippage_bps"):
        v = getattr(s, field)
        if not 0 <= v < 10_000:
            raise _fail(where, field, "basis points in [0, 10000)", v)
    if s.intrabar not in INTRABAR_POLICIES:
        raise _fail(where, "intrabar", f"one of {', '.join(INTRABAR_POLICIES)}", s.intrabar)
    if not 0 < s.horizon_s <= MAX_DURATION_S:
        raise _fail(where, "horizon", f"a positive duration of at most {_MAX_DURATION}", s.horizon_s)
    if not 0 <= s.max_entry_gap_s <= MAX_DURATION_S:
        raise _fail(where, "max_entry_gap", f"a duration >= 0 of at most {_MAX_DURATION}", s.max_entry_gap_s)
    if s.size_usd is not None and not 0 < s.size_usd <= _MAX_MAGNITUDE:
        raise _fail(where, "size", "USD per trade > 0, or null (unit size)", s.size_usd)
    if s.impact not in IMPACT_MODELS:
        raise _fail(where, "impact", f"one of {', '.join(IMPACT_MODELS)}", s.impact)
    if s.dex_fee_bps is not None and not 0 <= s.dex_fee_bps < 10_000:
        raise _fail(where, "dex_fee_bps", "basis points in [0, 10000), or null (by venue)", s.dex_fee_bps)
    if not 0 <= s.fee_fixed_usd <= _MAX_MAGNITUDE:
        raise _fail(where, "fee_fixed_usd", "USD per transaction >= 0", s.fee_fixed_usd)
    if s.max_volume_share is not None and not 0 < s.max_volume_share <= 1:
        raise _fail(where, "max_volume_share", "a share in (0, 1] of a candle's volume, or null", s.max_volume_share)
    if s.size_usd is None:
        for field, on in (("impact", s.impact != "none"), ("fee_fixed_usd", s.fee_fixed_usd > 0),
                          ("max_volume_share", s.max_volume_share is not None)):
            if on:
                raise _fail(where, field, "a `size` in USD to apply to (unit-size trades have no USD amounts)")
    b = s.book
    if not 0 < b.bankroll_usd <= _MAX_MAGNITUDE:
        raise _fail(where, "book.bankroll", "USD > 0", b.bankroll_usd)
    if b.sizing not in BOOK_SIZINGS:
        raise _fail(where, "book.sizing", f"one of {', '.join(BOOK_SIZINGS)}", b.sizing)
    if b.stake_usd is not None and not 0 < b.stake_usd <= _MAX_MAGNITUDE:
        raise _fail(where, "book.stake", "USD per call > 0", b.stake_usd)
    if not 0 < b.equity_share <= 1:
        raise _fail(where, "book.share", "a share in (0, 1] of equity", b.equity_share)
    if not (isinstance(b.max_open, int) and 1 <= b.max_open <= 1_000_000):
        raise _fail(where, "book.max_open", "a whole number of positions >= 1", b.max_open)
    if not (isinstance(b.max_per_token, int) and 1 <= b.max_per_token <= 1_000_000):
        raise _fail(where, "book.max_per_token", "a whole number of positions >= 1", b.max_per_token)


# ---- parsing of YAML values -------------------------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_FIELDS = ("name", "description", "take_profit", "stop_loss", "trailing_stop", "break_even", "time_exit",
           "entry_delay", "fee_bps", "slippage_bps", "intrabar", "horizon", "max_entry_gap", "size", "impact",
           "dex_fee_bps", "fee_fixed_usd", "max_volume_share", "book", "sweep")
_SWEEP_LABELS = {"take_profit": "tp", "stop_loss": "sl", "trailing_stop": "trail",
                 "trailing_stop.activation": "trail_act", "trailing_stop.distance": "trail_dist",
                 "break_even": "be", "time_exit": "time", "entry_delay": "delay", "fee_bps": "fee",
                 "slippage_bps": "slip", "intrabar": "intrabar", "size": "size", "impact": "impact",
                 "dex_fee_bps": "dexfee", "fee_fixed_usd": "fixed", "max_volume_share": "vol"}
_BOOK_FIELDS = ("bankroll", "sizing", "stake", "share", "max_open", "max_per_token")


def _shown(v: Any) -> Any:
    """A value as quoted in an error: long ones cut (a message never carries a whole hostile value)."""
    text = repr(v)
    return v if len(text) <= 80 else _Cut(text[:77] + "...")


class _Cut(str):
    def __repr__(self) -> str:
        return str(self)


def _finite(v: Any) -> bool:
    """A real number a float holds exactly enough: not bool, not nan/inf, not a 400-digit int."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    return abs(v) <= _MAX_MAGNITUDE if isinstance(v, int) else math.isfinite(v) and abs(v) <= _MAX_MAGNITUDE


def _number(where: str, field: str, v: Any, expected: str = "a number") -> float:
    if not _finite(v):
        raise _fail(where, field, expected, _shown(v))
    return float(v)


def _duration(where: str, field: str, v: Any, optional: bool = False) -> int | None:
    if v is None and optional:
        return None
    expected = ("seconds or a duration like 30s, 15m, 24h, 2d, of at most " + _MAX_DURATION
                + (", or null" if optional else ""))
    seconds: float | None = None
    if isinstance(v, str):
        m = _DURATION.match(v) if len(v) <= 40 else None
        if m:
            seconds = float(m.group(1)) * _UNITS[m.group(2)]
    elif isinstance(v, int | float) and not isinstance(v, bool) and (isinstance(v, int) or math.isfinite(v)):
        seconds = v
    if seconds is None:
        raise _fail(where, field, expected, _shown(v))
    if not -MAX_DURATION_S <= seconds <= MAX_DURATION_S:  # sign and zero: the field's own check says more
        raise _fail(where, field, expected, _shown(v))
    return round(seconds) if isinstance(v, str) else int(seconds)


def _ladder(where: str, field: str, v: Any) -> tuple[tuple[float, float], ...]:
    if v is None:
        return ()
    if isinstance(v, int | float) and not isinstance(v, bool):
        return ((_number(where, field, v), 1.0),)
    if not isinstance(v, list):
        raise _fail(where, field, "a list of [multiple, fraction] levels, a single multiple, or null", _shown(v))
    if len(v) > MAX_LEVELS:
        raise _fail(where, field, f"at most {MAX_LEVELS} levels", len(v))
    out = []
    for i, level in enumerate(v):
        if isinstance(level, dict):
            extra = set(level) - {"multiple", "fraction"}
            if extra or "multiple" not in level or "fraction" not in level:
                raise _fail(where, f"{field}[{i}]", "a mapping with exactly 'multiple' and 'fraction'",
                            _shown(level))
            m, f = level["multiple"], level["fraction"]
        elif isinstance(level, list | tuple) and len(level) == 2:
            m, f = level
        else:
            raise _fail(where, f"{field}[{i}]", "[multiple, fraction] or {multiple: .., fraction: ..}", _shown(level))
        out.append((_number(where, f"{field}[{i}].multiple", m), _number(where, f"{field}[{i}].fraction", f)))
    return tuple(out)


def _trailing(where: str, field: str, v: Any) -> tuple[float, float] | None:
    if v is None:
        return None
    if not isinstance(v, dict) or set(v) != {"activation", "distance"}:
        raise _fail(where, field, "a mapping {activation: multiple, distance: fraction}, or null", _shown(v))
    return (_number(where, f"{field}.activation", v["activation"]),
            _number(where, f"{field}.distance", v["distance"]))


def _optional_number(where: str, field: str, v: Any) -> float | None:
    return None if v is None else _number(where, field, v, "a number or null")


def _intrabar(where: str, field: str, v: Any) -> str:
    if not isinstance(v, str) or v not in INTRABAR_POLICIES:
        raise _fail(where, field, f"one of {', '.join(INTRABAR_POLICIES)}", _shown(v))
    return v


def _impact(where: str, field: str, v: Any) -> str:
    if not isinstance(v, str) or v not in IMPACT_MODELS:
        raise _fail(where, field, f"one of {', '.join(IMPACT_MODELS)}", _shown(v))
    return v


def _count(where: str, field: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1_000_000:
        raise _fail(where, field, "a whole number >= 1", _shown(v))
    return v


def _book(where: str, field: str, v: Any) -> Book:
    if v is None:
        return Book()
    if not isinstance(v, dict):
        raise _fail(where, field, f"a mapping of {', '.join(_BOOK_FIELDS)}", _shown(v))
    unknown = [k for k in v if k not in _BOOK_FIELDS]
    if unknown:
        raise _fail(where, f"{field}.{_shown(unknown[0])}", f"a known field ({', '.join(_BOOK_FIELDS)})")
    sizing = v.get("sizing", "fixed")
    if sizing not in BOOK_SIZINGS:
        raise _fail(where, f"{field}.sizing", f"one of {', '.join(BOOK_SIZINGS)}", _shown(sizing))
    return Book(
        bankroll_usd=_number(where, f"{field}.bankroll", v.get("bankroll", 2000.0)),
        sizing=sizing,
        stake_usd=_optional_number(where, f"{field}.stake", v.get("stake")),
        equity_share=_number(where, f"{field}.share", v.get("share", 0.05)),
        max_open=_count(where, f"{field}.max_open", v.get("max_open", 10)),
        max_per_token=_count(where, f"{field}.max_per_token", v.get("max_per_token", 1)),
    )


# how each sweepable field's values are read: run on every swept value before the product is built
_SWEEP_PARSERS = {
    "take_profit": _ladder,
    "stop_loss": _optional_number,
    "trailing_stop": _trailing,
    "trailing_stop.activation": _number,
    "trailing_stop.distance": _number,
    "break_even": _optional_number,
    "time_exit": lambda where, field, v: _duration(where, field, v, optional=True),
    "entry_delay": _duration,
    "fee_bps": _number,
    "slippage_bps": _number,
    "intrabar": _intrabar,
    "size": _optional_number,
    "impact": _impact,
    "dex_fee_bps": _optional_number,
    "fee_fixed_usd": _number,
    "max_volume_share": _optional_number,
}


def _build(where: str, doc: dict[str, Any], name: str) -> Strategy:
    """One strategy from a (sweep-free) mapping of YAML values."""
    intrabar = _intrabar(where, "intrabar", doc.get("intrabar", "stop_first"))
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
            size_usd=_optional_number(where, "size", doc.get("size")),
            impact=_impact(where, "impact", doc.get("impact", "none")),
            dex_fee_bps=_optional_number(where, "dex_fee_bps", doc.get("dex_fee_bps")),
            fee_fixed_usd=_number(where, "fee_fixed_usd", doc.get("fee_fixed_usd", 0)),
            max_volume_share=_optional_number(where, "max_volume_share", doc.get("max_volume_share")),
            book=_book(where, "book", doc.get("book")),
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


def parse_strategies(doc: Any, *, where: str, default_name: str,
                     max_variants: int = DEFAULT_MAX_VARIANTS) -> list[Strategy]:
    """Strategies from one parsed YAML document (a mapping); `where` names the source in errors. A sweep's
    values are all checked, and its size compared with `max_variants`, before any variant is built."""
    if not isinstance(doc, dict):
        raise _fail(where, "(top level)", "a mapping of strategy fields", type(doc).__name__)
    unknown = [k for k in doc if k not in _FIELDS]
    if unknown:
        raise _fail(where, str(_shown(unknown[0])), f"a known field ({', '.join(_FIELDS)})")
    name = doc.get("name", default_name)
    if (not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME
            or any(ch in name for ch in "[],=")):
        raise _fail(where, "name", f"a non-empty string of at most {_MAX_NAME} characters without [ ] , =",
                    _shown(name))
    sweep = doc.get("sweep")
    if sweep is None:
        return [_build(where, doc, name)]
    if not isinstance(sweep, dict) or not sweep:
        raise _fail(where, "sweep", "a mapping of field -> list of values")
    axes = []
    for field, values in sweep.items():
        if field not in _SWEEP_LABELS:
            raise _fail(where, f"sweep.{_shown(field)}", f"a sweepable field ({', '.join(_SWEEP_LABELS)})")
        if not isinstance(values, list) or not values:
            raise _fail(where, f"sweep.{field}", "a non-empty list of values", _shown(values))
        if field.startswith("trailing_stop.") and not isinstance(doc.get("trailing_stop"), dict):
            raise _fail(where, f"sweep.{field}", "a base trailing_stop mapping to vary",
                        _shown(doc.get("trailing_stop")))
        if field in doc:
            raise _fail(where, f"sweep.{field}", "a field not also set outside the sweep")
        axes.append((field, values))
    # the size first (no expansion), then every value read as its field reads it: a typo in the last value
    # of a long list is reported as such, at once, and labels are only ever built from checked values
    count = math.prod(len(values) for _, values in axes)
    if count > max_variants:
        sizes = " x ".join(str(len(values)) for _, values in axes)
        raise _fail(where, "sweep", f"at most {max_variants} variants (the cap: raise it with the setting "
                    "QUANTBOT_MAX_VARIANTS, or split the sweep across files)", _Cut(f"{count} variants ({sizes})"))
    for field, values in axes:
        parse = _SWEEP_PARSERS[field]
        for i, value in enumerate(values):
            parse(where, f"sweep.{field}[{i}]", value)
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


class _Refused(yaml.YAMLError):
    """A YAML construct strategy files do not allow; the message says which, and where."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases (a few bytes of them expand to billions of nodes) and with
    nesting bounded by MAX_DEPTH (the composer recurses once per level)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark else "?"
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"no anchors or aliases (plain values only), got alias *{event.anchor} at line {line}")
        if getattr(event, "anchor", None) is not None:
            raise _Refused(f"no anchors or aliases (plain values only), got anchor &{event.anchor} at line {line}")
        if self._depth >= MAX_DEPTH:
            raise _Refused(f"lists and mappings nested at most {MAX_DEPTH} levels deep, got more at line {line}")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _read_text(path: Path, where: str) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
            size = len(data) if len(data) <= MAX_FILE_BYTES else os.fstat(f.fileno()).st_size
    except OSError as exc:
        raise StrategyError(f"{where}: cannot read the file: {exc}") from exc
    if size > MAX_FILE_BYTES:
        raise _fail(where, "(file)", f"at most {MAX_FILE_BYTES} bytes", _Cut(f"{size} bytes"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(where, "(file)", "UTF-8 text",
                    _Cut(f"an invalid byte at offset {exc.start} (0x{data[exc.start]:02x})")) from None


def load_strategy_file(path: str | Path, *, max_variants: int = DEFAULT_MAX_VARIANTS) -> list[Strategy]:
    """All strategies of one YAML file (one, or a sweep's expansion of at most `max_variants`). Raises
    StrategyError naming the file (also for unreadable, oversized, non-UTF-8 or hostile YAML files)."""
    path = Path(path)
    where = str(path)
    text = _read_text(path, where)
    try:
        doc = yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader subclass
    except _Refused as exc:
        raise _fail(where, "(yaml)", str(exc)) from None
    except yaml.YAMLError as exc:
        raise StrategyError(f"{where}: field '(yaml)': expected valid YAML: {exc}") from None
    return parse_strategies(doc, where=where, default_name=path.stem, max_variants=max_variants)


def load_strategies(folder: str | Path, *, max_variants: int = DEFAULT_MAX_VARIANTS) -> dict[str, list[Strategy]]:
    """Every `*.yaml` file of `folder`, by file stem. Strategy names must be unique across files,
    since trades and leaderboards are keyed by name."""
    out: dict[str, list[Strategy]] = {}
    seen: dict[str, str] = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        strategies = load_strategy_file(path, max_variants=max_variants)
        for s in strategies:
            if s.name in seen:
                raise StrategyError(f"{path}: field 'name': expected a name unique across files, "
                                    f"got {s.name!r} (also in {seen[s.name]})")
            seen[s.name] = path.name
        out[path.stem] = strategies
    return out


def strategy_file_fingerprint(path: str | Path) -> str:
    """Content hash of a strategy file: a changed file gets a new fingerprint (and its results re-run). A file
    over MAX_FILE_BYTES (refused by the loader anyway) is hashed by its size and first bytes only."""
    with Path(path).open("rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            data = b"oversized:%d:" % os.fstat(f.fileno()).st_size + data
    return hashlib.sha256(data).hexdigest()[:16]
