// The dashboard's one script: reads the page's name from the HTML shell, asks /api/v1 (same origin, a few
// requests per page) and draws the page. Every number goes through format.js (the rules of views.py).
import * as F from "./format.js";

const CFG = JSON.parse(document.getElementById("config").textContent);
const DAGSTER = CFG.dagster_url;
const MAIN = document.getElementById("main");
const QS = new URLSearchParams(location.search);

// ---------------------------------------------------------------------------------------------- definitions
// Short definitions shown as a column's tooltip; the section of docs/semantics.md that computes the figure.
const DEFS = {
  rank: ["Rank on this board (1 = best)", "leaderboard-scores"],
  caller: ["Who posted the calls", "calls"],
  calls: ["Counted calls: status ok, not a repeat, with a call price", "caller-stats"],
  tokens: ["Distinct tokens called", "caller-stats"],
  median_x: ["Median X: highest high in the 48 h window / the price at the call", "caller-stats"],
  mean_x: ["Mean X from the call price", "caller-stats"],
  hit_rate_2x: ["Share of calls whose X from the call reached 2", "caller-stats"],
  hit_rate_5x: ["Share of calls whose X from the call reached 5", "caller-stats"],
  hit_rate_10x: ["Share of calls whose X from the call reached 10", "caller-stats"],
  rugs: ["Calls that fell to the rug level before 2x from the call (and their share)", "caller-stats"],
  points: ["Sum of the calls' points on the points ladder", "caller-stats"],
  points_per_call: ["Points / calls", "caller-stats"],
  median_time_to_peak_s: ["Median h:mm from the call to the ATH candle", "caller-stats"],
  score: ["Confidence-adjusted score: the board ranks by it", "leaderboard-scores"],
  strategy: ["Exit strategy (a sweep variant names its parameters)", "strategies"],
  trades: ["Trades: non-repeat calls with an entry", "rollups"],
  win_rate: ["Share of trades with net return > 0", "rollups"],
  mean_return: ["Mean net return per trade, after fees and slippage", "rollups"],
  mean_range: ["Mean net return with ambiguous candles settled stop first .. take-profit first", "order-bounds"],
  median_return: ["Median net return per trade", "rollups"],
  profit_factor: ["Sum of gains / sum of losses (∞: no loss)", "rollups"],
  worst_trade: ["Lowest net return of a trade", "rollups"],
  best_trade: ["Highest net return of a trade", "rollups"],
  exits: ["Most frequent exit reasons and their share of trades", "exit-reasons"],
  incomplete_trades: ["Trades whose candle window is not complete yet", "entry-and-window"],
  order_sensitive: ["The rank changes with the assumed order of a candle's high and low", "order-bounds"],
  book_return: ["The book (a bankroll following every call): final equity / bankroll - 1", "bankroll"],
  book_max_drawdown: ["Largest fall of the book's equity from a previous high", "bankroll"],
  book_sharpe: ["Annualised Sharpe ratio of the book's daily returns", "bankroll"],
  book_sortino: ["Annualised Sortino ratio of the book's daily returns", "bankroll"],
  book_cagr: ["The book's compound annual growth rate", "bankroll"],
  book_exposure: ["Time-weighted share of equity held in positions", "bankroll"],
  book_rank: ["Rank by the book's return", "bankroll"],
  book_trades: ["Calls the book took", "bankroll"],
  book_skipped: ["Calls the book skipped: no cash, too many open, already holding the token", "bankroll"],
  sweep_dsr: ["Deflated Sharpe Ratio of the sweep's best variant: chance its edge is real after N tries",
    "overfitting-guards"],
  sweep_pbo: ["Probability of Backtest Overfitting of the sweep (CSCV over day blocks)", "overfitting-guards"],
  sweep_verdict: ["What the DSR and PBO mean for the sweep's best variant", "overfitting-guards"],
  call_ts: ["Time the message was posted (UTC)", "calls"],
  chat: ["Telegram chat of the call", "calls"],
  ticker: ["Ticker on the bot card (else the address)", "calls"],
  chain: ["Chain of the token (never guessed)", "calls"],
  x_from_call: ["X: highest high in the window / price at the call", "caller-stats"],
  ath_multiple: ["ATH multiple: highest high in the 48 h window / entry price", "path-analytics"],
  time_to_2x_s: ["h:mm from the entry to the first candle with high >= 2x entry", "path-analytics"],
  min_multiple: ["Lowest low in the window / entry price", "path-analytics"],
  end_multiple: ["Last close in the window / entry price", "path-analytics"],
  drawdown_before_2x: ["Lowest low before the first 2x candle / entry - 1", "path-analytics"],
  entry_price: ["Open of the first 1m candle at or after the call", "entry-and-window"],
  ath_ts: ["Open time of the candle that made the ATH", "path-analytics"],
  window_complete: ["Candles cover the whole 48 h window", "entry-and-window"],
  status: ["ok (an entry), no_entry or no_candles", "entry-and-window"],
  text: ["Message text (first 1,000 characters)", "calls"],
  exit_reason: ["Why the trade closed", "exit-reasons"],
  net_return: ["Net multiple - 1: proceeds after costs / cost of entry - 1", "costs"],
  net_range: ["Net return with the ambiguous candle settled stop first .. take-profit first", "order-bounds"],
  fills: ["Each sell: time, price (multiple of entry), share of the position, reason", "fills"],
  first_call_ts: ["Time of the token's first call", "calls"],
  first_caller_name: ["Who called it first", "calls"],
  callers: ["Distinct callers of the token", "calls"],
  share: ["Share of trades", "exit-reasons"],
  age_s: ["Time since the asset's last materialization: h:mm, or days", "figures-in-the-dagster-ui"],
  took: ["How long the run took: h:mm", "figures-in-the-dagster-ui"],
};

function def(key) {
  const d = DEFS[key];
  return d ? `${d[0]} (docs/semantics.md#${d[1]})` : "";
}

// -------------------------------------------------------------------------------------------------- DOM
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// replaceChildren would write a null as the text "null"
function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

const link = (href, text, attrs = {}) => h("a", { href, ...attrs }, text);
const dagsterAsset = (table) => link(`${DAGSTER}/assets/${table}`, table,
  { class: "dagster", title: `The ${table} asset in the Dagster UI` });

function dagsterLinks(...tables) {
  return h("small", {}, "Dagster: ", tables.flatMap((t, i) => (i ? [", ", dagsterAsset(t)] : [dagsterAsset(t)])));
}

function signClass(x) {
  return x === null || x === undefined ? "" : x > 0 ? "pos" : x < 0 ? "neg" : "";
}

function excerpt(text, n = 90) {
  if (!text) return "";
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > n ? one.slice(0, n - 1) + "…" : one;
}

function shortAddr(a) {
  return a && a.length > 14 ? `${a.slice(0, 6)}…${a.slice(-4)}` : a || "";
}

function callerLabel(r) {
  return (r.caller_name || r.caller_id || "").replace(/\n/g, " ");
}

