"""Each table's page in the dashboard (`make serve`), linked from its description in the Dagster UI; the
dashboard links back to the asset pages here."""

import warnings

from dagster import AssetSpec, Definitions, MetadataValue, PreviewWarning

# the page that reads each table; tables without a page of their own are read through the API
PAGES = {
    "telegram_calls": "/calls",
    "token_analytics": "/calls",
    "raw_candles": "/calls",
    "aggregated_candles": "/calls",
    "caller_leaderboard": "/callers",
    "caller_boards": "/callers",
    "token_leaderboard": "/tokens",
    "simulation_results": "/strategies",
    "strategy_leaderboard": "/strategies",
    "caller_strategy_leaderboard": "/strategies",
    "portfolio_results": "/strategies",
    "portfolio_books": "/strategies",
    "portfolio_equity": "/strategies",
    "walk_forward": "/",
    "walk_forward_trades": "/",
    "walk_forward_summary": "/",
    "telegram_staged_calls": "/api/v1/exports",
    "telegram_quarantine": "/api/v1/quarantine",
}


def with_dashboard_links(defs: Definitions, base_url: str) -> Definitions:
    """`defs` with a dashboard link in the description and metadata of every asset that has a page."""

    def link(spec: AssetSpec) -> AssetSpec:
        url = base_url.rstrip("/") + PAGES[spec.key.path[0]]
        text = f"{spec.description or ''}\n\nRead it in the dashboard: [{url}]({url})".lstrip()
        return spec.replace_attributes(description=text).merge_attributes(
            metadata={"dashboard": MetadataValue.url(url)})

    keys = [spec.key for spec in defs.resolve_all_asset_specs() if spec.key.path[0] in PAGES]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)  # the mapping is ours to keep working: tests cover it
        return defs.map_resolved_asset_specs(func=link, selection=keys)
