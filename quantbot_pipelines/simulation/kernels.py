"""The hot loop: calls x strategies x candles, in numba, over CSR-packed candle arrays.

Fill rules are those of ../shared/reference/backtest-semantics.md ("Trades"); per candle, in this order:
1. Time exit: a candle at or after entry_ts + time_exit is past the hold, so what remains is sold at the
   close of the previous candle (the last of the hold).
2. The stop in force is the highest of: stop_loss x entry, the break-even stop (once a take-profit level
   filled on an EARLIER candle), and the armed trailing stop (peak of EARLIER highs, starting at the entry
   price, x (1 - distance)). Like the trailing stop, a break-even move made by a candle takes effect from
   the next candle: within one candle the order of highs and lows is unknown.
3. A stop is hit when low <= stop and fills at min(open, stop); a take-profit level when high >= level and
   fills at max(open, level); several levels may fill in one candle.
4. Stop and take-profit in the same candle: an open already through one of them decides (the open is the
   candle's first trade); otherwise `intrabar`: stop_first, take_profit_first (all reachable levels, then the
   stop for what remains), nearest_first (whichever level is nearer the open; ties go to the stop).
5. Nothing left: the trade ends. Window ends with a position: sold at the last close (time_exit if the hold
   ends within the window, else end_of_window).
Costs per side: net multiple = sum_k fraction_k x fill_k x (1 - s)(1 - fee) / (entry x (1 + s)(1 + fee)).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# exit / fill reason codes (engine.REASONS maps them to names)
NONE, TAKE_PROFIT, STOP_LOSS, TRAILING_STOP, BREAK_EVEN, TIME_EXIT, END_OF_WINDOW, NO_ENTRY = range(8)
STOP_FIRST, TAKE_PROFIT_FIRST, NEAREST_FIRST = 0, 1, 2
_CLOSED = 1e-9  # remaining position below this is closed (float dust from fractions like 0.33 + 0.33 + 0.34)


@njit(cache=True, nogil=True)
def simulate_block(ts, o, h, l, c, start, stop, entry_price, call_lo, call_hi,
                   sl, tr_act, tr_dist, be, time_s, horizon_s, policy, cost_factor, n_levels, tp_mult, tp_frac,
                   out_exit_i, out_reason, out_mult, out_nfill, f_i, f_px, f_frac, f_reason):
    """Simulate calls [call_lo, call_hi) against every strategy; pair p = (call - call_lo) * S + strategy.

    Strategy arrays (length S): sl (nan = none), tr_act/tr_dist (nan = none), be (nan = none), time_s (-1 =
    none), policy, cost_factor = (1 - s)(1 - fee) / ((1 + s)(1 + fee)), n_levels, tp_mult/tp_frac (S x L).
    Outputs per pair: exit candle index, reason, net multiple, number of fills; fills (pair x (L + 1)):
    candle index, price, fraction of the initial position, reason.
    """
    n_s = sl.shape[0]
    for ci in range(call_lo, call_hi):
        a = start[ci]
        b = stop[ci]
        e = entry_price[ci]
        base = (ci - call_lo) * n_s
        if b <= a or not (e > 0.0) or not np.isfinite(e):
            for j in range(n_s):
                p = base + j
                out_exit_i[p] = -1
                out_reason[p] = NO_ENTRY
                out_mult[p] = np.nan
                out_nfill[p] = 0
            continue
        t0 = ts[a]
        for j in range(n_s):
            p = base + j
            has_sl = not np.isnan(sl[j])
            sl_px = sl[j] * e if has_sl else -np.inf
            has_tr = not np.isnan(tr_dist[j])
            tr_arm_px = tr_act[j] * e if has_tr else np.inf
            tr_keep = 1.0 - tr_dist[j] if has_tr else 0.0
            has_be = not np.isnan(be[j])
            be_px = e * (1.0 + be[j]) if has_be else -np.inf
            hold_end = t0 + time_s[j] if time_s[j] >= 0 else np.iinfo(np.int64).max
            end_reason = TIME_EXIT if (time_s[j] >= 0 and time_s[j] <= horizon_s) else END_OF_WINDOW
            pol = policy[j]
            nl = n_levels[j]
            k_next = 0
            tp_px = tp_mult[j, 0] * e if nl > 0 else np.inf
            # stop in force for the first candle: the trailing peak starts at the entry price
            peak = e
            be_on = False
            stop_px = sl_px
            stop_m = sl[j]  # the stop as a multiple of entry (exact for the figures, e.g. 0.5 not 0.5*e/e)
            stop_reason = STOP_LOSS
            if has_tr and peak >= tr_arm_px and peak * tr_keep > stop_px:
                stop_px = peak * tr_keep
                stop_m = tr_keep
                stop_reason = TRAILING_STOP
            remaining = 1.0
            proceeds = 0.0
            nf = 0
            closed = False
            last = a
            for k in range(a, b):
                if ts[k] >= hold_end:
                    break  # candle k is past the hold; sold below at the close of k - 1
                last = k
                ok_ = o[k]
                hk = h[k]
                lk = l[k]
                stop_hit = lk <= stop_px
                tp_hit = hk >= tp_px
                if stop_hit or tp_hit:
                    stop_now = stop_hit
                    if stop_hit and tp_hit:
                        if ok_ <= stop_px:
                            stop_now = True
                        elif ok_ >= tp_px:
                            stop_now = False
                        elif pol == STOP_FIRST:
                            stop_now = True
                        elif pol == TAKE_PROFIT_FIRST:
                            stop_now = False
                        else:
                            stop_now = (ok_ - stop_px) <= (tp_px - ok_)
                    if not stop_now:
                        while k_next < nl and hk >= tp_px:
                            frac = tp_frac[j, k_next]
                            if frac > remaining or remaining - frac < _CLOSED:
                                frac = remaining
                            if ok_ > tp_px:
                                px = ok_
                                mult = ok_ / e
                            else:
                                px = tp_px
                                mult = tp_mult[j, k_next]
                            f_i[p, nf] = k
                            f_px[p, nf] = px
                            f_frac[p, nf] = frac
                            f_reason[p, nf] = TAKE_PROFIT
                            nf += 1
                            proceeds += frac * mult
                            remaining -= frac
                            k_next += 1
                            tp_px = tp_mult[j, k_next] * e if k_next < nl else np.inf
                            if remaining < _CLOSED:
                                closed = True
                                out_reason[p] = TAKE_PROFIT
                                break
                        if closed:
                            break
                        if has_be:
                            be_on = True
                    if stop_hit:
                        # stop first, or after the take-profits of this candle (the open was above the stop)
                        if ok_ < stop_px:
                            px = ok_
                            mult = ok_ / e
                        else:
                            px = stop_px
                            mult = stop_m
                        f_i[p, nf] = k
                        f_px[p, nf] = px
                        f_frac[p, nf] = remaining
                        f_reason[p, nf] = stop_reason
                        nf += 1
                        proceeds += remaining * mult
                        remaining = 0.0
                        closed = True
                        out_reason[p] = stop_reason
                        break
                # state for the next candle
                peak = max(peak, hk)
                stop_px = sl_px
                stop_m = sl[j]
                stop_reason = STOP_LOSS
                if be_on and be_px > stop_px:
                    stop_px = be_px
                    stop_m = 1.0 + be[j]
                    stop_reason = BREAK_EVEN
                if has_tr and peak >= tr_arm_px and peak * tr_keep > stop_px:
                    stop_px = peak * tr_keep
                    stop_m = stop_px / e
                    stop_reason = TRAILING_STOP
            if closed:
                out_exit_i[p] = f_i[p, nf - 1]
            else:
                # hold over (or window over): sell what remains at the close of the last candle held
                px = c[last]
                f_i[p, nf] = last
                f_px[p, nf] = px
                f_frac[p, nf] = remaining
                reason = TIME_EXIT if (last + 1 < b and ts[last + 1] >= hold_end) else end_reason
                f_reason[p, nf] = reason
                nf += 1
                proceeds += remaining * (px / e)
                out_exit_i[p] = last
                out_reason[p] = reason
            out_nfill[p] = nf
            # proceeds are in multiples of the entry price already
            out_mult[p] = proceeds * cost_factor[j]


@njit(cache=True, nogil=True)
def one_pass(o, h, l, c):
    """One read of every candle (the benchmark's yardstick for `vs_one_pass`)."""
    acc = 0.0
    for k in range(o.shape[0]):
        acc += o[k] + h[k] - l[k] + c[k]
    return acc