const callerHref = (id) => `/callers/${encodeURIComponent(id)}`;
const strategyHref = (name) => `/strategies/${encodeURIComponent(name)}`;
const callHref = (chat, msg) => `/calls/${encodeURIComponent(chat)}/${msg}`;

function withQuery(changes, path = location.pathname) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === "") q.delete(k); else q.set(k, v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

// -------------------------------------------------------------------------------------------------- API
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function apiUrl(path, params = {}) {
  const url = new URL(`/api/v1${path}`, location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, v);
  }
  return url.pathname + url.search;
}

// With API keys on, the key travels in the cookie the /login form set (HttpOnly: never seen by this script).
async function api(path, params = {}) {
  const res = await fetch(apiUrl(path, params), { headers: { Accept: "application/json" }, credentials: "same-origin" });
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) throw new ApiError(res.status, body?.error?.message || `HTTP ${res.status}`);
  return body;
}

function csvLink(path, params) {
  return link(apiUrl(path, { ...params, offset: null, limit: 10000, format: "csv" }), "CSV",
    { title: "Every row of this list (up to 10,000) as CSV, from the API", download: "" });
}

function failure(err) {
  if (err instanceof ApiError && err.status === 401) {  // the key's cookie is gone or no longer valid
    const login = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
    return h("p", { class: "error" }, "This API needs a key: ", link(login, "give it"), ".");
  }
  return h("p", { class: "error" }, err instanceof ApiError ? err.message : `Cannot draw this: ${err}`);
}

// ------------------------------------------------------------------------------------------------ tables
// A column: {key, label, def (DEFS key), cell(row) -> string|Node, num, sort (API field; false: not sortable)}
function table(columns, rows, { sort = null, order = null, sortable = false, rowClass = null } = {}) {
  const head = h("tr", {}, columns.map((c) => {
    const sortKey = c.sort === undefined ? c.key : c.sort;
    const cls = [c.num ? "num" : "", sort && sortKey === sort ? "sorted" : ""].join(" ").trim() || null;
    let label = c.label;
    if (sortable && sortKey) {
      const next = sort === sortKey && order === "asc" ? "desc" : sort === sortKey ? "asc" : (c.num ? "desc" : "asc");
      const arrow = sort === sortKey ? (order === "asc" ? " ▲" : " ▼") : "";
      label = link(withQuery({ sort: sortKey, order: next, offset: null }), c.label + arrow);
    }
    return h("th", { class: cls, title: def(c.def || c.key) || null }, label);
  }));
  const body = h("tbody", {}, rows.map((r) => h("tr", { class: rowClass ? rowClass(r) : null },
    columns.map((c) => {
      const v = c.cell ? c.cell(r) : r[c.key];
      return h("td", { class: [c.num ? "num" : "", c.cls ? (typeof c.cls === "function" ? c.cls(r) : c.cls) : ""]
        .join(" ").trim() || null }, v === null || v === undefined ? "" : v);
    }))));
  return h("div", { class: "scroll" }, h("table", {}, h("thead", {}, head), body));
}

function pager(page) {
  const { total, limit, offset } = page;
  const first = total ? offset + 1 : 0;
  const last = Math.min(offset + page.items.length, total);
  return h("div", { class: "pager" },
    `${first}–${last} of ${total}`,
    offset > 0 ? link(withQuery({ offset: Math.max(0, offset - limit) || null }), "‹ previous") : null,
    offset + limit < total ? link(withQuery({ offset: offset + limit }), "next ›") : null);
}

function bars(items, { label, value, text }) {
  const max = Math.max(1e-12, ...items.map(value));
  return h("div", { class: "bars" }, items.flatMap((it) => [
    h("span", {}, label(it)),
    h("div", { class: "track" }, h("div", { class: "fill", style: `width:${(100 * value(it)) / max}%` })),
    h("span", { class: "num" }, text(it)),
  ]));
}

function figures(list) {
  return h("div", { class: "figures" }, list.filter(Boolean).map(([label, value, key, cls]) =>
    h("div", { class: "figure" }, h("div", { class: "label", title: def(key) || null }, label),
      h("div", { class: `value ${cls || ""}` }, value === "" || value === null ? "–" : value))));
}

function kv(list) {
  return h("dl", { class: "kv" }, list.filter(Boolean).flatMap(([k, v, key]) =>
    [h("dt", { title: def(key) || null }, k), h("dd", {}, v === "" || v === null || v === undefined ? "–" : v)]));
}

// ------------------------------------------------------------------------------------------ column sets
const num = (key, label, fmt, extra = {}) => ({ key, label, num: true, cell: (r) => fmt(r[key]), ...extra });
const ret = (key, label, extra = {}) => ({ ...num(key, label, F.signed_pct), cls: (r) => signClass(r[key]), ...extra });

const CALLER_BOARD = [
  { key: "rank", label: "#", num: true },
  { key: "caller_name", label: "caller", def: "caller", cell: (r) => link(callerHref(r.caller_id), callerLabel(r)) },
  { key: "calls", label: "calls", num: true },
  num("median_x", "median X", F.multiple),
  num("mean_x", "mean X", F.multiple),
  num("hit_rate_2x", "2x", F.share),
  num("hit_rate_5x", "5x", F.share),
  num("hit_rate_10x", "10x", F.share),
  { key: "rugs", label: "rugs", num: true, cell: (r) => (r.rugs === null ? "" : `${r.rugs} (${F.share(r.rug_rate)})`) },
  num("points", "points", F.points),
  num("points_per_call", "points/call", (x) => F.signed(x, 2)),
  num("median_time_to_peak_s", "time to peak", F.hmm),
  num("score", "score", (x) => F.decimal(x, 3)),
];

const STRATEGY_BOARD = [
  { key: "rank", label: "#", num: true },
  { key: "strategy", label: "strategy", cell: (r) => link(strategyHref(r.strategy), r.strategy) },
  { key: "trades", label: "trades", num: true },
  num("win_rate", "win rate", F.share),
  ret("mean_return", "mean"),
  { key: "mean_return_low", label: "mean low .. high", def: "mean_range", num: true,
    cell: (r) => F.return_range(r.mean_return_low, r.mean_return_high) },
  ret("median_return", "median"),
  num("profit_factor", "PF", F.profit_factor, { def: "profit_factor" }),
  ret("worst_trade", "worst"),
  ret("best_trade", "best"),
  { key: "exit_reason_shares", label: "exits", def: "exits", sort: false, cell: (r) => F.top_exits(r.exit_reason_shares) },
  { key: "incomplete_trades", label: "incomplete", num: true, cell: (r) => String(r.incomplete_trades || 0) },
  { key: "order_sensitive", label: "order", cell: (r) => (r.order_sensitive ? "rank depends on it" : "") },
  ret("book_return", "book"),
  num("book_max_drawdown", "book max DD", F.pct),
  num("book_sharpe", "book Sharpe", (x) => F.decimal(x, 2)),
  num("book_rank", "book rank", (x) => (x === null || x === undefined ? "" : String(x))),
  num("sweep_dsr", "DSR", F.share),
  num("sweep_pbo", "PBO", F.share),
  { key: "sweep_verdict", label: "sweep guard", cell: (r) => (r.sweep_verdict
    ? h("span", { title: r.sweep_verdict }, excerpt(r.sweep_verdict, 48)) : "") },
];

