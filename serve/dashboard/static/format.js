// How a figure is written: the rules of quantbot_pipelines/views.py, with the same names, so the dashboard,
// the bot and the Dagster metadata write the same number the same way. Python's format() rounds the exact
// binary value half to even; Number.toFixed rounds ties away from zero, so fixed() rounds the exact decimal
// expansion itself (tests/serve/dashboard/test_format.py feeds both the same values).

const none = (x) => x === null || x === undefined;

function nonFinite(x, plus) {
  if (Number.isNaN(x)) return (plus ? "+" : "") + "nan";
  return x < 0 ? "-inf" : (plus ? "+" : "") + "inf";
}

function group(int) {
  return int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

// Python's f"{x:.{digits}f}" (with `plus`: "+", with `comma`: ",").
export function fixed(x, digits, { plus = false, comma = false } = {}) {
  if (!Number.isFinite(x)) return nonFinite(x, plus);
  const negative = x < 0 || Object.is(x, -0);
  // toFixed(100) is the exact decimal value for every 2**-48 <= |x| < 1e21 (above, x is an integer and
  // toFixed writes an exponent); below 2**-48 no tie can occur
  const a = Math.abs(x);
  const exact = a >= 1e21 ? `${BigInt(a)}.${"0".repeat(100)}` : a.toFixed(100);
  const [intPart, frac] = exact.split(".");
  let digitsStr = intPart + frac.slice(0, digits);
  const rest = frac.slice(digits);
  const up = rest[0] > "5" || (rest[0] === "5" && (/[1-9]/.test(rest.slice(1)) ||
    (Number(digitsStr[digitsStr.length - 1]) % 2 === 1)));
  if (up) {
    const chars = digitsStr.split("");
    let i = chars.length - 1;
    while (i >= 0 && chars[i] === "9") chars[i--] = "0";
    if (i < 0) chars.unshift("1"); else chars[i] = String(Number(chars[i]) + 1);
    digitsStr = chars.join("");
  }
  let int = digitsStr.slice(0, digitsStr.length - digits) || "0";
  int = int.replace(/^0+(?=\d)/, "");
  const fracOut = digits ? "." + digitsStr.slice(digitsStr.length - digits) : "";
  const sign = negative ? "-" : plus ? "+" : "";
  return sign + (comma ? group(int) : int) + fracOut;
}

// Python's round(): half to even
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

export function hmm(seconds) {
  if (none(seconds) || Number.isNaN(seconds)) return "";
  const minutes = roundHalfEven(seconds / 60);
  const h = Math.floor(minutes / 60);
  const m = ((minutes % 60) + 60) % 60;
  return `${h}:${String(m).padStart(2, "0")}`;
}

export function share(x) {
  return none(x) ? "" : `${fixed(100 * x, 0)}%`;
}

export function multiple(x) {
  return none(x) ? "" : x >= 100 ? `${fixed(x, 0, { comma: true })}x` : `${fixed(x, 2)}x`;
}

export function signed_pct(x) {
  if (none(x) || Number.isNaN(x)) return "";
  return `${fixed(x * 100, 1, { plus: true })}%`;
}

export function profit_factor(pf) {
  return none(pf) ? "" : (pf === Infinity || pf === -Infinity) ? "∞" : fixed(pf, 2);
}

export function return_range(lo, hi) {
  if (none(lo) || none(hi)) return "";
  return Math.abs(hi - lo) < 5e-4 ? signed_pct(lo) : `${signed_pct(lo)} .. ${signed_pct(hi)}`;
}

export function top_exits(shares) {
  if (!shares) return "";
  const items = Object.entries(JSON.parse(shares)).sort((a, b) => b[1] - a[1]);  // stable, as sorted()
  return items.slice(0, 3).map(([k, v]) => `${k} ${fixed(v * 100, 0)}%`).join(", ");
}

export function points(x) {
  if (none(x)) return "";
  return x === Math.trunc(x) ? fixed(x, 0, { plus: true, comma: true }) : fixed(x, 1, { plus: true, comma: true });
}

// The figures the boards write inline in views.py (score .3f, points/call +.2f, book max DD .1f%, Sharpe .2f).
export function decimal(x, digits) {
  return none(x) ? "" : fixed(x, digits);
}

export function signed(x, digits) {
  return none(x) ? "" : fixed(x, digits, { plus: true });
}

export function pct(x) {
  return none(x) ? "" : `${fixed(x * 100, 1)}%`;
}

// money and prices as views.py writes them; times and ages are the dashboard's own
export function usd(x) {
  if (none(x) || !Number.isFinite(x)) return "";
  const a = Math.abs(x);
  const sign = x < 0 ? "-" : "";
  if (a >= 1e9) return `${sign}$${fixed(a / 1e9, 2)}B`;
  if (a >= 1e6) return `${sign}$${fixed(a / 1e6, 2)}M`;
  if (a >= 1e3) return `${sign}$${fixed(a / 1e3, 1)}K`;
  return `${sign}$${fixed(a, 2)}`;
}

export function money(x) {
  return none(x) || !Number.isFinite(x) ? "" : `${x < 0 ? "-" : ""}$${fixed(Math.abs(x), 2, { comma: true })}`;
}

export function price(x) {
  if (none(x) || !Number.isFinite(x)) return "";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1) return fixed(x, a >= 1000 ? 2 : 4, { comma: true });
  // four significant digits, written out: 0.000000361, not 3.61e-7
  const digits = Math.min(100, 3 - Math.floor(Math.log10(a)));
  return fixed(x, digits).replace(/\.?0+$/, "");
}

export function ts(iso) {
  if (none(iso)) return "";
  const d = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().slice(0, 16).replace("T", " ");
}

export function age(seconds) {
  if (none(seconds) || Number.isNaN(seconds)) return "";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 86400) return hmm(seconds);
  return `${fixed(seconds / 86400, 1)} d`;
}
