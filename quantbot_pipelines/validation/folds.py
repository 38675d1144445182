"""Walk-forward folds over call days: train on the past, test on the days that follow (docs/semantics.md#walk-forward).

Fold i tests [t_i, t_i + test_days) with t_i = first_day + train_days + i x step_days and trains on the
train_days before t_i (rolling) or on every day from first_day (anchored). A fold's key is its test window
(`2025-11-01..2025-11-14`), so keys stay the same as days are added.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MODES = ("rolling", "anchored")


@dataclass(frozen=True)
class Fold:
    index: int
    train_start: dt.date
    train_end: dt.date  # exclusive
    test_start: dt.date
    test_end: dt.date  # exclusive

    @property
    def key(self) -> str:
        return f"{self.test_start}..{self.test_end - dt.timedelta(days=1)}"

    @property
    def train_days(self) -> list[dt.date]:
        return _days(self.train_start, self.train_end)

    @property
    def test_days(self) -> list[dt.date]:
        return _days(self.test_start, self.test_end)


def _days(first: dt.date, end: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((end - first).days)]


@dataclass(frozen=True)
class FoldPlan:
    train_days: int = 60
    test_days: int = 14
    step_days: int = 14
    mode: str = "rolling"

    def __post_init__(self):
        for name in ("train_days", "test_days", "step_days"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a whole number of days >= 1, not {getattr(self, name)!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")

    def fold(self, index: int, first_day: dt.date) -> Fold:
        test_start = first_day + dt.timedelta(days=self.train_days + index * self.step_days)
        train_start = first_day if self.mode == "anchored" else test_start - dt.timedelta(days=self.train_days)
        return Fold(index, train_start, test_start, test_start, test_start + dt.timedelta(days=self.test_days))

    def folds(self, first_day: dt.date, last_day: dt.date) -> list[Fold]:
        """Every fold whose test window starts on or before last_day."""
        out = []
        while (f := self.fold(len(out), first_day)).test_start <= last_day:
            out.append(f)
        return out

    def fold_of(self, key: str, first_day: dt.date) -> Fold:
        """The fold with this key under this plan and first day (ValueError if it is not one of them)."""
        start = dt.date.fromisoformat(key.split("..", 1)[0])
        offset = (start - first_day).days - self.train_days
        if offset < 0 or offset % self.step_days:
            raise ValueError(f"{key!r} is not a fold of {self} from {first_day}")
        fold = self.fold(offset // self.step_days, first_day)
        if fold.key != key:
            raise ValueError(f"{key!r} is not a fold of {self} from {first_day}")
        return fold

    def contributed_days(self, fold: Fold) -> list[dt.date]:
        """The test days a fold adds to the stitched record: those before the next fold's test window."""
        end = min(fold.test_end, fold.test_start + dt.timedelta(days=self.step_days))
        return _days(fold.test_start, end)

    def folds_touching(self, folds: list[Fold], days: set[dt.date]) -> list[Fold]:
        """The folds whose train or test window holds one of `days` (those to recompute when they change)."""
        return [f for f in folds if any(f.train_start <= d < f.test_end for d in days)]