const TRADE_FIGURES = [
  { key: "trades", label: "trades", num: true },
  num("win_rate", "win rate", F.share),
  ret("mean_return", "mean"),
  { key: "mean_return_low", label: "mean low .. high", def: "mean_range", num: true, sort: false,
    cell: (r) => F.return_range(r.mean_return_low, r.mean_return_high) },
  ret("median_return", "median"),
  num("profit_factor", "PF", F.profit_factor),
  ret("worst_trade", "worst"),
  ret("best_trade", "best"),
  { key: "exit_reason_shares", label: "exits", def: "exits", sort: false, cell: (r) => F.top_exits(r.exit_reason_shares) },
];

function callColumns({ caller = true, chat = true } = {}) {
  return [
    { key: "call_ts", label: "time (UTC)", cell: (r) => link(callHref(r.chat_id, r.message_id), F.ts(r.call_ts)) },
    chat ? { key: "chat_name", label: "chat", def: "chat", cell: (r) => r.chat_name || r.chat_id } : null,
    caller ? { key: "caller_name", label: "caller", def: "caller",
      cell: (r) => (r.caller_id ? link(callerHref(r.caller_id), callerLabel(r)) : "") } : null,
    { key: "card_ticker", label: "ticker", def: "ticker",
      cell: (r) => link(callHref(r.chat_id, r.message_id), r.card_ticker ? `$${r.card_ticker}` : shortAddr(r.address)) },
    { key: "chain", label: "chain" },
    num("x_from_call", "X", F.multiple),
    num("ath_multiple", "ATH", F.multiple),
    num("time_to_2x_s", "to 2x", F.hmm),
    { key: "status", label: "status", cell: (r) => r.status || "" },
    { key: "text", label: "message", sort: false, cls: "text", cell: (r) => excerpt(r.text) },
    { key: "dex_url", label: "DEX", sort: false, def: "chain",
      cell: (r) => (r.dex_url ? link(r.dex_url, "dexscreener", { rel: "noopener", target: "_blank" }) : "") },
  ].filter(Boolean);
}

// ---------------------------------------------------------------------------------------------- charts
const COLORS = ["#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#bf8700", "#0a7ea4"];

function chartOptions(el) {
  return {
    width: el.clientWidth, height: el.clientHeight,
    layout: { background: { color: "#ffffff" }, textColor: "#1b1f24", attributionLogo: false },
    grid: { vertLines: { color: "#eef1f4" }, horzLines: { color: "#eef1f4" } },
    timeScale: { timeVisible: true, secondsVisible: false },
    rightPriceScale: { borderColor: "#d9dee4" },
    localization: { timeFormatter: (t) => F.ts(t) + " UTC" },
  };
}

function makeChart(el) {
  const chart = LightweightCharts.createChart(el, chartOptions(el));
  new ResizeObserver(() => chart.applyOptions({ width: el.clientWidth, height: el.clientHeight })).observe(el);
  return chart;
}

const epoch = (t) => (typeof t === "number" ? t : Math.floor(Date.parse(t) / 1000));

// line series need strictly increasing times: of several points in one second the last stands
function linePoints(points) {
  const byTime = new Map();
  for (const p of points) byTime.set(epoch(p.t), p.equity_usd);
  return [...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({ time, value }));
}

// --------------------------------------------------------------------------------------------- overview
const WINDOWS = ["all", "90d", "30d", "7d"];

function windowTabs(current) {
  return h("span", { class: "tabs", title: "Trailing call days ending at the latest call day" },
    WINDOWS.map((w) => link(withQuery({ window: w === "all" ? null : w, offset: null }), w,
      { class: w === current ? "on" : null })), " ");
}

// The chats are asked for only when the picker is opened: the page itself stays within its few requests.
function chatPicker(current) {
  const list = h("div", { class: "menu" }, h("span", { class: "muted" }, "Loading chats…"));
  let loaded = false;
  const picker = h("details", { class: "picker", id: "chat-picker" },
    h("summary", { title: "The board of one chat, or of every chat together" },
      current ? `chat ${current}` : "every chat"), list);
  picker.addEventListener("toggle", () => {
    if (!picker.open || loaded) return;
    loaded = true;
    api("/chats", { limit: 500 }).then((page) => {
      list.replaceChildren(link(withQuery({ chat: null, offset: null }), "every chat", { class: current ? null : "on" }),
        ...page.items.map((c) => link(withQuery({ chat: c.chat_id, offset: null }),
          `${c.chat_name || c.chat_id} (${c.calls} calls, ${c.callers} callers)`, { class: c.chat_id === current ? "on" : null })));
      const named = page.items.find((c) => c.chat_id === current);
      if (named) picker.querySelector("summary").textContent = `chat ${named.chat_name || named.chat_id}`;
    }, (e) => list.replaceChildren(failure(e)));
  });
  return picker;
}

// A section drawn when its request answers, so a slow one (Dagster) holds up nothing else.
function later(id, promise, draw) {
  const sec = h("section", { class: "card", id }, h("p", { class: "muted" }, "Loading…"));
  const done = promise.then((v) => fill(sec, draw(v)), (e) => fill(sec, failure(e)));
  return [sec, done];
}

