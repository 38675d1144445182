"""Every code of the backtest in one place: entry status, intrabar policies, exit and fill reasons.

Tables store the names (docs/semantics.md#entry-and-window, #fills); kernels use the int values, as module
constants (`TAKE_PROFIT = int(ExitReason.take_profit)`). Numba folds those constants into its on-disk cache of
the kernels, which is keyed on the kernel's own file: after changing a value here, clear that cache.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class EntryStatus(StrEnum):
    """TOKEN_ANALYTICS.status of a call."""

    ok = "ok"  # entered at the open of the first candle at or after call + delay, within the gap
    no_entry = "no_entry"  # the token has candles, none within the gap
    no_candles = "no_candles"  # the token has no candle at all


class Intrabar(IntEnum):
    """Which of a stop and a take-profit level, both inside one candle's range, fills first (the open
    decides when it is already through one of them)."""

    stop_first = 0
    take_profit_first = 1
    nearest_first = 2  # the one nearer the open; ties go to the stop


class ExitReason(IntEnum):
    """Why a fill happened or a trade ended; the name is SIMULATION_RESULTS.exit_reason and a fill's reason."""

    none = 0  # an unused fill slot: never stored
    take_profit = 1
    stop_loss = 2
    trailing_stop = 3
    break_even = 4
    time_exit = 5
    end_of_window = 6
    no_entry = 7
    entry = 8  # a buy part of a sized trade (its fills list the buys too)

    @property
    def label(self) -> str:
        """The stored string ('' for `none`)."""
        return "" if self is ExitReason.none else self.name
