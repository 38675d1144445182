"""What traders read: the read API, the dashboard, the Telegram bot and the metrics, over the warehouse the
pipeline writes (docs/api.md). Nothing here imports Dagster: the pipeline's status comes from its webserver's
GraphQL API."""