async function overview() {
  const window = QS.get("window") || "all";
  const chat = QS.get("chat") || "";
  const [board, boardDone] = later("callers", api("/callers", { window, chat, limit: 10 }), (page) => [
    h("h2", {}, "Whom to follow", h("small", {}, `caller board, ${window === "all" ? "all days" : `last ${window}`}, by score`),
      dagsterLinks("caller_boards")),
    h("div", { class: "toolbar" }, windowTabs(window), chatPicker(chat),
      link(withQuery({}, "/callers"), `all ${page.total} callers →`)),
    page.items.length ? table(CALLER_BOARD, page.items) : h("p", { class: "muted" }, "No caller on this board."),
  ]);
  // a sweep's guards sit on its best variant, which can rank low by mean return: asked for on their own
  const [strats, stratsDone] = later("strategies", Promise.all([api("/strategies", { limit: 10 }),
    api("/strategies", { sort: "sweep_dsr", order: "desc", limit: 5 }).catch(() => ({ items: [] }))]), ([page, g]) => {
    const shown = new Set(page.items.map((r) => r.strategy));
    const guarded = g.items.filter((r) => r.sweep_verdict && !shown.has(r.strategy));
    const cols = STRATEGY_BOARD.filter((c) => ["rank", "strategy", "trades", "win_rate", "mean_return", "median_return",
      "profit_factor", "exit_reason_shares", "book_return", "book_max_drawdown", "sweep_dsr", "sweep_pbo"].includes(c.key));
    const verdicts = [...page.items, ...guarded].filter((r) => r.sweep_verdict);
    return [
      h("h2", {}, "How to exit", h("small", {}, "strategies by mean net return"),
        dagsterLinks("strategy_leaderboard", "portfolio_books")),
      table(cols, [...page.items, ...guarded]),
      verdicts.map((r) => h("p", { class: "verdict", title: def("sweep_verdict") }, h("b", {}, "Sweep guard "),
        link(strategyHref(r.strategy), r.strategy), `: DSR ${F.share(r.sweep_dsr)}, PBO ${F.share(r.sweep_pbo)}. `,
        h("span", { class: "muted" }, r.sweep_verdict))),
      h("div", { class: "pager" }, link("/strategies", `all ${page.total} strategies →`)),
    ];
  });
  const [wf, wfDone] = later("walk-forward", api("/walk-forward"), (body) => [
    h("h2", {}, "Does choosing by the past work?", h("small", {}, "walk-forward: out of sample vs in sample"),
      dagsterLinks("walk_forward_summary", "walk_forward")),
    body.summary.length ? body.summary.map((s) => h("p", { class: "verdict", title: def("mean_return") },
      h("b", {}, s.policy), `: out of sample ${F.signed_pct(s.oos_mean_return)} over ${s.oos_trades ?? 0} trades vs in `,
      `sample ${F.signed_pct(s.is_mean_return)} over ${s.is_trades ?? 0}; every caller ${F.signed_pct(s.all_callers_mean_return)}, `,
      `hold ${F.signed_pct(s.hold_mean_return)}; above ${F.share(s.random_percentile)} of random caller sets. `,
      h("span", { class: "muted" }, s.verdict || ""))) : h("p", { class: "muted" }, "No walk-forward folds yet."),
  ]);
  const [status, statusDone] = later("status", api("/status"), drawStatus);
  fill(MAIN, h("h1", {}, "Overview"), board, strats, h("div", { class: "grid2" }, wf, status));
  await Promise.all([boardDone, stratsDone, wfDone, statusDone]);
}

function drawStatus(s) {
  const d = s.dagster;
  const head = h("h2", {}, "Pipeline", h("small", {}, link(d.url, "Dagster UI"), " · ", link(`${d.url}/runs`, "runs"),
    " · ", link(`${d.url}/assets`, "assets")));
  if (!d.reachable) {
    return [head, h("p", { class: "error", id: "dagster-down" },
      `Dagster UI not reachable at ${d.url}: no run or asset status to show.`)];
  }
  const runs = table([
    { key: "run_id", label: "run", cell: (r) => link(`${d.url}/runs/${r.run_id}`, r.run_id.slice(0, 8)) },
    { key: "job", label: "job" },
    { key: "status", label: "status", cell: (r) => h("span", { class: `badge ${r.status}` }, r.status) },
    { key: "start_time", label: "started (UTC)", cell: (r) => F.ts(r.start_time) },
    { key: "end_time", label: "took", num: true, def: "took",
      cell: (r) => (r.end_time && r.start_time ? F.age(epoch(r.end_time) - epoch(r.start_time)) : "") },
  ], s.runs.slice(0, 8));
  const assets = table([
    { key: "asset", label: "asset", cell: (r) => link(`${d.url}/assets/${r.asset}`, r.asset) },
    { key: "age_s", label: "age", num: true, cell: (r) => F.age(r.age_s) },
    { key: "last_materialized", label: "materialized (UTC)", cell: (r) => F.ts(r.last_materialized) },
    { key: "partition", label: "partition", cell: (r) => r.partition || "" },
  ], s.assets);
  return [head,
    h("p", { class: s.failed_runs ? "error" : "muted" }, `${s.failed_runs} failed run${s.failed_runs === 1 ? "" : "s"}`),
    h("h2", {}, h("small", {}, "last runs")), runs, h("h2", {}, h("small", {}, "assets")), assets];
}

// --------------------------------------------------------------------------------------------- lists
function listState(defaultSort, defaultOrder) {
  return {
    sort: QS.get("sort") || defaultSort,
    order: QS.get("order") || defaultOrder,
    offset: Number(QS.get("offset") || 0),
  };
}

async function callersList() {
  const window = QS.get("window") || "all";
  const chat = QS.get("chat") || "";
  const st = listState("rank", "asc");
  const params = { window, chat, sort: st.sort, order: st.order };
  try {
    const page = await api("/callers", { ...params, limit: 50, offset: st.offset });
    fill(MAIN, h("h1", {}, "Callers ", dagsterLinks("caller_boards")),
      h("section", { class: "card" },
        h("div", { class: "toolbar" }, windowTabs(window), chatPicker(chat), csvLink("/callers", params)),
        table(CALLER_BOARD, page.items, { ...st, sortable: true }), pager(page)));
  } catch (e) { fill(MAIN, failure(e)); }
}

async function strategiesList() {
  const st = listState("rank", "asc");
  const params = { sort: st.sort, order: st.order };
  const picked = new Set(JSON.parse(sessionStorage.getItem("compare") || "[]"));
  try {
    const page = await api("/strategies", { ...params, limit: 100, offset: st.offset });
    const button = h("button", { type: "button", disabled: true,
      onclick: () => { location.href = `/compare?strategies=${[...picked].map(encodeURIComponent).join(",")}`; } },
    "Compare");
    const note = h("span", { class: "muted" });
    const refresh = () => {
      button.disabled = picked.size < 2 || picked.size > 6;
      note.textContent = `${picked.size} picked (2 to 6)`;
      sessionStorage.setItem("compare", JSON.stringify([...picked]));
    };
    const check = {
      key: "compare", label: "compare", sort: false, def: "strategy",
      cell: (r) => h("input", { type: "checkbox", "aria-label": `compare ${r.strategy}`, "data-strategy": r.strategy,
        checked: picked.has(r.strategy), onchange: (e) => { e.target.checked ? picked.add(r.strategy) : picked.delete(r.strategy); refresh(); } }),
    };
    refresh();
    fill(MAIN, h("h1", {}, "Strategies ", dagsterLinks("strategy_leaderboard", "portfolio_books")),
      h("section", { class: "card" },
        h("div", { class: "toolbar" }, `${page.total} strategies; tick 2 to 6 to compare.`, csvLink("/strategies", params),
          picked.size ? link("#", "clear picks", { onclick: (e) => { e.preventDefault(); picked.clear(); refresh(); location.reload(); } }) : null),
        table([check, ...STRATEGY_BOARD], page.items, { ...st, sortable: true }), pager(page),
        h("div", { class: "compare-bar" }, button, note)));
  } catch (e) { fill(MAIN, failure(e)); }
}

