from assets.telegram.assets import telegram_calls, telegram_exports
from assets.telegram.sensors import telegram_inbox_sensor

__all__ = ["telegram_calls", "telegram_exports", "telegram_inbox_sensor"]
