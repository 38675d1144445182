"""The bankroll (docs/semantics.md#bankroll) against a slow, plain Python event loop, and by hand."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import math
import statistics

import numpy as np
import polars as pl
import pytest

from quantbot_pipelines.simulation.impact import buy_tokens, pool_at, sell_usd
from quantbot_pipelines.simulation.portfolio import CURVE_BUCKETS, SUMMARY_COLUMNS, parse_fills, run_books
from quantbot_pipelines.simulation.strategy import Book, Strategy

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
TS = pl.Datetime("us", "UTC")
SCHEMA = {"day": pl.Date, "strategy_file": pl.String, "strategy": pl.String, "chat_id": pl.String,
          "message_id": pl.Int64, "caller_id": pl.String, "chain": pl.String, "address": pl.String, "call_ts": TS,
          "repeat": pl.Boolean, "entry_ts": TS, "entry_price": pl.Float64, "exit_ts": TS, "exit_reason": pl.String,
          "fills": pl.String, "net_multiple": pl.Float64, "net_return": pl.Float64, "size_usd": pl.Float64,
          "impact": pl.String, "pool_usd": pl.Float64, "liquidity_source": pl.String,
          "entry_fill_share": pl.Float64, "cost_usd": pl.Float64, "proceeds_usd": pl.Float64}


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def trade(strategy: str, msg: int, *, token: str = "A", call: float = 0, entry: float | None = 0,
          sells: list[tuple[float, float, float]] = (), buys: list[tuple[float, float, float]] = (),
          net: float | None = None, repeat: bool = False, size: float | None = None, impact: str = "none",
          pool: float | None = None, venue: str = "card", entry_price: float = 1.0, chat: str = "c") -> dict:
    """A SIMULATION_RESULTS row; sells and buys are (seconds, price, fraction). Unit-size rows get net
    multiple `net` (default: the gross proceeds over the entry price)."""
    fills = [[iso(at(t)), p, f, "entry"] for t, p, f in buys] + [[iso(at(t)), p, f, "take_profit"]
                                                                  for t, p, f in sells]
    if net is None and entry is not None:
        net = sum(p * f for _, p, f in sells) / entry_price
    last = max([t for t, _, _ in sells] + [t for t, _, _ in buys] + ([entry] if entry is not None else []),
               default=None)
    return {"day": T0.date(), "strategy_file": "file", "strategy": strategy, "chat_id": chat, "message_id": msg,
            "caller_id": "u", "chain": "solana", "address": token, "call_ts": at(call), "repeat": repeat,
            "entry_ts": None if entry is None else at(entry), "entry_price": None if entry is None else entry_price,
            "exit_ts": None if last is None else at(last), "exit_reason": "no_entry" if entry is None else "take_profit",
            "fills": json.dumps(fills) if entry is not None else None, "net_multiple": net,
            "net_return": None if net is None else net - 1.0, "size_usd": size, "impact": impact, "pool_usd": pool,
            "liquidity_source": venue, "entry_fill_share": sum(f for _, _, f in buys) if size else None,
            "cost_usd": None, "proceeds_usd": None}


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA)


def epoch(t) -> int:
    return int(t.timestamp())


# ---- the oracle: docs/semantics.md#bankroll read literally, plain floats, sorted lists ------------------


def oracle_flows(r: dict, s: Strategy, stake: float) -> tuple[float, list[tuple[int, float]]]:
    """(cost at entry, [(ts, cash)] of the sells) of row r at `stake`."""
    fills = json.loads(r["fills"]) if r["fills"] else []
    ts = [int(dt.datetime.fromisoformat(x[0]).timestamp()) for x in fills]
    exit_ts = epoch(r["exit_ts"])
    if r["size_usd"] is None:
        sells = [(t, x) for t, x in zip(ts, fills, strict=True) if x[3] != "entry"]
        gross = sum(x[2] * x[1] for _, x in sells)
        if gross == 0:
            return stake, [(exit_ts, stake * r["net_multiple"])]
        return stake, [(t, stake * r["net_multiple"] * (x[2] * x[1]) / gross) for t, x in sells]
    f, sl, fixed = s.fee_bps / 1e4, s.slippage_bps / 1e4, s.fee_fixed_usd
    if s.dex_fee_bps is not None:
        phi = s.dex_fee_bps / 1e4
    else:
        phi = 0.01 if r["liquidity_source"] == "bonding_curve" else 0.0025
    y0, pe = r["pool_usd"], r["entry_price"]
    xyk = r["impact"] == "xyk" and y0 is not None and y0 > 0

    def pool(p):  # the curve through (pe, y0): y = y0 sqrt(p / pe), x = y / p
        y = y0 * math.sqrt(p / pe)
        return y / p, y

    cost = tokens = 0.0
    out = []
    for x in fills:
        if x[3] == "entry":
            a = x[2] * stake
            if xyk:
                px, py = pool(x[1])
                got = px * (a * (1 - phi)) / (py + a * (1 - phi))
            else:
                got = a / x[1]
            tokens += got / (1 + sl)
            cost += a * (1 + f) + fixed
    for t, x in zip(ts, fills, strict=True):
        if x[3] != "entry":
            q = x[2] * tokens
            if xyk:
                px, py = pool(x[1])
                g = py * (q * (1 - phi)) / (px + q * (1 - phi))
            else:
                g = q * x[1]
            out.append((t, g * (1 - sl) * (1 - f) - fixed))
    return cost, out or [(exit_ts, 0.0)]


def oracle(rows: list[dict], s: Strategy) -> dict:
    b = s.book
    calls = sorted((r for r in rows if not r["repeat"] and r["exit_reason"] != "no_entry"
                    and r["net_return"] is not None),
                   key=lambda r: (r["entry_ts"], r["call_ts"], r["chat_id"], r["message_id"], r["chain"],
                                  r["address"]))
    cash = b.bankroll_usd
    open_ = {}  # key -> [cost, token, sells left]
    pending = []  # (ts, seq, key, cash)
    points = []  # (t, equity, open cost) after each event
    decisions = {}
    seq = 0

    def record(t):
        oc = sum(v[0] for v in open_.values())
        points.append((t, cash + oc, oc))

    def sells_until(t):
        nonlocal cash
        while pending and pending[0][0] <= t:
            ts, _, key, usd = pending.pop(0)
            cash += usd
            decisions[key]["proceeds"] += usd
            open_[key][2] -= 1
            if open_[key][2] == 0:
                del open_[key]
            record(ts)

    for r in calls:
        key = (r["chat_id"], r["message_id"], r["chain"], r["address"])
        t = epoch(r["entry_ts"])
        sells_until(t)
        eq = cash + sum(v[0] for v in open_.values())
        d = {"equity_at_entry": eq, "open_positions": len(open_), "stake": None, "cost": None, "proceeds": None}
        decisions[key] = d
        token = (r["chain"], r["address"])
        if sum(1 for v in open_.values() if v[1] == token) >= b.max_per_token:
            d["decision"] = "holding_token"
            continue
        if len(open_) >= b.max_open:
            d["decision"] = "max_open"
            continue
        stake = b.equity_share * eq if b.sizing == "equity_share" else s.stake_usd
        cost, flows = oracle_flows(r, s, stake)
        d["stake"] = stake
        if cost > cash:
            d["decision"] = "no_cash"
            continue
        d.update(decision="taken", cost=cost, proceeds=0.0)
        cash -= cost
        open_[key] = [cost, token, len(flows)]
        record(t)
        for ts, usd in flows:
            pending.append((max(ts, t), seq, key, usd))
            seq += 1
        pending.sort()
    sells_until(float("inf"))
    final = cash
    out = {"decisions": decisions, "final": final, "book_return": final / b.bankroll_usd - 1, "curve": {},
           "book_max_drawdown": 0.0, "book_cagr": None, "book_sharpe": None, "book_sortino": None,
           "book_exposure": None}
    if not points:
        return out
    inst = {}
    for t, e, oc in points:  # the state after all events of an instant
        inst[t] = (e, oc)
    times = sorted(inst)
    out["curve"] = {t: inst[t][0] for t in times}
    first, last = times[0], times[-1]
    high, dd = b.bankroll_usd, 0.0
    for t in times:
        high = max(high, inst[t][0])
        dd = max(dd, 1 - inst[t][0] / high)
    out["book_max_drawdown"] = dd
    if last > first:
        area = sum((t1 - t0) * inst[t0][1] / inst[t0][0] for t0, t1 in itertools.pairwise(times))
        out["book_exposure"] = area / (last - first)
    days = (last - first) / 86400
    if days >= 1:
        out["book_cagr"] = (final / b.bankroll_usd) ** (365 / days) - 1
    daily, prev = [], b.bankroll_usd
    for day in range(first // 86400, last // 86400 + 1):
        before = [t for t in times if t < (day + 1) * 86400]
        e = inst[before[-1]][0] if before else b.bankroll_usd
        daily.append(e / prev - 1)
        prev = e
    mean = sum(daily) / len(daily)
    if len(daily) >= 2 and statistics.stdev(daily) > 0:
        out["book_sharpe"] = mean / statistics.stdev(daily) * math.sqrt(365)
    if any(x < 0 for x in daily):
        out["book_sortino"] = mean / math.sqrt(sum(min(x, 0) ** 2 for x in daily) / len(daily)) * math.sqrt(365)
    return out


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == pytest.approx(b, rel=1e-9, abs=1e-9)


def check_against_oracle(rows: list[dict], strategies: list[Strategy]) -> None:
    books = run_books(frame(rows), strategies)
    assert books.results.height == len(rows)
    assert books.results.columns == list(_portfolio_columns())
    serial = run_books(frame(rows), strategies, parallel=False)
    assert serial.results.equals(books.results) and serial.summary.equals(books.summary)
    for s in strategies:
        want = oracle([r for r in rows if r["strategy"] == s.name], s)
        got = books.results.filter(pl.col("strategy") == s.name)
        for g in got.iter_rows(named=True):
            key = (g["chat_id"], g["message_id"], g["chain"], g["address"])
            if key not in want["decisions"]:
                assert g["decision"] in ("repeat", "no_entry")
                assert g["cost_usd"] is None and g["equity_at_entry"] is None
                continue
            w = want["decisions"][key]
            assert g["decision"] == w["decision"], (s.name, key)
            assert g["open_positions"] == w["open_positions"]
            for col, wk in (("equity_at_entry", "equity_at_entry"), ("stake_usd", "stake"), ("cost_usd", "cost"),
                            ("proceeds_usd", "proceeds")):
                assert close(g[col], w[wk]), (s.name, key, col, g[col], w[wk])
            assert (g["entry_ts"] is not None) == (w["decision"] == "taken")
        summ = books.summary.filter(pl.col("strategy") == s.name).row(0, named=True)
        assert close(summ["final_equity_usd"], want["final"])
        for col in ("book_return", "book_max_drawdown", "book_cagr", "book_sharpe", "book_sortino", "book_exposure"):
            assert close(summ[col], want[col]), (s.name, col, summ[col], want[col])
        ds = [w["decision"] for w in want["decisions"].values()]
        assert summ["book_trades"] == ds.count("taken")
        assert summ["book_skipped"] == len(ds) - ds.count("taken")
        curve = books.equity.filter(pl.col("strategy") == s.name)
        assert curve.height <= 2 * CURVE_BUCKETS + 2
        times = sorted(want["curve"])
        for t, e in curve.select("ts", "equity").iter_rows():
            # the oracle's equity at t (the engine may mark instants where nothing changed, e.g. a sell of 0)
            at_t = times[bisect.bisect_right(times, epoch(t)) - 1]
            assert close(e, want["curve"][at_t])
        if want["curve"]:
            ts = [epoch(t) for t in curve["ts"]]
            assert ts[0] == min(want["curve"]) and ts[-1] == max(want["curve"])


def _portfolio_columns():
    from quantbot_pipelines.schemas import PORTFOLIO_RESULTS

    return PORTFOLIO_RESULTS.columns


# ---- random call streams ----------------------------------------------------------------------------------


def random_stream(seed: int, strategies: list[Strategy], calls: int) -> list[dict]:
    """Calls shared by all strategies (entry times on a coarse grid, so ties and same-instant sells happen),
    a few tokens (max_per_token binds), repeats, calls without entry; per strategy its own trade."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(calls):
        call = int(rng.integers(0, 6 * 86400) // 1800 * 1800)
        token = f"T{rng.integers(0, 4)}"
        repeat = bool(rng.random() < 0.1)
        chat = f"c{rng.integers(0, 2)}"
        for s in strategies:
            entry = None if rng.random() < 0.08 else call + int(rng.choice([0, 60, 1800]))
            sells, buys = [], []
            pe = float(np.exp(rng.normal(np.log(1e-4), 1.0)))
            if entry is not None:
                t = entry
                if s.size_usd is not None:
                    parts = int(rng.integers(1, 3))
                    share = rng.dirichlet(np.ones(parts)) * (1.0 if rng.random() < 0.7 else 0.8)
                    for j in range(parts):
                        buys.append((entry + 60 * j, pe * float(np.exp(rng.normal(0, 0.05))), float(share[j])))
                n_sells = int(rng.integers(0 if s.size_usd is None else 1, 4))
                frac = rng.dirichlet(np.ones(max(n_sells, 1)))
                for j in range(n_sells):
                    t += int(rng.choice([0, 1800, 3600, 7200, 86400]))
                    sells.append((t, pe * float(np.exp(rng.normal(0.1, 0.6))), float(frac[j])))
            net = None
            if entry is not None and s.size_usd is None:
                net = float(np.exp(rng.normal(0.0, 0.7))) if not sells or rng.random() < 0.5 else None
            size = s.size_usd
            pool = float(np.exp(rng.normal(np.log(5000), 1.0))) if rng.random() < 0.85 else None
            rows.append(trade(s.name, c, token=token, call=call, entry=entry, sells=sells, buys=buys, net=net,
                              repeat=repeat, size=size, impact=s.impact, pool=pool, entry_price=pe, chat=chat,
                              venue="bonding_curve" if rng.random() < 0.3 else "card"))
    return rows


def strategies_for(seed: int) -> list[Strategy]:
    rng = np.random.default_rng(seed + 1000)
    out = []
    for j in range(4):
        sized = j >= 2
        out.append(Strategy(
            name=f"s{j}", fee_bps=float(rng.choice([0, 100])), slippage_bps=float(rng.choice([0, 50])),
            size_usd=200.0 if sized else None, impact="xyk" if j == 3 else "none",
            fee_fixed_usd=0.3 if sized else 0.0, dex_fee_bps=30.0 if seed % 3 == 0 and j == 3 else None,
            book=Book(bankroll_usd=float(rng.choice([150, 400, 2000])),
                      sizing="equity_share" if rng.random() < 0.5 else "fixed",
                      stake_usd=float(rng.choice([50, 100])) if rng.random() < 0.7 else None,
                      equity_share=float(rng.choice([0.1, 0.3])), max_open=int(rng.integers(1, 6)),
                      max_per_token=int(rng.integers(1, 3)))))
    return out


@pytest.mark.parametrize("seed", range(24))
def test_random_streams_match_the_oracle(seed):
    strategies = strategies_for(seed)
    check_against_oracle(random_stream(seed, strategies, calls=60 + 5 * seed), strategies)


def test_a_long_stream_thins_the_curve_but_keeps_its_ends():
    s = Strategy(name="long", book=Book(bankroll_usd=1000, stake_usd=10, max_open=50, max_per_token=50))
    rng = np.random.default_rng(3)
    rows = [trade("long", i, token=f"T{i % 7}", call=600 * i, entry=600 * i,
                  sells=[(600 * i + int(rng.integers(60, 40000)), float(np.exp(rng.normal(0, 0.5))), 1.0)])
            for i in range(3000)]
    check_against_oracle(rows, [s])
    assert run_books(frame(rows), [s]).equity.height < 2 * CURVE_BUCKETS + 2


# ---- by hand ---------------------------------------------------------------------------------------------


def decisions(books) -> list[str]:
    return books.results.sort("message_id")["decision"].to_list()


def summary(books, name: str = "s") -> dict:
    return books.summary.filter(pl.col("strategy") == name).row(0, named=True)


def test_holding_token_then_taken_once_the_position_closed():
    s = Strategy(name="s", book=Book(bankroll_usd=1000, stake_usd=100, max_per_token=1))
    rows = [trade("s", 0, call=0, entry=0, sells=[(3600, 2.0, 1.0)]),
            trade("s", 1, call=60, entry=60, sells=[(600, 1.0, 1.0)]),  # same token, still held
            trade("s", 2, call=3600, entry=3600, sells=[(7200, 1.0, 1.0)])]  # the first sells at this instant
    books = run_books(frame(rows), [s])
    assert decisions(books) == ["taken", "holding_token", "taken"]
    assert summary(books)["book_skipped"] == 1
    two = Strategy(name="s", book=Book(bankroll_usd=1000, stake_usd=100, max_per_token=2))
    assert decisions(run_books(frame(rows), [two])) == ["taken", "taken", "taken"]


def test_max_open_and_the_order_of_its_checks():
    s = Strategy(name="s", book=Book(bankroll_usd=1000, stake_usd=100, max_open=1))
    rows = [trade("s", 0, token="A", entry=0, sells=[(3600, 1.0, 1.0)]),
            trade("s", 1, token="B", call=10, entry=10, sells=[(100, 1.0, 1.0)]),
            trade("s", 2, token="A", call=20, entry=20, sells=[(100, 1.0, 1.0)])]  # holding comes first
    books = run_books(frame(rows), [s])
    assert decisions(books) == ["taken", "max_open", "holding_token"]
    got = books.results.sort("message_id")
    assert got["open_positions"].to_list() == [0, 1, 1]
    assert got["stake_usd"].to_list() == [100.0, None, None]


def test_no_cash_and_cash_freed_at_the_same_instant_funds_an_entry():
    s = Strategy(name="s", book=Book(bankroll_usd=150, stake_usd=100))
    rows = [trade("s", 0, token="A", entry=0, sells=[(3600, 1.5, 1.0)]),
            trade("s", 1, token="B", call=60, entry=60, sells=[(7200, 1.0, 1.0)]),  # 50 in cash
            trade("s", 2, token="C", call=3600, entry=3600, sells=[(7200, 1.0, 1.0)])]  # after A's 150 came in
    books = run_books(frame(rows), [s])
    assert decisions(books) == ["taken", "no_cash", "taken"]
    got = books.results.sort("message_id").row(1, named=True)
    assert got["equity_at_entry"] == 150.0 and got["stake_usd"] == 100.0 and got["cost_usd"] is None
    assert got["entry_ts"] is None and got["exit_ts"] is None
    assert summary(books)["final_equity_usd"] == pytest.approx(200.0)


def test_repeat_and_no_entry_rows_are_never_taken_nor_skipped():
    s = Strategy(name="s", book=Book(bankroll_usd=1000, stake_usd=100))
    rows = [trade("s", 0, token="A", entry=0, sells=[(60, 2.0, 1.0)], repeat=True),
            trade("s", 1, token="B", entry=None),
            trade("s", 2, token="C", entry=0, sells=[(60, 1.0, 1.0)], net=None),  # no result: not a trade
            trade("s", 3, token="D", entry=0, sells=[(60, 2.0, 1.0)])]
    rows[2]["net_return"] = rows[2]["net_multiple"] = None
    books = run_books(frame(rows), [s])
    assert decisions(books) == ["repeat", "no_entry", "no_entry", "taken"]
    assert summary(books)["book_trades"] == 1 and summary(books)["book_skipped"] == 0
    assert summary(books)["book_return"] == pytest.approx(0.1)


def test_equity_share_compounds():
    # two sequential +100 % trades with half the equity each: the second stake is larger
    s = Strategy(name="s", book=Book(bankroll_usd=1000, sizing="equity_share", equity_share=0.5))
    rows = [trade("s", 0, token="A", entry=0, sells=[(3600, 2.0, 1.0)]),
            trade("s", 1, token="B", call=7200, entry=7200, sells=[(10800, 2.0, 1.0)])]
    books = run_books(frame(rows), [s])
    got = books.results.sort("message_id")
    assert got["stake_usd"].to_list() == pytest.approx([500.0, 750.0])
    assert got["equity_at_entry"].to_list() == pytest.approx([1000.0, 1500.0])
    assert got["pnl_usd"].to_list() == pytest.approx([500.0, 750.0])
    assert summary(books)["final_equity_usd"] == pytest.approx(2250.0)
    assert summary(books)["book_return"] == pytest.approx(1.25)
    fixed = Strategy(name="s", book=Book(bankroll_usd=1000, stake_usd=500))
    assert summary(run_books(frame(rows), [fixed]))["final_equity_usd"] == pytest.approx(2000.0)


def test_book_value_equity_drawdown_exposure_and_daily_figures():
    # 1000 bankroll, 500 staked on day 0; half sold at 2x on day 1 (+500 cash), the rest at 0.2x on day 2
    s = Strategy(name="s", book=Book(bankroll_usd=1000, stake_usd=500))
    rows = [trade("s", 0, entry=0, sells=[(86400, 2.0, 0.5), (2 * 86400, 0.2, 0.5)])]
    got = summary(run_books(frame(rows), [s]))
    # equity: 1000 (book value while open), 1500 after the first sell, 1050 at the close
    assert got["final_equity_usd"] == pytest.approx(1050.0)
    assert got["book_max_drawdown"] == pytest.approx(1 - 1050 / 1500)
    assert got["book_exposure"] == pytest.approx((86400 * 500 / 1000 + 86400 * 500 / 1500) / (2 * 86400))
    daily = [0.0, 0.5, 1050 / 1500 - 1]
    mean = sum(daily) / 3
    assert got["book_sharpe"] == pytest.approx(mean / statistics.stdev(daily) * math.sqrt(365))
    assert got["book_sortino"] == pytest.approx(mean / math.sqrt(daily[2] ** 2 / 3) * math.sqrt(365))
    assert got["book_cagr"] == pytest.approx(1.05 ** (365 / 2) - 1)


def test_no_trades_and_short_books():
    s = Strategy(name="s", book=Book(bankroll_usd=50, stake_usd=100))
    t = Strategy(name="t", book=Book(bankroll_usd=1000, stake_usd=100))
    rows = [trade("s", 0, entry=0, sells=[(60, 2.0, 1.0)]), trade("t", 0, entry=0, sells=[(60, 2.0, 1.0)])]
    books = run_books(frame(rows), [s, t, Strategy(name="u")])
    assert books.summary.columns == list(SUMMARY_COLUMNS)
    broke = summary(books, "s")
    assert broke["book_trades"] == 0 and broke["book_skipped"] == 1 and broke["book_return"] == 0.0
    assert broke["book_sharpe"] is None and broke["book_cagr"] is None and broke["book_exposure"] is None
    short = summary(books, "t")
    assert short["book_return"] == pytest.approx(0.1)
    assert short["book_cagr"] is None and short["book_sharpe"] is None  # under a day, one daily return
    assert summary(books, "u")["book_trades"] == 0
    empty = run_books(frame([]), [s])
    assert empty.results.height == 0 and empty.summary["final_equity_usd"].to_list() == [50.0]


# ---- cash flows of sized trades -----------------------------------------------------------------------


@pytest.mark.parametrize("impact,pool,venue,dex", [("xyk", 20_000.0, "card", None),
                                                   ("xyk", 8_000.0, "bonding_curve", None),
                                                   ("xyk", 8_000.0, "bonding_curve", 40.0),
                                                   ("xyk", None, "none", None), ("none", None, "card", None)])
def test_at_its_own_size_a_trade_costs_and_returns_what_the_simulator_says(impact, pool, venue, dex):
    s = Strategy(name="s", size_usd=500.0, impact=impact, fee_bps=100, slippage_bps=50, fee_fixed_usd=0.5,
                 dex_fee_bps=dex, book=Book(bankroll_usd=10_000))
    pe = 2.5e-5
    buys = [(0, pe, 0.6), (60, pe * 1.1, 0.3)]  # the volume cap spread the buy, 90 % filled
    sells = [(3600, pe * 2.0, 0.5), (7200, pe * 0.8, 0.5)]
    row = trade("s", 0, entry=0, buys=buys, sells=sells, size=500.0, impact=impact, pool=pool, venue=venue,
                entry_price=pe, net=1.0)
    # the simulator's own arithmetic (docs/semantics.md#position-size, #price-impact)
    f, sl, fixed = 0.01, 0.005, 0.5
    phi = dex / 1e4 if dex is not None else (0.01 if venue == "bonding_curve" else 0.0025)
    on_pool = impact == "xyk" and pool is not None
    tokens = cost = 0.0
    for _, p, a in buys:
        usd = a * 500.0
        tokens += (buy_tokens(usd, *pool_at(pool, pe, p), phi) if on_pool else usd / p) / (1 + sl)
        cost += usd * (1 + f) + fixed
    proceeds = 0.0
    for _, p, r in sells:
        q = r * tokens
        proceeds += (sell_usd(q, *pool_at(pool, pe, p), phi) if on_pool else q * p) * (1 - sl) * (1 - f) - fixed
    row["cost_usd"], row["proceeds_usd"] = cost, proceeds
    row["net_multiple"] = proceeds / cost
    row["net_return"] = row["net_multiple"] - 1
    got = run_books(frame([row]), [s]).results.row(0, named=True)
    assert got["decision"] == "taken" and got["stake_usd"] == 500.0
    assert got["cost_usd"] == pytest.approx(row["cost_usd"], rel=1e-9)
    assert got["proceeds_usd"] == pytest.approx(row["proceeds_usd"], rel=1e-9)
    if on_pool:  # impact really applied: without the pool the proceeds differ
        flat = dict(row, impact="none")
        assert run_books(frame([flat]), [s]).results["proceeds_usd"][0] != pytest.approx(proceeds, rel=1e-6)


def test_a_stake_other_than_the_size_scales_a_flat_trade_and_not_a_pool_trade():
    pe = 1e-4
    for impact, linear in (("none", True), ("xyk", False)):
        rows = [trade(n, 0, entry=0, buys=[(0, pe, 1.0)], sells=[(60, 2 * pe, 1.0)], size=500.0, impact=impact,
                      pool=3000.0, entry_price=pe) for n in ("a", "b")]
        books = run_books(frame(rows), [Strategy(name="a", size_usd=500.0, impact=impact, book=Book(stake_usd=100)),
                                        Strategy(name="b", size_usd=500.0, impact=impact,
                                                 book=Book(stake_usd=1000, bankroll_usd=5000))])
        r = books.results.sort("strategy")
        ratio = r["proceeds_usd"][1] / r["proceeds_usd"][0]
        assert (ratio == pytest.approx(10.0)) == linear


# ---- fills parsing --------------------------------------------------------------------------------------


def test_fills_parse_as_float_reads_them():
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.random(20_000) * 10.0 ** rng.integers(-12, 8, 20_000),
                        (rng.integers(0, 2**62, 20_000, dtype=np.int64) | np.int64(1 << 52)).view(np.float64)])
    x = x[np.isfinite(x)]
    texts = pl.Series(x).cast(pl.String).to_list() + [repr(float(v)) for v in x[:5000]] + [
        "0", "-0.0", "1e-7", "1E+20", "9007199254740993", "2.2250738585072011e-308", "4.9e-324", "1e400",
        "123456789012345678901234567890", "0.30000000000000004", "7.450580596923828125e-9", "0.1"]
    pairs = list(zip(texts[0::2], texts[1::2], strict=False))
    rows = ["[" + ",".join(f'["2024-05-01T00:00:{k:02d}Z",{a},{b},"{"entry" if k == 0 else "take_profit"}"]'
                           for k, (a, b) in enumerate(pairs[i:i + 3])) + "]" for i in range(0, len(pairs), 3)]
    f = parse_fills(pl.Series(rows))
    flat = [x for r in rows for x in json.loads(r)]
    assert len(f.ts) == len(flat) and f.start[-1] == len(flat)
    assert np.array_equal(f.price.view(np.int64), np.array([float(x[1]) for x in flat]).view(np.int64))
    assert np.array_equal(f.fraction.view(np.int64), np.array([float(x[2]) for x in flat]).view(np.int64))
    assert f.entry.tolist() == [x[3] == "entry" for x in flat]
    assert f.ts.tolist() == [int(dt.datetime.fromisoformat(x[0]).timestamp()) for x in flat]


