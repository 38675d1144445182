"""Every table with a dashboard page links to it from its description and metadata in the Dagster UI."""

from __future__ import annotations

from assets.dashboard_links import PAGES
from tests.support.pipeline import make_definitions


def test_every_table_with_a_page_links_to_it_on_the_configured_dashboard(resources):
    defs = make_definitions(resources, {"QUANTBOT_DASHBOARD_URL": "https://dash.example.org:8443/"})
    specs = {s.key: s for s in defs.resolve_all_asset_specs()}
    linked = {k: s for k, s in specs.items() if k.path[0] in PAGES}
    assert {k.path[0] for k in linked} == set(PAGES)  # no page names a table the graph lacks
    for key, spec in linked.items():
        url = "https://dash.example.org:8443" + PAGES[key.path[0]]
        assert spec.metadata["dashboard"].url == url, key
        assert spec.description.endswith(f"Read it in the dashboard: [{url}]({url})"), key
        assert len(spec.description) > len(url) * 2 + 30, key  # the asset's own description is kept
    # tables without a page keep their description as it was
    assert all("dashboard" not in s.metadata for k, s in specs.items() if k not in linked)
