"""Simulated trades of every call under exit strategies given as data (YAML in strategies/).

Semantics: docs/semantics.md#entry-and-window, #fills, #rollups, #position-size, #price-impact, #volume-caps,
#order-bounds, #bankroll. No Dagster here.
"""

from quantbot_pipelines.simulation.engine import iter_simulate, simulate
from quantbot_pipelines.simulation.portfolio import Books, run_books
from quantbot_pipelines.simulation.rollups import (
    MIN_CALLER_TRADES,
    book_trades,
    caller_strategy_leaderboard,
    strategy_leaderboard,
)
from quantbot_pipelines.simulation.strategy import (
    Book,
    Strategy,
    StrategyError,
    load_strategies,
    load_strategy_file,
    parse_strategies,
    strategy_file_fingerprint,
)

__all__ = [
    "MIN_CALLER_TRADES", "Book", "Books", "Strategy", "StrategyError", "book_trades", "caller_strategy_leaderboard",
    "iter_simulate", "load_strategies", "load_strategy_file", "parse_strategies", "run_books",
    "simulate", "strategy_file_fingerprint", "strategy_leaderboard",
]
