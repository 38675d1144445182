from assets.candles.assets import raw_candles

__all__ = ["raw_candles"]