async function tokensList() {
  const chain = QS.get("chain") || "";
  const st = listState("rank", "asc");
  const params = { chain, sort: st.sort, order: st.order };
  try {
    const page = await api("/tokens", { ...params, limit: 50, offset: st.offset });
    const cols = [
      { key: "rank", label: "#", num: true },
      { key: "ticker", label: "ticker", cell: (r) => link(`/calls?token=${encodeURIComponent(r.address)}&chain=${encodeURIComponent(r.chain)}`,
        r.ticker ? `$${r.ticker}` : shortAddr(r.address), { title: "This token's calls" }) },
      { key: "chain", label: "chain", cell: (r) => link(withQuery({ chain: r.chain, offset: null }), r.chain) },
      { key: "address", label: "address", def: "ticker", cell: (r) => h("code", { title: r.address }, shortAddr(r.address)) },
      { key: "calls", label: "calls", num: true, def: "trades" },
      { key: "callers", label: "callers", num: true },
      { key: "first_call_ts", label: "first call (UTC)", cell: (r) => F.ts(r.first_call_ts) },
      { key: "first_caller_name", label: "first caller", cell: (r) => r.first_caller_name || "" },
      num("ath_multiple", "ATH", F.multiple),
      num("time_to_2x_s", "to 2x", F.hmm),
      num("min_multiple", "min", F.multiple),
      num("end_multiple", "end", F.multiple),
      { key: "dex_url", label: "DEX", sort: false, def: "chain",
        cell: (r) => (r.dex_url ? link(r.dex_url, "dexscreener", { rel: "noopener", target: "_blank" }) : "") },
    ];
    fill(MAIN, h("h1", {}, "Tokens ", dagsterLinks("token_leaderboard")),
      h("section", { class: "card" },
        h("div", { class: "toolbar" }, "By the ATH multiple of their first call.",
          chain ? h("span", {}, `chain ${chain} `, link(withQuery({ chain: null, offset: null }), "(every chain)")) : null,
          csvLink("/tokens", params)),
        table(cols, page.items, { ...st, sortable: true }), pager(page)));
  } catch (e) { fill(MAIN, failure(e)); }
}

const CALL_FILTERS = ["chat", "caller", "token", "chain", "day_from", "day_to"];

async function callsList() {
  const st = listState("call_ts", "desc");
  const filters = Object.fromEntries(CALL_FILTERS.map((k) => [k, QS.get(k) || ""]));
  const params = { ...filters, sort: st.sort, order: st.order };
  try {
    const page = await api("/calls", { ...params, limit: 50, offset: st.offset });
    const input = (name, placeholder, type = "text") => h("input", { name, placeholder, type, value: filters[name] || null,
      title: placeholder });
    const form = h("form", { class: "filters", method: "get", action: "/calls" },
      input("day_from", "first call day (UTC)", "date"), input("day_to", "last call day (UTC)", "date"), input("chain", "chain"),
      input("token", "token address"),
      filters.chat ? h("input", { type: "hidden", name: "chat", value: filters.chat }) : null,
      filters.caller ? h("input", { type: "hidden", name: "caller", value: filters.caller }) : null,
      h("button", { type: "submit" }, "Filter"), link("/calls", "clear"));
    const active = CALL_FILTERS.filter((k) => filters[k]).map((k) => `${k} ${filters[k]}`).join(", ");
    fill(MAIN, h("h1", {}, "Calls ", dagsterLinks("telegram_calls", "token_analytics")),
      h("section", { class: "card" },
        h("div", { class: "toolbar" }, form, csvLink("/calls", params)),
        active ? h("p", { class: "muted" }, `Only ${active}.`) : null,
        table(callColumns(), page.items, { ...st, sortable: true }), pager(page)));
  } catch (e) { fill(MAIN, failure(e)); }
}

// ------------------------------------------------------------------------------------------------ caller
const TOP_EXITS = 12;

async function callerPage() {
  const id = CFG.params.caller_id;
  const st = listState("call_ts", "desc");
  try {
    const [body, calls] = await Promise.all([api(`/callers/${encodeURIComponent(id)}`),
      api("/calls", { caller: id, sort: st.sort, order: st.order, limit: 25, offset: st.offset })]);
    const c = body.caller;
    const chatName = Object.fromEntries(c.chats.map((x) => [x.chat_id, x.chat_name || x.chat_id]));
    // every chat together first, each window; then chat by chat
    const chatIndex = Object.fromEntries(c.chats.map((x, i) => [x.chat_id, i + 1]));
    const order = (r) => (r.scope === "all" ? 0 : 10 * (chatIndex[r.scope] || 99)) + WINDOWS.indexOf(r.window);
    const boards = [...body.boards].sort((a, b) => order(a) - order(b));
    const boardCols = [
      { key: "window", label: "window", cell: (r) => link(`/callers?window=${r.window}${r.scope === "all" ? "" : `&chat=${encodeURIComponent(r.scope)}`}`, r.window) },
      { key: "scope", label: "scope", def: "chat", cell: (r) => (r.scope === "all" ? "every chat" : chatName[r.scope] || r.scope) },
      ...CALLER_BOARD.filter((x) => x.key !== "caller_name"),
    ];
    const exits = body.best_exits;  // best score first, as the API orders them (docs/semantics.md#which-exit-suits-a-caller)
    const exitCols = [
      { key: "strategy", label: "strategy", cell: (r) => link(strategyHref(r.strategy), r.strategy) },
      ...TRADE_FIGURES,
      num("score", "score", (x) => F.decimal(x, 3), { def: "score" }),
      { key: "rank", label: "rank among callers", num: true, def: "rank" },
    ];
    const lb = body.leaderboard;
    const xd = body.x_distribution;
    const xTotal = xd.reduce((s, b) => s + b.calls, 0);
    fill(MAIN, 
      h("h1", {}, callerLabel(c), " ", h("small", {}, c.caller_id, " · ",
        c.chats.map((x, i) => [i ? ", " : "", link(`/calls?caller=${encodeURIComponent(c.caller_id)}&chat=${encodeURIComponent(x.chat_id)}`,
          `${x.chat_name || x.chat_id} (${x.calls})`)]), " · ", dagsterLinks("caller_boards", "caller_strategy_leaderboard"))),
      h("div", { class: "grid-wide" },
        h("section", { class: "card", id: "stats" }, h("h2", {}, "Stats per window", h("small", {}, "from the price at the call")),
          boards.length ? table(boardCols, boards) : h("p", { class: "muted" }, "On no caller board (too few counted calls)."),
          lb ? h("p", { class: "muted" }, `From the entry (caller leaderboard): ${lb.calls} calls, 2x ${F.share(lb.hit_rate_2x)}, `,
            `median ATH ${F.multiple(lb.median_ath_multiple)}, median time to 2x ${F.hmm(lb.median_time_to_2x_s)}, `,
            `score ${F.decimal(lb.score, 3)}${lb.rank ? `, rank ${lb.rank}` : ""}.`) : null),
        h("section", { class: "card", id: "x-distribution" }, h("h2", { title: def("x_from_call") }, "X from the call",
          h("small", {}, `${xTotal} counted calls`)),
        bars(xd, { label: (b) => b.bucket, value: (b) => b.calls, text: (b) => `${b.calls} (${F.share(xTotal ? b.calls / xTotal : 0)})` }))),
      h("section", { class: "card", id: "best-exits" }, h("h2", {}, "Which exit suits them",
        h("small", {}, `best score (mean one standard error down) first; ${exits.length} strategies`)),
      exits.length ? table(exitCols, exits.slice(0, TOP_EXITS)) : h("p", { class: "muted" }, "No simulated trades."),
      exits.length > TOP_EXITS ? h("details", {}, h("summary", {}, `every strategy (${exits.length - TOP_EXITS} more)`),
        table(exitCols, exits.slice(TOP_EXITS))) : null),
      h("section", { class: "card", id: "calls" }, h("h2", {}, "Their calls", h("small", {}, csvLink("/calls", { caller: id, sort: st.sort, order: st.order }))),
        table(callColumns({ caller: false }), calls.items, { ...st, sortable: true }), pager(calls)));
  } catch (e) { fill(MAIN, failure(e)); }
}

