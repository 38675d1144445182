from assets.simulation.assets import caller_strategy_leaderboard, simulation_results, strategy_leaderboard
from assets.simulation.sensors import strategies_sensor

__all__ = ["caller_strategy_leaderboard", "simulation_results", "strategies_sensor", "strategy_leaderboard"]
