"""`python -m serve.bot` (`make bot`): the bot with the settings of the environment, until Ctrl-C."""

from __future__ import annotations

import logging
import sys

from resources.settings import SettingsError


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from serve.bot.bot import Bot
    from serve.bot.settings import BotSettings

    try:
        settings = BotSettings.from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    bot = Bot(settings)
    try:
        bot.run()
    except KeyboardInterrupt:
        logging.getLogger("serve.bot").info("stopping (Ctrl-C)")
    finally:
        bot.close(timeout=2.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