def test_fills_edge_rows_and_errors():
    f = parse_fills(pl.Series([None, "[]", ' [ ["2024-05-01T00:01:00Z" , 2 , 0.5 , "entry" ] ] ',
                               '[["1970-01-01T00:00:00Z",1.5,1.0,"stop_loss"],["2000-02-29T23:59:59Z",3,0.25,"y"]]']))
    assert f.start.tolist() == [0, 0, 0, 1, 3]
    assert f.ts.tolist() == [T0.timestamp() + 60, 0, 951868799]
    assert f.price.tolist() == [2.0, 1.5, 3.0] and f.fraction.tolist() == [0.5, 1.0, 0.25]
    assert f.entry.tolist() == [True, False, False]
    fill = '["2024-05-01T00:01:00Z",1,1,"x"]'
    for bad in ('[["2024-05-01 00:01:00",1,1,"x"]', '[["2024-05-01T00:01:00Z",1,"x"]]',
                '[["2024-05-01T00:01:00Z",abc,1,"x"]]', f"[{fill}{fill}]", f"[{fill},{fill}", f"[{fill}] x",
                '[["2024-05-01X00:01:00Z",1,1,"x"]]', "[1, 2]", "[1, 2, 3, 4, 5, 6, 7, 8]", "nope"):
        with pytest.raises(ValueError, match="fills of row 1"):
            parse_fills(pl.Series(["[]", bad]))
    assert len(parse_fills(pl.Series([], dtype=pl.String)).ts) == 0
