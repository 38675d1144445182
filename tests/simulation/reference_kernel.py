"""Test oracle: the first, plain candle-by-candle kernel (every candle fully evaluated, state rebuilt after
each one). kernels.simulate_block skips quiet candles and runs calls in parallel; its output must match this
one exactly (tests/simulation/test_kernel_equivalence.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from quantbot_pipelines.simulation.kernels import (
    _CLOSED,
    BREAK_EVEN,
    END_OF_WINDOW,
    NO_ENTRY,
    STOP_FIRST,
    STOP_LOSS,
    TAKE_PROFIT,
    TAKE_PROFIT_FIRST,
    TIME_EXIT,
    TRAILING_STOP,
)


@njit(cache=True, nogil=True)
def reference_block(ts, o, h, l, c, start, stop, entry_price, call_lo, call_hi,
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
