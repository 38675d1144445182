"""The dashboard writes every figure as quantbot_pipelines/views.py does (docs/semantics.md#conventions): the
same values through the Python formatters and through static/format.js, run in the browser, give the same
strings. The values are edge cases (ties of the rounding, signs of zero, thousands, infinities) and every
figure of the served boards."""

from __future__ import annotations

import json
import math

from quantbot_pipelines import views

EDGE = {
    "signed_pct": [0.1234, -0.0005, 0.0005, 0.00049, -0.00049, 0.0, -0.0, 1.0545, 46.826, 0.00125, 0.00075,
                   -0.99, 1e-9, 123456.789, 0.6597482008086536, None, math.nan, 0.015, 0.025, 2.5e-4],
    "multiple": [2.345, 2.355, 2.675, 99.994, 99.996, 99.995, 100.0, 100.5, 101.5, 1234.5, 2500.5, 1234567.5,
                 0.5, 0.005, 0.0, 1e21, 3.5e22, None, math.inf],
    "share": [0.125, 0.375, 0.005, 0.445, 0.0, 1.0, 0.5, 0.015, 0.025, 0.999, 0.995, 0.0049, None, -0.125],
    "hmm": [0, 29, 30, 31, 89, 90, 150, 210, 3599, 3600, 5400.5, 172845, 61, 1e7, None, math.nan, -90],
    "profit_factor": [5.1712, math.inf, 0.0, 1.005, 2.675, 0.125, 13.920746989081861, None],
    "points": [-88.0, 59.0, 12.25, 12.35, 1234.5, -1234.56, 0.0, 1e6, 2.5, -0.05, None],
    "usd": [1_234_567.0, 12_345.0, 12_350.0, 999.994, 999.995, -2.5e9, 0.125, 0.0, 1e3, 999_950.0, None, math.nan],
    "money": [18246.4, -12.345, 2000.0, 0.005, 0.015, 1234567.891, 0.0, None, math.inf],
    "price": [3.6123e-7, 0.00011988243, 0.5, 0.12345, 0.00012345, 1.23456, 1.00005, 1234.5678, 999.99995, 0.0,
              -0.0012345, None, math.nan],
}
RANGES = [(0.1, 0.1002), (0.1, 0.2), (None, 0.1), (0.1, None), (-0.05, 0.3), (0.0, 0.0004999), (-0.001, 0.0)]
EXITS = ['{"stop_loss": 0.54, "trailing_stop": 0.3125, "time_exit": 0.1475}',
         '{"a": 0.5, "b": 0.5, "c": 0.125, "d": 0.1}', '{"take_profit": 1.0}', None, ""]
# the figures views.py writes inline: score, points per call, a book's max drawdown and Sharpe
INLINE = {
    ("decimal", 3): lambda x: "" if x is None else f"{x:.3f}",
    ("decimal", 2): lambda x: "" if x is None else f"{x:.2f}",
    ("signed", 2): lambda x: "" if x is None else f"{x:+.2f}",
}
PCT = lambda x: "" if x is None else f"{x * 100:.1f}%"  # book max DD, as strategy_board_view writes it


def served_values(http) -> dict[str, list]:
    """Every figure the dashboard formats on the served boards."""
    strategies = http.get("/api/v1/strategies", params={"limit": 500}).json()["items"]
    callers = http.get("/api/v1/callers", params={"limit": 500}).json()["items"]
    calls = http.get("/api/v1/calls", params={"limit": 500}).json()["items"]
    pick = lambda rows, *keys: [r[k] for r in rows for k in keys]
    return {
        "signed_pct": pick(strategies, "mean_return", "median_return", "worst_trade", "best_trade", "book_return"),
        "multiple": pick(callers, "median_x", "mean_x") + pick(calls, "x_from_call", "ath_multiple"),
        "share": pick(strategies, "win_rate", "sweep_dsr", "sweep_pbo") + pick(callers, "hit_rate_2x", "rug_rate"),
        "hmm": pick(callers, "median_time_to_peak_s") + pick(calls, "time_to_2x_s"),
        "profit_factor": pick(strategies, "profit_factor"),
        "points": pick(callers, "points"),
        "top_exits": pick(strategies, "exit_reason_shares"),
        "score": pick(callers, "score"),
        "points_per_call": pick(callers, "points_per_call"),
        "drawdown": pick(strategies, "book_max_drawdown"),
        "usd": pick(calls, "card_mcap_usd"),
    }


JS = """async (cases) => {
  const F = await import("/static/format.js");
  return cases.map(([name, args]) => F[name](...args));
}"""


def test_js_formatters_write_what_views_writes(tab, http):
    served = served_values(http)
    assert served["signed_pct"] and served["multiple"] and served["top_exits"]
    cases: list[tuple[str, list]] = []
    expected: list[str] = []

    def case(js_name: str, args: list, want: str) -> None:
        cases.append((js_name, args))
        expected.append(want)

    for name, values in EDGE.items():
        for x in values + served.get(name, []):
            case(name, [x], getattr(views, name)(x))
    for lo, hi in RANGES:
        case("return_range", [lo, hi], views.return_range(lo, hi))
    for s in EXITS + served["top_exits"]:
        case("top_exits", [s], views.top_exits(s))
    for (js_name, digits), py in INLINE.items():
        for x in EDGE["signed_pct"][:16] + served["score"] + served["points_per_call"]:
            case(js_name, [x, digits], py(x))
    for x in EDGE["share"] + served["drawdown"]:
        case("pct", [x], PCT(x))

    tab.open("/tokens")  # any page of the origin, for the module's URL
    got = tab.page.evaluate(JS, cases)
    wrong = [f"{name}({', '.join(map(repr, args))}): views {want!r}, format.js {out!r}"
             for (name, args), want, out in zip(cases, expected, got, strict=True) if want != out]
    assert not wrong, f"{len(wrong)} of {len(cases)} differ:\n" + "\n".join(wrong[:40])
    assert len(cases) > 300, json.dumps(cases[:3])
