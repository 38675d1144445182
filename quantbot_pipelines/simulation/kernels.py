"""The hot loop: calls x strategies x candles, in numba, over CSR-packed candle arrays.

Fill rules are those of docs/semantics.md#fills; per candle, in this order:
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

Speed: bit-for-bit the same trades as the plain candle-by-candle loop kept in
tests/simulation/reference_kernel.py (test_kernel_equivalence.py), without reading every candle.
- The stop in force at a candle depends only on the trailing peak before it (entry price and earlier highs,
  a running max shared by all strategies), whether that peak reached the activation (from one candle on:
  the peak only rises) and whether break-even moved (only at a take-profit fill). So a trade needs the full
  rules only at "events": low <= stop in force, high >= next take-profit level, or a nan price.
- Per call, once for all strategies: per block of BLOCK candles (and super block of SUPER) the lowest low,
  the highest high, the highest high but the last candle's, and the peak before each block. A block is
  skipped whole when its lowest low clears the fixed stop and the trailing stop at its highest in the block
  (peak before the block's last candle x (1 - distance); float multiplication by a positive constant is
  monotone) and its highest high stays under the level; otherwise its candles are checked one by one.
- A time exit becomes an end index found by binary search (candle times ascend within a call's window).
- simulate_block_parallel runs runs of calls on numba's threads (prange); every (call, strategy) pair writes
  only its own output slots, so results do not depend on the thread count or schedule.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from quantbot_pipelines.backtest.enums import ExitReason, Intrabar
from quantbot_pipelines.backtest.nb import lower_bound, max_min

# the codes as plain ints: numba compiles module globals in as constants
TAKE_PROFIT = int(ExitReason.take_profit)
STOP_LOSS = int(ExitReason.stop_loss)
TRAILING_STOP = int(ExitReason.trailing_stop)
BREAK_EVEN = int(ExitReason.break_even)
TIME_EXIT = int(ExitReason.time_exit)
END_OF_WINDOW = int(ExitReason.end_of_window)
NO_ENTRY = int(ExitReason.no_entry)
STOP_FIRST = int(Intrabar.stop_first)
TAKE_PROFIT_FIRST = int(Intrabar.take_profit_first)
_CLOSED = 1e-9  # remaining position below this is closed (float dust from fractions like 0.33 + 0.33 + 0.34)
_NO_HOLD_END = np.iinfo(np.int64).max
BLOCK = 16  # candles per block summary: quiet stretches are skipped this many at a time
SUPER = 128  # candles per super block (a multiple of BLOCK): long quiet stretches, this many at a time


@njit(cache=True, nogil=True)
def _call_summaries(h, l, a, b, e, bmin, bmax, bmax_head, bpeak, smin, smax, smax_head):
    """Per block of the candles [a, b) of one call: lowest low, highest high, highest high but the block's
    last candle's, and bpeak[blk] = the trailing peak before the block (entry price and earlier highs).
    nan prices are left out: a nan low never hits a stop, a nan high never fills a level nor moves the peak
    (numba's max(peak, nan) is peak, as in the plain loop). Min and max are exact, so their order is free:
    four accumulators break the dependency chains. smin, smax, smax_head: the same per super block (SUPER
    candles, full ones only)."""
    n = b - a
    nb = (n + BLOCK - 1) // BLOCK
    pk = e
    for blk in range(nb):
        s = a + blk * BLOCK
        bpeak[blk] = pk
        if s + BLOCK <= b:
            t = s + BLOCK - 1
            head, lo = max_min(h, l, s, t)
            bmin[blk] = min(lo, l[t])
            bmax_head[blk] = head
            bmax[blk] = max(head, h[t])
        else:
            hi, lo = max_min(h, l, s, b)
            bmin[blk] = lo
            bmax_head[blk] = hi
            bmax[blk] = hi
        pk = max(pk, bmax[blk])
    bpeak[nb] = pk
    # the same three extremes per super block of SUPER // BLOCK full blocks
    per = SUPER // BLOCK
    for sb in range(n // SUPER):
        b0 = sb * per
        last = b0 + per - 1
        hi, lo = max_min(bmax, bmin, b0, last)
        smin[sb] = min(lo, bmin[last])
        smax_head[sb] = max(hi, bmax_head[last])
        smax[sb] = max(hi, bmax[last])


@njit(cache=True, nogil=True)
def _first_armed(h, bpeak, a, b, arm_px):
    """First candle of [a, b) whose trailing peak (of the earlier highs) reaches arm_px, else b."""
    nb = (b - a + BLOCK - 1) // BLOCK
    j = lower_bound(bpeak, 0, nb + 1, arm_px)  # bpeak only rises
    if j == 0:
        return a
    if j > nb:
        return b
    # the peak reaches arm_px within block j - 1
    s = a + (j - 1) * BLOCK
    t = min(s + BLOCK, b)
    q = bpeak[j - 1]
    for k in range(s, t):
        if q >= arm_px:
            return k
        q = max(q, h[k])
    return t


@njit(cache=True, nogil=True)
def _next_event(l, h, bmin, bmax, bmax_head, smin, smax, smax_head, a, k, q, kend, fixed_stop, tp_px, tr_keep,
                k_arm):
    """First candle in [k, kend) where low <= the stop in force (max of fixed_stop and, from k_arm on, the
    trailing stop peak x tr_keep) or high >= tp_px, or a price is nan; kend if none. q is the trailing peak
    before candle k; returns (candle, trailing peak before it)."""
    while k < kend:
        i = k - a
        if i % SUPER == 0 and k + SUPER <= kend:
            sb = i // SUPER
            trail = max(q, smax_head[sb]) * tr_keep if k + SUPER - 1 >= k_arm else -np.inf
            lo = smin[sb]
            if lo > fixed_stop and lo > trail and smax[sb] < tp_px:
                q = max(q, smax[sb])
                k += SUPER
                continue
        if i % BLOCK == 0 and k + BLOCK <= kend:
            # a whole block is quiet if its extremes clear the stop at its highest (the peak before the
            # block's last candle) and the level
            blk = i // BLOCK
            trail = max(q, bmax_head[blk]) * tr_keep if k + BLOCK - 1 >= k_arm else -np.inf
            lo = bmin[blk]
            if lo > fixed_stop and lo > trail and bmax[blk] < tp_px:
                q = max(q, bmax[blk])
                k += BLOCK
                continue
        trail = q * tr_keep if k >= k_arm else -np.inf
        lk = l[k]
        hk = h[k]
        if not (lk > fixed_stop and lk > trail and hk < tp_px):
            return k, q
        q = max(q, hk)
        k += 1
    return kend, q


@njit(inline="always")
def _take_levels(j, p, k, ok_, hk, e, tp_mult, tp_frac, nl, k_next, tp_px, remaining, proceeds, nf, f_i, f_px,
                 f_frac, f_reason):
    """Every take-profit level candle k reaches, in order, each at max(open, level), written to fills slot nf on;
    returns the new (k_next, tp_px, remaining, proceeds, nf, closed)."""
    closed = False
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
            break
    return k_next, tp_px, remaining, proceeds, nf, closed


@njit(inline="always")
def _stop_fill(p, k, ok_, stop_px, stop_m, stop_reason, e, remaining, proceeds, nf, f_i, f_px, f_frac, f_reason):
    """The stop sells the remainder on candle k at min(open, stop); returns (proceeds, nf)."""
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
    return proceeds + remaining * mult, nf + 1


@njit(cache=True, nogil=True)
def _simulate_call(ci, call_lo, scratch, ts, o, h, l, c, start, stop, entry_price,
                   sl, tr_act, tr_dist, be, time_s, horizon_s, policy, cost_factor, n_levels, tp_mult, tp_frac,
                   out_exit_i, out_reason, out_mult, out_nfill, out_amb, f_i, f_px, f_frac, f_reason,
                   out_mult2, out_reason2, out_nfill2, g_i, g_px, g_frac, g_reason, amb_k, amb_stop, amb_level):
    """Every strategy for call ci (its candles stay in cache across the strategies). scratch: 7 rows of at
    least the call's block count + 1, for its block summaries."""
    n_s = sl.shape[0]
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
            out_amb[p] = 0
        return
    t0 = ts[a]
    bmin, bmax, bmax_head, bpeak = scratch[0], scratch[1], scratch[2], scratch[3]
    smin, smax, smax_head = scratch[4], scratch[5], scratch[6]
    _call_summaries(h, l, a, b, e, bmin, bmax, bmax_head, bpeak, smin, smax, smax_head)
    for j in range(n_s):
        p = base + j
        has_sl = not np.isnan(sl[j])
        sl_px = sl[j] * e if has_sl else -np.inf
        has_tr = not np.isnan(tr_dist[j])
        tr_arm_px = tr_act[j] * e if has_tr else np.inf
        tr_keep = 1.0 - tr_dist[j] if has_tr else 0.0
        # first candle whose earlier peak reaches the activation: the trailing stop is in force from there
        k_arm = _first_armed(h, bpeak, a, b, tr_arm_px) if has_tr else b
        has_be = not np.isnan(be[j])
        be_px = e * (1.0 + be[j]) if has_be else -np.inf
        hold_end = t0 + time_s[j] if time_s[j] >= 0 else _NO_HOLD_END
        end_reason = TIME_EXIT if (time_s[j] >= 0 and time_s[j] <= horizon_s) else END_OF_WINDOW
        # candles at or after hold_end are past the hold (sold at the close of the last one before)
        kend = b if time_s[j] < 0 else lower_bound(ts, a, b, hold_end)
        pol = policy[j]
        out_amb[p] = 0
        nl = n_levels[j]
        k_next = 0
        tp_px = tp_mult[j, 0] * e if nl > 0 else np.inf
        be_on = False
        fixed_stop = sl_px  # the stop in force without the trailing part
        remaining = 1.0
        proceeds = 0.0
        nf = 0
        closed = False
        last = a
        k = a
        peak = e  # the trailing peak before candle k
        while True:
            k0 = k
            k, peak = _next_event(l, h, bmin, bmax, bmax_head, smin, smax, smax_head, a, k, peak, kend,
                                  fixed_stop, tp_px, tr_keep, k_arm)
            if k > k0:
                last = k - 1
            if k >= kend:
                break
            # the stop in force at candle k, built as the plain loop builds it
            stop_px = sl_px
            stop_m = sl[j]  # the stop as a multiple of entry (exact for the figures, e.g. 0.5 not 0.5*e/e)
            stop_reason = STOP_LOSS
            if k == a:
                # first candle: the trailing peak is the entry price
                if has_tr and peak >= tr_arm_px and peak * tr_keep > stop_px:
                    stop_px = peak * tr_keep
                    stop_m = tr_keep
                    stop_reason = TRAILING_STOP
            else:
                if be_on and be_px > stop_px:
                    stop_px = be_px
                    stop_m = 1.0 + be[j]
                    stop_reason = BREAK_EVEN
                if has_tr and peak >= tr_arm_px and peak * tr_keep > stop_px:
                    stop_px = peak * tr_keep
                    stop_m = stop_px / e
                    stop_reason = TRAILING_STOP
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
                    else:
                        # the open does not decide, the policy does; the other reading goes to the g_* fills
                        # (net_multiple_low / _high). Either reading closes the trade on this candle.
                        if pol == STOP_FIRST:
                            stop_now = True
                        elif pol == TAKE_PROFIT_FIRST:
                            stop_now = False
                        else:  # nearest_first
                            stop_now = (ok_ - stop_px) <= (tp_px - ok_)
                        for q in range(nf):
                            g_i[p, q] = f_i[p, q]
                            g_px[p, q] = f_px[p, q]
                            g_frac[p, q] = f_frac[p, q]
                            g_reason[p, q] = f_reason[p, q]
                        if stop_now:
                            out_amb[p] = 1
                            _, _, rem2, pr2, n2, cl2 = _take_levels(j, p, k, ok_, hk, e, tp_mult, tp_frac, nl, k_next,
                                                                    tp_px, remaining, proceeds, nf, g_i, g_px,
                                                                    g_frac, g_reason)
                            out_reason2[p] = TAKE_PROFIT
                            if not cl2:
                                pr2, n2 = _stop_fill(p, k, ok_, stop_px, stop_m, stop_reason, e, rem2, pr2, n2, g_i,
                                                     g_px, g_frac, g_reason)
                                out_reason2[p] = stop_reason
                        else:
                            out_amb[p] = 2
                            pr2, n2 = _stop_fill(p, k, ok_, stop_px, stop_m, stop_reason, e, remaining, proceeds, nf,
                                                 g_i, g_px, g_frac, g_reason)
                            out_reason2[p] = stop_reason
                        out_nfill2[p] = n2
                        out_mult2[p] = pr2 * cost_factor[j]
                        amb_k[p] = k  # the ambiguous candle and the two prices it crossed, for finer candles
                        amb_stop[p] = stop_px
                        amb_level[p] = tp_px
                if not stop_now:
                    k_next, tp_px, remaining, proceeds, nf, closed = _take_levels(
                        j, p, k, ok_, hk, e, tp_mult, tp_frac, nl, k_next, tp_px, remaining, proceeds, nf, f_i, f_px,
                        f_frac, f_reason)
                    if closed:
                        out_reason[p] = TAKE_PROFIT
                        break
                    if has_be:
                        be_on = True
                        # a break-even move made by this candle is in force from the next one
                        fixed_stop = max(sl_px, be_px)
                if stop_hit:
                    # stop first, or after the take-profits of this candle (the open was above the stop)
                    proceeds, nf = _stop_fill(p, k, ok_, stop_px, stop_m, stop_reason, e, remaining, proceeds, nf,
                                              f_i, f_px, f_frac, f_reason)
                    remaining = 0.0
                    closed = True
                    out_reason[p] = stop_reason
                    break
            peak = max(peak, hk)
            k += 1
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
def _simulate_calls(call_lo, lo, hi, ts, o, h, l, c, start, stop, entry_price, sl, tr_act, tr_dist, be,
                    time_s, horizon_s, policy, cost_factor, n_levels, tp_mult, tp_frac, out_exit_i, out_reason,
                    out_mult, out_nfill, out_amb, f_i, f_px, f_frac, f_reason,
                    out_mult2, out_reason2, out_nfill2, g_i, g_px, g_frac, g_reason, amb_k, amb_stop, amb_level):
    """Calls [lo, hi), with one set of scratch arrays sized for the longest window among them."""
    longest = 0
    for ci in range(lo, hi):
        longest = max(longest, stop[ci] - start[ci])
    scratch = np.empty((7, longest // BLOCK + 2))
    for ci in range(lo, hi):
        _simulate_call(ci, call_lo, scratch, ts, o, h, l, c, start, stop, entry_price, sl, tr_act, tr_dist, be,
                       time_s, horizon_s, policy, cost_factor, n_levels, tp_mult, tp_frac, out_exit_i, out_reason,
                       out_mult, out_nfill, out_amb, f_i, f_px, f_frac, f_reason,
                       out_mult2, out_reason2, out_nfill2, g_i, g_px, g_frac, g_reason, amb_k, amb_stop, amb_level)


@njit(cache=True, nogil=True)
def simulate_block(ts, o, h, l, c, start, stop, entry_price, call_lo, call_hi,
                   sl, tr_act, tr_dist, be, time_s, horizon_s, policy, cost_factor, n_levels, tp_mult, tp_frac,
                   out_exit_i, out_reason, out_mult, out_nfill, out_amb, f_i, f_px, f_frac, f_reason,
                   out_mult2, out_reason2, out_nfill2, g_i, g_px, g_frac, g_reason, amb_k, amb_stop, amb_level):
    """Simulate calls [call_lo, call_hi) against every strategy; pair p = (call - call_lo) * S + strategy.

    Strategy arrays (length S): sl (nan = none), tr_act/tr_dist (nan = none), be (nan = none), time_s (-1 =
    none), policy, cost_factor = (1 - s)(1 - fee) / ((1 + s)(1 + fee)), n_levels, tp_mult/tp_frac (S x L).
    Outputs per pair: exit candle index, reason, net multiple, number of fills; fills (pair x (L + 1)):
    candle index, price, fraction of the initial position, reason. out_amb: 0 when no candle was ambiguous
    (docs/semantics.md#order-bounds), 1 when the policy settled one stop first, 2 take-profit first; then
    out_mult2 / out_reason2 / out_nfill2 and the g_* fills are the trade under the other reading, amb_k the
    ambiguous candle, amb_stop / amb_level the stop in force and the level it crossed.
    """
    _simulate_calls(call_lo, call_lo, call_hi, ts, o, h, l, c, start, stop, entry_price, sl, tr_act, tr_dist,
                    be, time_s, horizon_s, policy, cost_factor, n_levels, tp_mult, tp_frac, out_exit_i,
                    out_reason, out_mult, out_nfill, out_amb, f_i, f_px, f_frac, f_reason,
                    out_mult2, out_reason2, out_nfill2, g_i, g_px, g_frac, g_reason, amb_k, amb_stop, amb_level)


@njit(cache=True, nogil=True, parallel=True)
def simulate_block_parallel(ts, o, h, l, c, start, stop, entry_price, call_lo, call_hi,
                            sl, tr_act, tr_dist, be, time_s, horizon_s, policy, cost_factor, n_levels, tp_mult,
                            tp_frac, out_exit_i, out_reason, out_mult, out_nfill, out_amb, f_i, f_px, f_frac, f_reason,
                            out_mult2, out_reason2, out_nfill2, g_i, g_px, g_frac, g_reason, amb_k, amb_stop, amb_level,
                            n_slices):
    """simulate_block with the calls cut into n_slices runs of consecutive calls (each with its own scratch
    arrays) spread over numba's threads (NUMBA_NUM_THREADS / numba.set_num_threads)."""
    # a call's pairs have their own output slots: no shared state, so the output does not depend on the
    # threads or the slicing
    n = call_hi - call_lo
    slices = max(1, min(n, n_slices))
    for si in prange(slices):
        lo = call_lo + n * si // slices
        hi = call_lo + n * (si + 1) // slices
        _simulate_calls(call_lo, lo, hi, ts, o, h, l, c, start, stop, entry_price, sl, tr_act, tr_dist, be,
                        time_s, horizon_s, policy, cost_factor, n_levels, tp_mult, tp_frac, out_exit_i,
                        out_reason, out_mult, out_nfill, out_amb, f_i, f_px, f_frac, f_reason,
                        out_mult2, out_reason2, out_nfill2, g_i, g_px, g_frac, g_reason, amb_k, amb_stop, amb_level)


@njit(cache=True, nogil=True)
def one_pass(o, h, l, c):
    """One read of every candle (the benchmark's yardstick for `vs_one_pass`)."""
    acc = 0.0
    for k in range(o.shape[0]):
        acc += o[k] + h[k] - l[k] + c[k]
    return acc