// ------------------------------------------------------------------------------------------------- call
const INTERVALS = ["1m", "5m", "15m", "1h"];
const INTERVAL_S = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400 };
const REASON_COLOR = { take_profit: "#1a7f37", stop_loss: "#d1242f", trailing_stop: "#bf8700", break_even: "#8250df",
  time_exit: "#0a7ea4", end_of_window: "#57606a" };

function tradeMarkers(call, trade, intervalS) {
  const at = (t) => Math.floor(epoch(t) / intervalS) * intervalS;  // the candle the moment falls in
  const markers = [{ time: at(call.call_ts), position: "aboveBar", color: "#1f6feb", shape: "circle", text: "call", kind: "call" }];
  if (trade && trade.entry_ts) {
    markers.push({ time: at(trade.entry_ts), position: "belowBar", color: "#1a7f37", shape: "arrowUp", text: "entry", kind: "entry" });
    const fills = trade.fills || [];
    fills.forEach((f, i) => {
      const last = i === fills.length - 1;
      markers.push({ time: at(f.ts), position: "aboveBar", color: REASON_COLOR[f.reason] || "#d1242f",
        shape: last ? "square" : "arrowDown", kind: last ? "exit" : "fill",
        text: `${last ? "exit " : ""}${f.reason} ${F.share(f.share)}` });
    });
    if (!fills.length && trade.exit_ts) {
      markers.push({ time: at(trade.exit_ts), position: "aboveBar", color: "#d1242f", shape: "square", kind: "exit",
        text: `exit ${trade.exit_reason}` });
    }
  }
  return markers.sort((a, b) => a.time - b.time);
}

