"""What a sized trade's fills would have paid and brought: docs/semantics.md#position-size, #price-impact,
#volume-caps, #costs (fixed costs).

The kernel (kernels.py) decides a trade's fills as if every order filled whole at its price; this pass turns
those decisions into transactions: the buy of `size` USD at the entry candle's open, and each sell, priced
against the trade's pool (impact xyk) and cut into parts of at most `max_volume_share` of a candle's volume,
the rest carried to the following candles at their mean price. Unit-size trades (no `size`) never come here.

`execute_block` runs over (call, strategy) pairs of one kernel block and writes each pair's parts into a slot
of its own (`room` parts from `offsets[p]`); it counts them all, so the few pairs whose parts outgrow their
slot are run again into slots of their exact size (engine.execute).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from quantbot_pipelines.backtest.enums import ExitReason
from quantbot_pipelines.simulation.impact import (
    DEFAULT_DEX_FEE_BPS,
    PUMP_FEE_BPS,
    buy_tokens,
    pool_at,
    sell_usd,
)

ENTRY = int(ExitReason.entry)
CURVE_FEE = PUMP_FEE_BPS / 1e4  # the pool's fee when a strategy leaves dex_fee_bps out: on a pump.fun curve
POOL_FEE = DEFAULT_DEX_FEE_BPS / 1e4  # and in any other pool
_DUST = 1e-12  # share of an order below which it counts as filled (float dust of the cap arithmetic)


@njit(cache=True, nogil=True)
def _mean_price(o, h, l, c, k):
    return (o[k] + h[k] + l[k] + c[k]) * 0.25


@njit(cache=True, nogil=True)
def _cap(vol, k, share):
    """USD a part may take of candle k: share x its volume (no volume: nothing; no cap: inf)."""
    if share == np.inf:
        return np.inf
    v = vol[k]
    return share * v if v > 0.0 else 0.0


@njit(cache=True, nogil=True)
def _execute_pair(p, a, b, e, y0, phi, size, xyk, f, s, fixed, share, ts, o, h, l, c, vol,
                  f_i, f_px, f_frac, f_reason, nf, q_tok, room, base, part_i, part_px, part_frac, part_reason,
                  out):
    """One pair: out = [cost, proceeds, impact, entry share, unfilled share, parts]; the first `room` parts
    written from base."""
    use_xyk = xyk and y0 > 0.0 and np.isfinite(y0)
    first_decision = f_i[p, 0] if nf > 0 else b
    np_ = 0
    cost = 0.0
    impact = 0.0
    tokens = 0.0
    left = size
    k = a
    while left > _DUST * size and k < b:
        if k > a and k >= first_decision:
            break  # the first sell decided: what is not bought by then is never bought
        px = o[a] if k == a else _mean_price(o, h, l, c, k)
        amount = min(left, _cap(vol, k, share))
        if amount > 0.0 and px > 0.0:
            if use_xyk:
                x, y = pool_at(y0, e, px)
                got = buy_tokens(amount, x, y, phi)
            else:
                got = amount / px
            impact += amount - got * px
            tokens += got / (1.0 + s)
            cost += amount * (1.0 + f) + fixed
            left -= amount
            if np_ < room:
                part_i[base + np_] = k
                part_px[base + np_] = px
                part_frac[base + np_] = amount / size
                part_reason[base + np_] = ENTRY
            np_ += 1
        k += 1
    bought = (size - left) / size
    proceeds = 0.0
    if tokens <= 0.0:
        out[0] = cost
        out[1] = 0.0
        out[2] = impact
        out[3] = bought
        out[4] = 0.0
        out[5] = np_
        return
    for d in range(nf):
        q_tok[d] = f_frac[p, d] * tokens
    head = 0  # first order not yet filled
    queued = 0  # orders decided so far
    k = first_decision
    while k < b and head < nf:
        while queued < nf and f_i[p, queued] <= k:
            queued += 1
        if head == queued:  # nothing pending: jump to the next decision
            k = f_i[p, queued]
            continue
        usd_left = _cap(vol, k, share)  # what the candle's cap leaves, shared by the orders in queue
        for d in range(head, queued):
            if q_tok[d] <= _DUST * tokens or usd_left <= 0.0:
                continue
            px = f_px[p, d] if f_i[p, d] == k else _mean_price(o, h, l, c, k)
            if not px > 0.0:
                continue
            t = min(q_tok[d], usd_left / px)
            if t <= 0.0:
                continue
            if use_xyk:
                x, y = pool_at(y0, e, px)
                usd = sell_usd(t, x, y, phi)
            else:
                usd = t * px
            impact += t * px - usd
            proceeds += usd * (1.0 - s) * (1.0 - f) - fixed
            q_tok[d] -= t
            usd_left -= t * px
            if np_ < room:
                part_i[base + np_] = k
                part_px[base + np_] = px
                part_frac[base + np_] = t / tokens
                part_reason[base + np_] = f_reason[p, d]
            np_ += 1
        while head < queued and q_tok[head] <= _DUST * tokens:
            head += 1
        k += 1
    unsold = 0.0
    for d in range(nf):
        if q_tok[d] > _DUST * tokens:
            unsold += q_tok[d]
    out[0] = cost
    out[1] = proceeds
    out[2] = impact
    out[3] = bought
    out[4] = unsold / tokens
    out[5] = np_


@njit(cache=True, nogil=True, parallel=True)
def execute_block(call_lo, call_hi, ts, o, h, l, c, vol, start, stop, entry_price, pool_usd, on_curve,
                  size, xyk, dex_fee, fee, slip, fixed, share, exit_i, n_fills, f_i, f_px, f_frac, f_reason,
                  cost, proceeds, impact, entry_share, unfilled, n_parts, only, offsets, room, part_i, part_px,
                  part_frac, part_reason):
    """Pairs p = (call - call_lo) x S + strategy of calls [call_lo, call_hi) with `only[p]`, for the strategies
    with a size (nan size: skipped, outputs untouched): the per-pair figures, n_parts (all of them), and the
    first room[p] parts written from offsets[p]. dex_fee nan: by venue (CURVE_FEE on a bonding curve, else
    POOL_FEE)."""
    n_s = size.shape[0]
    width = f_i.shape[1]
    for ci in prange(call_lo, call_hi):
        q_tok = np.empty(width)
        out = np.empty(6)
        for j in range(n_s):
            p = (ci - call_lo) * n_s + j
            if np.isnan(size[j]) or not only[p]:
                continue
            if exit_i[p] < 0:
                n_parts[p] = 0
                cost[p] = np.nan
                proceeds[p] = np.nan
                impact[p] = np.nan
                entry_share[p] = np.nan
                unfilled[p] = np.nan
                continue
            phi = dex_fee[j]
            if np.isnan(phi):
                phi = CURVE_FEE if on_curve[ci] else POOL_FEE
            _execute_pair(p, start[ci], stop[ci], entry_price[ci], pool_usd[ci], phi, size[j], xyk[j], fee[j],
                          slip[j], fixed[j], share[j], ts, o, h, l, c, vol, f_i, f_px, f_frac, f_reason,
                          n_fills[p], q_tok, room[p], offsets[p], part_i, part_px, part_frac, part_reason, out)
            cost[p] = out[0]
            proceeds[p] = out[1]
            impact[p] = out[2]
            entry_share[p] = out[3]
            unfilled[p] = out[4]
            n_parts[p] = np.int64(out[5])


@njit(cache=True, nogil=True)
def pack_parts(n_parts, start, over, s_i, s_px, s_frac, s_reason, e_i, e_px, e_frac, e_reason, offsets, part_i,
               part_px, part_frac, part_reason):
    """Each pair's parts, from its slot (s_*) or, for the pairs `over` it, from their exact run (e_*), packed
    one pair after another; offsets[p] = where pair p's parts start."""
    pos = 0
    for p in range(n_parts.shape[0]):
        offsets[p] = pos
        st = start[p]
        n = n_parts[p]
        if over[p]:
            for q in range(n):
                part_i[pos + q] = e_i[st + q]
                part_px[pos + q] = e_px[st + q]
                part_frac[pos + q] = e_frac[st + q]
                part_reason[pos + q] = e_reason[st + q]
        else:
            for q in range(n):
                part_i[pos + q] = s_i[st + q]
                part_px[pos + q] = s_px[st + q]
                part_frac[pos + q] = s_frac[st + q]
                part_reason[pos + q] = s_reason[st + q]
        pos += n
