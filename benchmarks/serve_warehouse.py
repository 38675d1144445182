"""A ~100,000-call warehouse in minutes: the demo warehouse (data/warehouse) tiled N times.

Every tile is a copy of the demo's rows under its own identities, so reads see N times the callers, calls,
tokens, candles and trades, joined as the pipeline joins them:

- `message_id` + tile x M (M a power of ten above every demo message id; chat ids kept, so each chat's
  board holds N times the callers);
- `caller_id` + "-t<tile>", `caller_name` + " #<tile>" (so are `first_caller_name`);
- `address`: its last three characters moved by the tile in the address's own alphabet (hex for 0x
  addresses, base58 otherwise), the same way in every table, so candles, ledgers and token boards stay
  keyed to their calls; tile 0 keeps the demo's identities;
- candle prices and volumes times (1 + tile x 1e-9): the same figures to 5e-7, but no longer the same
  bytes, so the candle files take the room (and the decoding) real ones do rather than zstd folding the tiles
  into one;
- board ranks interleaved (rank r of tile t becomes (r - 1) x N + t + 1): the tiles' rows tie, so that is
  the order a board over them would have.

Days are kept; nothing is recomputed (the figures of a tile are the demo's). Tables of strategies and folds
(strategy_leaderboard, portfolio_books, portfolio_equity, walk_forward, walk_forward_summary,
walk_forward_trades) are copied as they are: strategies do not multiply, and the tile-0 identities they name
exist. One exception: a demo warehouse older than portfolio_equity gets it from the books run over the tiled
trades (`ensure_equity`), as the pipeline would write it at that size. Written through the
warehouse interface, one `write_partition` per partition, so the layout is the one the pipeline writes.

    python -m benchmarks.serve_warehouse --tiles 513   # prints the folder; cached by N under /tmp
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import time
from pathlib import Path

import polars as pl

from quantbot_pipelines.schemas import ALL_TABLES
from quantbot_pipelines.warehouse import open_warehouse
from resources.settings import REPO_ROOT

DEMO = REPO_ROOT / "data" / "warehouse"
CACHE = Path(os.environ.get("BENCH_SERVE_CACHE", "/tmp/quantbot_bench_serve"))
VERSION = 2  # bump when the tiling changes: a cached warehouse of another version is rebuilt
AS_IS = {"strategy_leaderboard", "portfolio_books", "portfolio_equity", "walk_forward", "walk_forward_summary",
         "walk_forward_trades"}
# what the books read of simulation_results (assets/simulation/portfolio.py)
BOOK_COLUMNS = ["strategy_file", "strategy", "chat_id", "message_id", "chain", "address", "caller_id", "call_ts",
                "repeat", "entry_ts", "entry_price", "exit_ts", "exit_reason", "fills", "net_multiple", "size_usd",
                "impact", "pool_usd", "liquidity_source"]
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
HEX = "0123456789abcdef"
RANK_COLUMNS = ("rank",)
CANDLE_FIGURES = ("open", "high", "low", "close", "volume_usd", "volume_tokens")


def _shift(suffix: str, alphabet: str, tile: int) -> str:
    """`suffix` moved by `tile` in base len(alphabet): distinct for every tile below len(alphabet)**3."""
    base = len(alphabet)
    value = 0
    for ch in suffix:
        value = value * base + (alphabet.index(ch) if ch in alphabet else 0)
    value = (value + tile) % base ** len(suffix)
    out = []
    for _ in suffix:
        value, r = divmod(value, base)
        out.append(alphabet[r])
    return "".join(reversed(out))


def _tokens(wh) -> pl.DataFrame:
    """Every (chain, address) any table names."""
    frames = []
    for name, spec in ALL_TABLES.items():
        if {"chain", "address"} <= set(spec.columns) and name not in AS_IS and wh.partitions(name):
            frames.append(wh.read(name, columns=["chain", "address"]).unique())
    return pl.concat(frames).unique().drop_nulls()


def token_map(tokens: pl.DataFrame, tiles: int) -> pl.DataFrame:
    """(chain, address, tile, new_address) for every token and tile; tile 0 keeps the address."""
    rows = []
    for chain, address in tokens.iter_rows():
        lower = address.lower()
        alphabet = HEX if lower.startswith("0x") else B58
        tail = lower[-3:] if alphabet is HEX else address[-3:]
        if len(address) < 6 or any(c not in alphabet for c in tail):
            alphabet, tail = B58, "111"  # an odd address: append rather than move
            heads = [address + "-" for _ in range(tiles)]
        else:
            heads = [address[:-3]] * tiles
        if tiles > len(alphabet) ** 3:
            raise ValueError(f"at most {len(alphabet) ** 3} tiles")
        for t in range(tiles):
            new = address if t == 0 else heads[t] + _shift(tail, alphabet, t)
            rows.append((chain, address, t, new))
    out = pl.DataFrame(rows, schema={"chain": pl.String, "address": pl.String, "tile": pl.Int64,
                                     "new_address": pl.String}, orient="row")
    if out.select(pl.struct("chain", "new_address").n_unique()).item() != out.height:
        raise ValueError("tiled addresses collide")
    return out


def tile_frame(df: pl.DataFrame, tiles: int, tokens: pl.DataFrame | None, msg_step: int) -> pl.DataFrame:
    """`df` repeated for every tile under the tile's identities."""
    cols = set(df.columns)
    if "address" in cols and tokens is not None:
        out = df.join(tokens, on=["chain", "address"], how="left", nulls_equal=True, maintain_order="left")
        # a row without an address (none in the demo) is still copied: keep its (null) address
        out = out.with_columns(pl.coalesce("new_address", "address").alias("address")).drop("new_address")
        if out.get_column("tile").null_count():
            raise ValueError("a row names a token outside the token map")
    else:
        out = df.join(pl.DataFrame({"tile": pl.Series(range(tiles), dtype=pl.Int64)}), how="cross")
    t = pl.col("tile")
    exprs = []
    if "message_id" in cols:
        exprs.append(pl.col("message_id") + t * msg_step)
    for c in ("caller_id",):
        if c in cols:
            exprs.append(pl.when(t == 0).then(pl.col(c)).otherwise(pl.col(c) + "-t" + t.cast(pl.String)).alias(c))
    for c in ("caller_name", "first_caller_name"):
        if c in cols:
            exprs.append(pl.when(t == 0).then(pl.col(c)).otherwise(pl.col(c) + " #" + t.cast(pl.String)).alias(c))
    if "open_ts" in cols:
        jitter = 1 + t.cast(pl.Float64) * 1e-9
        exprs += [pl.col(c) * jitter for c in CANDLE_FIGURES if c in cols]
    for c in RANK_COLUMNS:
        if c in cols:
            exprs.append(((pl.col(c) - 1) * tiles + t + 1).alias(c))
    out = out.with_columns(exprs)
    if "open_ts" in cols:
        out = out.sort("chain", "address", "open_ts", maintain_order=True)  # as the pipeline stores candles
    return out.drop("tile").select(df.columns)