async function callPage() {
  const { chat_id: chat, message_id: msg } = CFG.params;
  const interval = QS.get("interval") || "5m";
  try {
    const body = await api(`/calls/${encodeURIComponent(chat)}/${msg}`, { interval, address: QS.get("address") });
    const call = body.call;
    const a = body.analytics;
    const trades = body.trades;
    let chosen = trades.find((t) => t.strategy === QS.get("strategy")) || trades.find((t) => t.entry_ts) || trades[0] || null;
    const title = call.card_ticker ? `$${call.card_ticker}` : shortAddr(call.address);

    const chartEl = h("div", { class: "chart", id: "chart" });
    const select = h("select", { "aria-label": "strategy", id: "strategy" }, trades.map((t) =>
      h("option", { value: t.strategy, selected: chosen && t.strategy === chosen.strategy }, `${t.strategy} (${F.signed_pct(t.net_return)})`)));
    const intervalTabs = h("span", { class: "tabs", id: "intervals" }, INTERVALS.map((i) =>
      link(withQuery({ interval: i === "5m" ? null : i }), i, { class: i === interval ? "on" : null })));
    const tradeNote = h("span", { class: "muted", id: "trade-note" });

    const tradeCols = [
      { key: "strategy", label: "strategy", cell: (t) => link(withQuery({ strategy: t.strategy }), t.strategy, { title: "Show this trade on the chart" }) },
      { key: "exit_reason", label: "exit reason" },
      ret("net_return", "net return"),
      { key: "net_range", label: "low .. high", def: "net_range", num: true, cell: (t) => (t.ambiguous_candles
        ? F.return_range(t.net_multiple_low === null ? null : t.net_multiple_low - 1, t.net_multiple_high === null ? null : t.net_multiple_high - 1) : "") },
      { key: "entry_ts", label: "entry (UTC)", def: "entry_price", cell: (t) => F.ts(t.entry_ts) },
      { key: "exit_ts", label: "exit (UTC)", def: "exit_reason", cell: (t) => F.ts(t.exit_ts) },
      { key: "fills", label: "fills", cls: "text", cell: (t) => (t.fills || []).map((f) =>
        `${F.ts(f.ts).slice(11)} ${t.entry_price ? F.multiple(f.price / t.entry_price) : F.price(f.price)} ${F.share(f.share)} ${f.reason}`).join("; ") },
      { key: "window_complete", label: "complete", cell: (t) => (t.window_complete ? "yes" : "no") },
    ];

    const card = [
      ["ticker", call.card_ticker ? `$${call.card_ticker}` : "", "ticker"],
      ["name", call.card_name || ""],
      ["market cap", F.usd(call.card_mcap_usd)],
      ["liquidity", F.usd(call.card_liquidity_usd)],
      ["price", call.card_price_usd === null ? "" : `$${F.price(call.card_price_usd)}`],
      ["dex", call.card_dex || ""],
      ["bonding", call.card_bonding_pct === null || call.card_bonding_pct === undefined ? "" : `${F.fixed(call.card_bonding_pct, 0)}%`],
      ["bot", call.card_bot || ""],
      ["chain", call.chain, "chain"],
      ["address", h("code", {}, call.address)],
      ["resolved by", call.resolved_by || ""],
    ];
    const analytics = a ? [
      ["status", a.status, "status"],
      ["entry", a.entry_ts ? `$${F.price(a.entry_price)} at ${F.ts(a.entry_ts)}` : "", "entry_price"],
      ["X from the call", F.multiple(a.x_from_call), "x_from_call"],
      ["ATH", a.ath_multiple === null ? "" : `${F.multiple(a.ath_multiple)} at ${F.ts(a.ath_ts)} (+${F.hmm(a.time_to_ath_s)})`, "ath_multiple"],
      ["time to 2x", F.hmm(a.time_to_2x_s) || "never", "time_to_2x_s"],
      ["min multiple", F.multiple(a.min_multiple), "min_multiple"],
      ["drawdown before 2x", F.signed_pct(a.drawdown_before_2x), "drawdown_before_2x"],
      ["end multiple", F.multiple(a.end_multiple), "end_multiple"],
      ["window complete", a.window_complete ? "yes" : "no", "window_complete"],
      ["candles", String(a.candles ?? 0)],
    ] : [["status", "no analytics for this call"]];

    fill(MAIN, 
      h("h1", {}, title, " ", h("small", {}, call.card_name || "", " · called by ",
        call.caller_id ? link(callerHref(call.caller_id), callerLabel(call)) : "unknown", " in ", call.chat_name || call.chat_id,
        ` at ${F.ts(call.call_ts)} UTC · `,
        call.dex_url ? link(call.dex_url, "dexscreener", { rel: "noopener", target: "_blank" }) : "no DEX link", " · ",
        dagsterLinks("telegram_calls", "token_analytics", "simulation_results")),
        (body.other_tokens || []).length ? h("small", { class: "other-tokens" }, " · also in this message: ",
          body.other_tokens.map((t, i) => [i ? ", " : "", link(withQuery({ address: t.address, strategy: null }),
            `${t.chain} ${shortAddr(t.address)}`)])) : null),
      h("section", { class: "card" },
        h("div", { class: "toolbar" }, intervalTabs, h("label", {}, "strategy ", select), tradeNote),
        body.candles.rows.length ? chartEl : h("p", { class: "muted", id: "chart" }, "No candles of this token in the window.")),
      h("div", { class: "grid3" },
        h("section", { class: "card", id: "message" }, h("h2", {}, "Message"),
          h("pre", { class: "message", id: "message-text" }, call.text || ""),
          call.forwarded_from ? h("p", { class: "muted" }, `forwarded from ${call.forwarded_from}`) : null,
          call.edited ? h("p", { class: "muted" }, `edited ${F.ts(call.edited_ts)}`) : null),
        h("section", { class: "card", id: "card" }, h("h2", {}, "Bot card", h("small", {}, call.card_bot
          ? `${call.card_bot}'s card, at the call` : "no bot card answered this call")),
        kv(call.card_bot ? card : card.slice(-3))),
        h("section", { class: "card", id: "analytics" }, h("h2", {}, "Analytics", h("small", {}, "before costs, from the entry")), kv(analytics))),
      h("section", { class: "card", id: "trades" }, h("h2", {}, "The trade under every strategy", h("small", {}, "best net return first")),
        trades.length ? table(tradeCols, trades, { rowClass: (t) => (chosen && t.strategy === chosen.strategy ? "chosen" : null) })
          : h("p", { class: "muted" }, "No simulated trade.")));

    if (!body.candles.rows.length) return;
    const intervalS = INTERVAL_S[body.candles.interval] || 60;
    const chart = makeChart(chartEl);
    const minPrice = Math.min(...body.candles.rows.map((r) => r.l));
    // the price scale's step: a power of ten four digits below the lowest price (meme prices are tiny)
    const minMove = minPrice > 0 ? Math.min(0.01, 10 ** Math.floor(Math.log10(minPrice) - 4)) : 1e-12;
    const candles = chart.addCandlestickSeries({ priceFormat: { type: "custom", formatter: F.price, minMove } });
    candles.setData(body.candles.rows.map((r) => ({ time: r.t, open: r.o, high: r.h, low: r.l, close: r.c })));
    if (body.candles.rows.some((r) => r.v !== null && r.v !== undefined)) {
      const vol = chart.addHistogramSeries({ priceScaleId: "volume", color: "#c8d1dc", priceFormat: { type: "volume" },
        lastValueVisible: false, priceLineVisible: false });
      chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
      vol.setData(body.candles.rows.filter((r) => r.v !== null && r.v !== undefined).map((r) => ({ time: r.t, value: r.v })));
    }
    let entryLine = null;
    const show = (trade) => {
      const markers = tradeMarkers(call, trade, intervalS);
      candles.setMarkers(markers.map(({ kind, ...m }) => m));
      chartEl.dataset.markers = markers.map((m) => m.kind).join(",");
      chartEl.dataset.strategy = trade ? trade.strategy : "";
      if (entryLine) candles.removePriceLine(entryLine);
      entryLine = trade && trade.entry_price ? candles.createPriceLine({ price: trade.entry_price, color: "#1a7f37",
        lineStyle: 2, lineWidth: 1, title: "entry" }) : null;
      tradeNote.textContent = trade ? `${trade.exit_reason}, ${F.signed_pct(trade.net_return)}` : "";
      for (const tr of document.querySelectorAll("#trades tbody tr")) tr.classList.remove("chosen");
      const i = trades.indexOf(trade);
      if (i >= 0) document.querySelectorAll("#trades tbody tr")[i]?.classList.add("chosen");
    };
    show(chosen);
    chart.timeScale().fitContent();
    select.addEventListener("change", () => {
      chosen = trades.find((t) => t.strategy === select.value);
      history.replaceState(null, "", withQuery({ strategy: chosen.strategy }));
      show(chosen);
    });
  } catch (e) { fill(MAIN, failure(e)); }
}

// --------------------------------------------------------------------------------------------- strategy
function strategyFigures(s, book, skips) {
  return [
    ["rank", s.rank ?? "–", "rank"],
    ["trades", String(s.trades), "trades"],
    ["win rate", F.share(s.win_rate), "win_rate"],
    ["mean", F.signed_pct(s.mean_return), "mean_return", signClass(s.mean_return)],
    ["mean low .. high", F.return_range(s.mean_return_low, s.mean_return_high), "mean_range"],
    ["median", F.signed_pct(s.median_return), "median_return", signClass(s.median_return)],
    ["profit factor", F.profit_factor(s.profit_factor), "profit_factor"],
    ["worst", F.signed_pct(s.worst_trade), "worst_trade"],
    ["best", F.signed_pct(s.best_trade), "best_trade"],
    ["incomplete", String(s.incomplete_trades || 0), "incomplete_trades"],
    ["ambiguous", String(s.ambiguous_trades || 0), "mean_range"],
    s.order_sensitive ? ["order", "rank depends on it", "order_sensitive"] : null,
    ["book", F.signed_pct(book ? book.book_return : s.book_return), "book_return", signClass(book ? book.book_return : s.book_return)],
    ["bankroll", book ? F.money(book.bankroll_usd) : "", "book_return"],
    ["final equity", book ? F.money(book.final_equity_usd) : "", "book_return"],
    ["book max DD", F.pct(book ? book.book_max_drawdown : s.book_max_drawdown), "book_max_drawdown"],
    ["book CAGR", F.signed_pct(book ? book.book_cagr : s.book_cagr), "book_cagr"],
    ["book Sharpe", F.decimal(book ? book.book_sharpe : s.book_sharpe, 2), "book_sharpe"],
    ["book Sortino", F.decimal(book ? book.book_sortino : s.book_sortino, 2), "book_sortino"],
    ["exposure", F.share(book ? book.book_exposure : s.book_exposure), "book_exposure"],
    ["taken", String((book ? book.book_trades : s.book_trades) ?? ""), "book_trades"],
    ["skipped", skips ? `${(skips.no_cash || 0) + (skips.max_open || 0) + (skips.holding_token || 0)}` : "", "book_skipped"],
    skips ? ["no cash", String(skips.no_cash ?? 0), "book_skipped"] : null,
    skips ? ["max open", String(skips.max_open ?? 0), "book_skipped"] : null,
    skips ? ["holding token", String(skips.holding_token ?? 0), "book_skipped"] : null,
  ];
}

