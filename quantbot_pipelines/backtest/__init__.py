"""The backtest core: each call's entry and candle window, and the codes the kernels share.

- enums: EntryStatus, Intrabar, ExitReason (names stored in tables, int codes used by the kernels);
- windows: the entry rule (docs/semantics.md#entry-and-window), `call_windows` -> `CallWindows`;
- nb: numba helpers over columnar data (Arrow string-view runs, lower bound, max/min of a span).
"""

from quantbot_pipelines.backtest.enums import EntryStatus, ExitReason, Intrabar
from quantbot_pipelines.backtest.windows import (
    DEFAULT_HORIZON_S,
    DEFAULT_MAX_ENTRY_GAP_S,
    CallWindows,
    call_windows,
    epoch_seconds,
)

__all__ = [
    "DEFAULT_HORIZON_S",
    "DEFAULT_MAX_ENTRY_GAP_S",
    "CallWindows",
    "EntryStatus",
    "ExitReason",
    "Intrabar",
    "call_windows",
    "epoch_seconds",
]
