"""The Telegram bot: answers allowed chats with the read API's figures, and launches backtests of strategy
files.

It long-polls the Telegram Bot API (getUpdates), asks the read API over HTTP (QUANTBOT_API_URL) and the
Dagster webserver's GraphQL API (QUANTBOT_DAGSTER_URL); `python -m serve.bot` runs it. See docs/api.md.
"""
