"""The simulation stage: every call under every strategy file, the books that follow them, and the strategy
leaderboards."""

from dagster import Definitions

from assets.partitions import CallDays
from assets.simulation.assets import caller_strategy_leaderboard, simulation_results, strategy_leaderboard
from assets.simulation.portfolio import portfolio
from assets.simulation.sensors import strategies_sensor
from resources.settings import Settings


def defs(settings: Settings, days: CallDays) -> Definitions:
    return Definitions(assets=[simulation_results(days.day_x_strategy), portfolio, strategy_leaderboard,
                               caller_strategy_leaderboard],
                       sensors=[strategies_sensor(settings, days.days)])