async function strategyPage() {
  const name = CFG.params.strategy;
  try {
    const body = await api(`/strategies/${encodeURIComponent(name)}`);
    const s = body.strategy;
    const chartEl = h("div", { class: "chart small", id: "equity" });
    const callerCols = [
      { key: "rank", label: "#", num: true },
      { key: "caller_name", label: "caller", def: "caller", cell: (r) => link(callerHref(r.caller_id), callerLabel(r)) },
      ...TRADE_FIGURES,
      num("score", "score", (x) => F.decimal(x, 3)),
    ];
    fill(MAIN, 
      h("h1", {}, s.strategy, " ", h("small", {}, dagsterLinks("strategy_leaderboard", "portfolio_books", "caller_strategy_leaderboard"),
        " · ", link("/strategies", "compare with…", { title: "Picked; pick the others on the strategies page",
          onclick: () => { sessionStorage.setItem("compare", JSON.stringify([...new Set([...JSON.parse(
            sessionStorage.getItem("compare") || "[]"), s.strategy])])); } }))),
      h("section", { class: "card", id: "figures" }, figures(strategyFigures(s, body.book, body.skips))),
      s.sweep_verdict ? h("section", { class: "card", id: "sweep" }, h("h2", { title: def("sweep_verdict") }, "Sweep guards",
        h("small", {}, `${s.sweep_variants} variants over ${s.sweep_days} call days`)),
      figures([["DSR", F.share(s.sweep_dsr), "sweep_dsr"], ["PBO", F.share(s.sweep_pbo), "sweep_pbo"]]),
      h("p", { class: "verdict" }, s.sweep_verdict)) : null,
      h("div", { class: "grid2" },
        h("section", { class: "card" }, h("h2", { title: def("book_return") }, "Equity of the book", h("small", {}, "USD, cash plus open positions at cost, event by event")),
          body.equity.length ? chartEl : h("p", { class: "muted" }, "No book for this strategy.")),
        h("section", { class: "card", id: "exit-reasons" }, h("h2", { title: def("exits") }, "Exit reasons"),
          body.exit_reasons.length ? bars(body.exit_reasons, { label: (r) => r.reason, value: (r) => r.share,
            text: (r) => `${F.share(r.share)} (${r.trades})` }) : h("p", { class: "muted" }, "No trades."))),
      h("section", { class: "card", id: "callers" }, h("h2", {}, "Per caller", h("small", {}, "every caller under this strategy, by rank")),
        table(callerCols, body.callers)));
    if (body.equity.length) {
      const chart = makeChart(chartEl);
      const line = chart.addLineSeries({ color: COLORS[0], lineWidth: 2, priceFormat: { type: "price", precision: 0, minMove: 1 } });
      line.setData(linePoints(body.equity));
      chart.timeScale().fitContent();
      chartEl.dataset.points = String(body.equity.length);
    }
  } catch (e) { fill(MAIN, failure(e)); }
}

// -------------------------------------------------------------------------------------------- compare
// Names hold commas (sweep variants: name[tp=2,sl=0.5]): split only outside brackets.
export function splitNames(s) {
  const out = [];
  let depth = 0, cur = "";
  for (const ch of s) {
    if (ch === "[") depth++;
    if (ch === "]") depth = Math.max(0, depth - 1);
    if (ch === "," && depth === 0) { if (cur.trim()) out.push(cur.trim()); cur = ""; } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

async function comparePage() {
  const names = splitNames(QS.get("strategies") || "");
  if (names.length < 2 || names.length > 6) {
    fill(MAIN, h("h1", {}, "Compare strategies"),
      h("p", {}, `Pick 2 to 6 strategies on the `, link("/strategies", "strategies page"), ` (${names.length} given).`));
    return;
  }
  try {
    const body = await api("/compare", { strategies: names.join(",") });
    const items = body.strategies;
    const rows = strategyFigures(items[0].strategy, items[0].book, items[0].skips).filter(Boolean).map((f) => f[0]);
    const perStrategy = items.map((it) => Object.fromEntries(strategyFigures(it.strategy, it.book, it.skips).filter(Boolean)
      .map((f) => [f[0], f])));
    const extra = [["exits", (it) => F.top_exits(it.strategy.exit_reason_shares), "exits"],
      ["DSR", (it) => F.share(it.strategy.sweep_dsr), "sweep_dsr"], ["PBO", (it) => F.share(it.strategy.sweep_pbo), "sweep_pbo"]];
    const head = h("tr", {}, h("th", {}, "figure"), items.map((it, i) => h("th", { class: "num" },
      h("i", { style: `display:inline-block;width:10px;height:10px;background:${COLORS[i]};margin-right:4px` }),
      link(strategyHref(it.strategy.strategy), it.strategy.strategy))));
    const trs = [
      ...rows.map((label) => h("tr", {}, h("th", { title: def(perStrategy[0][label]?.[2]) || null }, label),
        perStrategy.map((p) => h("td", { class: `num ${p[label]?.[3] || ""}` }, p[label] ? p[label][1] : "")))),
      ...extra.map(([label, f, key]) => h("tr", {}, h("th", { title: def(key) }, label), items.map((it) => h("td", { class: "num" }, f(it))))),
    ];
    const chartEl = h("div", { class: "chart", id: "equity" });
    fill(MAIN, 
      h("h1", {}, "Compare strategies ", dagsterLinks("strategy_leaderboard", "portfolio_books")),
      h("section", { class: "card", id: "equity-card" }, h("h2", { title: def("book_return") }, "Equity of each book", h("small", {}, "USD")),
        chartEl, h("div", { class: "legend" }, items.map((it, i) => h("span", {}, h("i", { style: `background:${COLORS[i]}` }), it.strategy.strategy)))),
      h("section", { class: "card", id: "figures" }, h("div", { class: "scroll" }, h("table", {}, h("thead", {}, head), h("tbody", {}, trs)))));
    const chart = makeChart(chartEl);
    let series = 0;
    items.forEach((it, i) => {
      if (!it.equity.length) return;
      chart.addLineSeries({ color: COLORS[i], lineWidth: 2, title: "", priceFormat: { type: "price", precision: 0, minMove: 1 } })
        .setData(linePoints(it.equity));
      series++;
    });
    chart.timeScale().fitContent();
    chartEl.dataset.series = String(series);
  } catch (e) { fill(MAIN, failure(e)); }
}

// ------------------------------------------------------------------------------------------------- main
const PAGES = {
  overview, callers: callersList, caller: callerPage, calls: callsList, call: callPage,
  strategies: strategiesList, strategy: strategyPage, compare: comparePage, tokens: tokensList,
};

PAGES[CFG.page]().catch((e) => fill(MAIN, failure(e))).finally(() => {
  document.body.dataset.ready = "1";  // the page is drawn (tests and screenshots wait for it)
});