def _fingerprint(root: Path) -> str:
    files = sorted(root.rglob("*.parquet"))
    return f"{len(files)}:{sum(f.stat().st_size for f in files)}:{max((f.stat().st_mtime_ns for f in files), default=0)}"


def build(tiles: int, target: Path | None = None, source: Path = DEMO, *, log=print) -> Path:
    """The demo warehouse tiled `tiles` times under `target` (default: the cache folder for `tiles`)."""
    target = target or CACHE / f"tiles_{tiles}"
    stamp = {"version": VERSION, "tiles": tiles, "source": str(source), "fingerprint": _fingerprint(source)}
    marker = target / ".built.json"
    if marker.exists() and json.loads(marker.read_text()).get("stamp") == stamp:
        ensure_equity(target, source, log=log)
        return target
    started = time.perf_counter()
    building = target.with_name(target.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    src, dst = open_warehouse(f"parquet://{source}"), open_warehouse(f"parquet://{building}")
    tokens = token_map(_tokens(src), tiles) if tiles > 1 else None
    max_msg = max(src.read(n, columns=["message_id"]).get_column("message_id").max() or 0
                  for n in ("telegram_calls", "telegram_staged_calls", "telegram_quarantine") if src.partitions(n))
    msg_step = 10 ** math.ceil(math.log10(max_msg + 1))
    counts = {}
    for name, spec in sorted(ALL_TABLES.items()):
        if spec.transient:
            continue  # minutes-long journal of candle answers: empty once a run is done
        t0 = time.perf_counter()
        rows_in = rows_out = 0
        for part in src.partitions(name):
            where = [(c, "=", v) for c, v in part.items()]
            df = src.read(name, where=where)
            out = df if (name in AS_IS or tiles == 1) else tile_frame(df, tiles, tokens, msg_step)
            if name not in AS_IS and out.height != df.height * tiles:
                raise ValueError(f"{name}: {out.height} rows from {df.height} x {tiles}")
            rows_out += dst.write_partition(name, part, out)
            rows_in += df.height
        if rows_in or src.partitions(name):
            counts[name] = {"demo_rows": rows_in, "rows": rows_out, "s": round(time.perf_counter() - t0, 2)}
            log(f"  {name}: {rows_in:,} -> {rows_out:,} rows in {counts[name]['s']} s")
    (building / ".built.json").write_text(json.dumps({
        "stamp": stamp, "tables": counts, "build_s": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    ensure_equity(target, source, log=log)
    return target


def ensure_equity(target: Path, source: Path = DEMO, *, log=print) -> None:
    """portfolio_equity where the demo warehouse predates it: each book run over the tiled trades, as the
    pipeline's portfolio step does (bounded at 2,000 points a strategy, so its size does not grow with N)."""
    src, dst = open_warehouse(f"parquet://{source}"), open_warehouse(f"parquet://{target}")
    if src.partitions("portfolio_equity") or dst.partitions("portfolio_equity"):
        return
    from quantbot_pipelines.simulation import load_strategy_file
    from quantbot_pipelines.simulation.portfolio import run_books

    t0 = time.perf_counter()
    points = 0
    for stem in sorted({p["strategy_file"] for p in dst.partitions("simulation_results")}):
        variants = load_strategy_file(REPO_ROOT / "strategies" / f"{stem}.yaml")
        trades = dst.read("simulation_results", where=[("strategy_file", "=", stem)], columns=BOOK_COLUMNS)
        equity = run_books(trades, variants).equity.rename({"equity": "equity_usd"})
        del trades
        points += dst.write_partition("portfolio_equity", {"strategy_file": stem},
                                      equity.with_columns(pl.lit(stem).alias("strategy_file")))
    log(f"  portfolio_equity: {points:,} points from the tiled trades' books in {time.perf_counter() - t0:.1f} s")
    meta = info(target)
    meta["tables"]["portfolio_equity"] = {"demo_rows": 0, "rows": points, "s": round(time.perf_counter() - t0, 2),
                                          "computed": "books over the tiled trades"}
    (target / ".built.json").write_text(json.dumps(meta, indent=1))


def info(root: Path) -> dict:
    """What `build` recorded: rows per table, build seconds, peak RSS."""
    return json.loads((root / ".built.json").read_text())


def check(root: Path, tiles: int, source: Path = DEMO) -> dict:
    """Row counts, key uniqueness and joins of a built warehouse; raises on the first failure."""
    wh, src = open_warehouse(f"parquet://{root}"), open_warehouse(f"parquet://{source}")
    key = ["chat_id", "message_id", "chain", "address"]
    calls = wh.read("telegram_calls", columns=["day", *key, "caller_id"])
    analytics = wh.read("token_analytics", columns=["day", *key, "caller_id"])
    trades = wh.read("simulation_results", columns=["day", "strategy", *key, "caller_id"])
    out = {"calls": calls.height, "analytics": analytics.height, "trades": trades.height}
    for name, frame, k in (("telegram_calls", calls, key), ("token_analytics", analytics, key),
                           ("simulation_results", trades, ["strategy", *key])):
        demo = src.read(name, columns=["chat_id"]).height
        if frame.height != demo * tiles:
            raise AssertionError(f"{name}: {frame.height} rows, want {demo} x {tiles}")
        if frame.select(pl.struct(k).n_unique()).item() != frame.height:
            raise AssertionError(f"{name}: key {k} not unique")
    for name, frame in (("token_analytics", analytics), ("simulation_results", trades)):
        orphans = frame.join(calls, on=["day", *key, "caller_id"], how="anti").height
        if orphans:
            raise AssertionError(f"{name}: {orphans} rows without their telegram_calls row")
    # every call's token has its candles on the call's day, as in the demo
    # one day at a time: the whole table's keys would take GBs
    raw_rows, days = 0, []
    for part in wh.partitions("raw_candles"):
        keys = wh.read("raw_candles", where=[("day", "=", part["day"])], columns=["day", "chain", "address"])
        raw_rows += keys.height
        days.append(keys.unique())
    candles = pl.concat(days)
    demo_cov = (src.read("telegram_calls", columns=["day", "chain", "address"])
                .join(src.read("raw_candles", columns=["day", "chain", "address"]).unique(),
                      on=["day", "chain", "address"], how="semi").height)
    cov = calls.join(candles, on=["day", "chain", "address"], how="semi").height
    if cov != demo_cov * tiles:
        raise AssertionError(f"calls with candles: {cov}, want {demo_cov} x {tiles}")
    boards = wh.read("caller_boards", columns=["caller_id"]).unique()
    missing = boards.join(calls.select("caller_id").unique(), on="caller_id", how="anti").height
    if missing:
        raise AssertionError(f"caller_boards: {missing} callers without calls")
    out.update(callers=calls.get_column("caller_id").n_unique(), tokens=calls.select(
        pl.struct("chain", "address").n_unique()).item(), calls_with_candles=cov,
        raw_candles=raw_rows)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=513)
    parser.add_argument("--check", action="store_true", help="verify counts, keys and joins afterwards")
    args = parser.parse_args()
    root = build(args.tiles)
    print(json.dumps({k: v for k, v in info(root).items() if k != "tables"}))
    if args.check:
        print(json.dumps(check(root, args.tiles)))
    print(root)
