"""Compiled order-flow generator: simulated market state in, length-prefixed ITCH 5.0 out.

:func:`generate` writes order-flow messages (A, F, E, X, D, U, P), each behind its 2-byte
big-endian length, into a preallocated ``uint8`` buffer until the buffer is nearly full or
the target count is reached, and returns the new write position. All state lives in arrays
the control code allocates once (:mod:`.writer`), so successive calls continue the same
stream and the output does not depend on the buffer size.

Randomness comes from xoshiro128+ (32-bit words kept in ``int64`` with explicit masks, so
the same code runs compiled and under ``NUMBA_DISABLE_JIT``), seeded by the control code.

Per message: the time advances by an exponential gap at the current total rate; every
``step`` of simulated time all mids move by the factor model (:func:`move_mids`) and the
regimes are re-read (:func:`apply_regimes`); an instrument is drawn in proportion to its
rate; then one action is taken on its order pool. Book consistency is by construction:
orders only leave the pool through messages that name them with shares they hold, and new
orders are priced strictly below the mid (buys) or above it (sells) and only when no
resting order is on the wrong side of the current mid ("stale") — after a mid move the
instrument's next messages first execute its stale orders in full (the market traded
through them). Hence every buy rests below every sell: the book is never crossed.
"""

from __future__ import annotations

import math

import numpy as np

from lowlat.core.jit import hot_kernel, hot_kernel_inline

__all__ = [
    "BUY",
    "FP_BASE_RATE",
    "FP_MEAN_LEVEL",
    "FP_P_ADD",
    "FP_P_ATTR",
    "FP_P_CANCEL",
    "FP_P_DELETE",
    "FP_P_EXECUTE",
    "FP_P_REPLACE",
    "FP_SIGMA",
    "FP_STEP_NS",
    "FP_STEP_S",
    "FP_W_IDIO",
    "FP_W_MARKET",
    "FP_W_SECTOR",
    "FS_NEXT_STEP",
    "FS_T",
    "FS_TOTAL_RATE",
    "IP_LOT",
    "IP_MAX_LOTS",
    "IP_MIN_LIVE",
    "IP_TICK",
    "IS_LAST_TS",
    "IS_MATCH",
    "IS_NEXT_REF",
    "IS_RNG",
    "IS_TARGET",
    "IS_WRITTEN",
    "MAX_FLOW_BYTES",
    "N_FPARAM",
    "N_FSTATE",
    "N_IPARAM",
    "N_ISTATE",
    "RG_DRIFT",
    "RG_END",
    "RG_RATE",
    "RG_SECTOR",
    "RG_START",
    "RG_VOL",
    "SELL",
    "apply_regimes",
    "generate",
    "move_mids",
]

# int64 state ``ist``
IS_WRITTEN = 0  # order-flow messages written so far
IS_TARGET = 1  # order-flow messages to write in all
IS_NEXT_REF = 2  # next order reference number (unique across instruments)
IS_MATCH = 3  # last match number used
IS_LAST_TS = 4  # timestamp of the last message written (ns since midnight)
IS_RNG = 5  # 5..8: xoshiro128+ state words
N_ISTATE = 9
# float64 state ``fst``
FS_T = 0  # simulated time, ns since midnight
FS_NEXT_STEP = 1  # time of the next mid update
FS_TOTAL_RATE = 2  # messages per ns, all instruments
N_FSTATE = 3
# float64 parameters ``fp``
FP_SIGMA = 0  # log-return std per step at vol multiplier 1
FP_W_MARKET = 1  # sqrt of the variance shares
FP_W_SECTOR = 2
FP_W_IDIO = 3
FP_BASE_RATE = 4  # messages per ns per instrument at rate multiplier 1
FP_STEP_NS = 5
FP_STEP_S = 6
FP_MEAN_LEVEL = 7
FP_P_ADD = 8  # cumulative action probabilities
FP_P_EXECUTE = 9
FP_P_CANCEL = 10
FP_P_DELETE = 11
FP_P_REPLACE = 12
FP_P_ATTR = 13  # share of adds sent as F
N_FPARAM = 14
# int64 parameters ``ip``
IP_TICK = 0
IP_LOT = 1
IP_MAX_LOTS = 2
IP_MIN_LIVE = 3  # resting orders per side below which an instrument adds
N_IPARAM = 4
# columns of the float64 ``regimes`` table
RG_START = 0  # ns since midnight
RG_END = 1
RG_SECTOR = 2  # -1: all
RG_RATE = 3
RG_VOL = 4
RG_DRIFT = 5  # log-return per second

BUY = 1  # order pool sides
SELL = 2
MAX_FLOW_BYTES = 2 + 44  # prefix + the longest order-flow message (P)

_M32 = 0xFFFFFFFF
_TWO32 = 4294967296.0
_MAX_LEVEL = 50.0
_LEN_A, _LEN_F, _LEN_E, _LEN_X, _LEN_D, _LEN_U, _LEN_P = 36, 40, 31, 23, 19, 35, 44


@hot_kernel_inline
def _next32(ist: np.ndarray) -> int:
    """Next 32-bit output of xoshiro128+ (state in ``ist[IS_RNG:IS_RNG + 4]``)."""
    s0 = ist[IS_RNG]
    s1 = ist[IS_RNG + 1]
    s2 = ist[IS_RNG + 2]
    s3 = ist[IS_RNG + 3]
    result = (s0 + s3) & _M32
    t = (s1 << 9) & _M32
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = ((s3 << 11) & _M32) | (s3 >> 21)
    ist[IS_RNG] = s0
    ist[IS_RNG + 1] = s1
    ist[IS_RNG + 2] = s2
    ist[IS_RNG + 3] = s3
    return result


@hot_kernel_inline
def _uniform(ist: np.ndarray) -> float:
    """Uniform in the open interval (0, 1)."""
    return (_next32(ist) + 0.5) / _TWO32


@hot_kernel_inline
def _below(ist: np.ndarray, n: int) -> int:
    """Uniform integer in ``0..n-1`` from the high bits (``n < 2**31``)."""
    return (_next32(ist) * n) >> 32


@hot_kernel_inline
def _normal(ist: np.ndarray) -> float:
    """Standard normal draw (Box–Muller, one of the pair)."""
    u1 = _uniform(ist)
    u2 = _uniform(ist)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@hot_kernel_inline
def _put(buf: np.ndarray, p: int, value: int, size: int) -> None:
    """Store ``value`` big-endian in ``buf[p:p + size]``."""
    for k in range(size):
        buf[p + size - 1 - k] = (value >> (8 * k)) & 0xFF


@hot_kernel_inline
def _begin(buf: np.ndarray, p: int, length: int, letter: int, locate: int, ts: int) -> int:
    """Write the length prefix and the 11-byte header; return the offset of the body."""
    _put(buf, p, length, 2)
    buf[p + 2] = letter
    _put(buf, p + 3, locate, 2)
    _put(buf, p + 5, 0, 2)  # tracking number
    _put(buf, p + 7, ts, 6)
    return p + 13


@hot_kernel_inline
def _symbol(buf: np.ndarray, p: int, symbols: np.ndarray, i: int) -> None:
    for k in range(8):
        buf[p + k] = symbols[i, k]


@hot_kernel
def apply_regimes(
    t_ns: float,
    fst: np.ndarray,
    fp: np.ndarray,
    regimes: np.ndarray,
    sector_of: np.ndarray,
    volm: np.ndarray,
    drift: np.ndarray,
    cumw: np.ndarray,
) -> None:
    """Read the regimes active at ``t_ns`` into per-instrument multipliers and rates.

    Fills ``volm`` (volatility multiplier), ``drift`` (log-return per step), ``cumw``
    (cumulative per-instrument rate, for drawing the instrument of a message) and
    ``fst[FS_TOTAL_RATE]``.
    """
    total = 0.0
    for i in range(volm.shape[0]):
        vol = 1.0
        rate = 1.0
        mu = 0.0
        for r in range(regimes.shape[0]):
            sector = regimes[r, RG_SECTOR]
            if (
                regimes[r, RG_START] <= t_ns < regimes[r, RG_END]
                and (sector < 0 or sector == sector_of[i])
            ):  # fmt: skip
                vol *= regimes[r, RG_VOL]
                rate *= regimes[r, RG_RATE]
                mu += regimes[r, RG_DRIFT]
        volm[i] = vol
        drift[i] = mu * fp[FP_STEP_S]
        total += rate * fp[FP_BASE_RATE]
        cumw[i] = total
    fst[FS_TOTAL_RATE] = total


@hot_kernel
def move_mids(
    ist: np.ndarray,
    fp: np.ndarray,
    sector_of: np.ndarray,
    sector_z: np.ndarray,
    volm: np.ndarray,
    drift: np.ndarray,
    logmid: np.ndarray,
    mid: np.ndarray,
    dirty: np.ndarray,
) -> None:
    """Move every mid by one step of the factor model and mark its pool for a stale check.

    ``sector_z`` is scratch space (one slot per sector) for the sector factor draws.
    """
    z_market = _normal(ist)
    for s in range(sector_z.shape[0]):
        sector_z[s] = _normal(ist)
    sigma = fp[FP_SIGMA]
    for i in range(logmid.shape[0]):
        z = (
            fp[FP_W_MARKET] * z_market
            + fp[FP_W_SECTOR] * sector_z[sector_of[i]]
            + fp[FP_W_IDIO] * _normal(ist)
        )
        logmid[i] += drift[i] + sigma * volm[i] * z
        mid[i] = math.exp(logmid[i])
        dirty[i] = 1


@hot_kernel_inline
def _pick(cumw: np.ndarray, x: float) -> int:
    """Index of the first ``cumw`` entry above ``x`` (binary search)."""
    lo = 0
    hi = cumw.shape[0] - 1
    while lo < hi:
        m = (lo + hi) >> 1
        if cumw[m] > x:
            hi = m
        else:
            lo = m + 1
    return lo


@hot_kernel_inline
def _order_price(ist: np.ndarray, fp: np.ndarray, tick: int, m: float, side: int) -> int:
    """A new order's price: strictly below the mid for a buy, above it for a sell."""
    level = min(math.floor(-math.log(_uniform(ist)) * fp[FP_MEAN_LEVEL]), _MAX_LEVEL)
    base = np.int64(math.floor(m / tick)) * tick
    if side == BUY:
        if base >= m:
            base -= tick
        return max(base - np.int64(level) * tick, tick)
    return base + tick + np.int64(level) * tick


@hot_kernel_inline
def _remove(i: int, k: int, pref: np.ndarray, pside: np.ndarray, pprice: np.ndarray,
            pqty: np.ndarray, live: np.ndarray, nside: np.ndarray) -> None:  # fmt: skip
    """Drop slot ``k`` of instrument ``i``'s pool (the last slot moves into it)."""
    nside[i, pside[i, k]] -= 1
    last = live[i] - 1
    pref[i, k] = pref[i, last]
    pside[i, k] = pside[i, last]
    pprice[i, k] = pprice[i, last]
    pqty[i, k] = pqty[i, last]
    live[i] = last


@hot_kernel
def generate(
    buf: np.ndarray,
    pos: int,
    ist: np.ndarray,
    fst: np.ndarray,
    fp: np.ndarray,
    ip: np.ndarray,
    regimes: np.ndarray,
    sector_of: np.ndarray,
    symbols: np.ndarray,
    mpid: np.ndarray,
    sector_z: np.ndarray,
    volm: np.ndarray,
    drift: np.ndarray,
    cumw: np.ndarray,
    logmid: np.ndarray,
    mid: np.ndarray,
    dirty: np.ndarray,
    pref: np.ndarray,
    pside: np.ndarray,
    pprice: np.ndarray,
    pqty: np.ndarray,
    live: np.ndarray,
    nside: np.ndarray,
    counts: np.ndarray,
) -> int:
    """Write order-flow messages into ``buf[pos:]``; return the new write position.

    Stops when ``ist[IS_WRITTEN]`` reaches ``ist[IS_TARGET]`` or fewer than
    :data:`MAX_FLOW_BYTES` bytes are left. ``counts[letter]`` counts messages by type.
    The pools (``pref``, ``pside``, ``pprice``, ``pqty``: ``[instrument, slot]``, the
    first ``live[i]`` slots in use) are the resting orders of each instrument, ``nside[i,
    side]`` how many rest on each side: a side with fewer than ``ip[IP_MIN_LIVE]`` is
    refilled before any other action.
    """
    cap = buf.shape[0]
    pool = pref.shape[1]
    tick = ip[IP_TICK]
    lot = ip[IP_LOT]
    min_live = ip[IP_MIN_LIVE]
    while ist[IS_WRITTEN] < ist[IS_TARGET] and pos + MAX_FLOW_BYTES <= cap:
        t = fst[FS_T] - math.log(_uniform(ist)) / fst[FS_TOTAL_RATE]
        fst[FS_T] = t
        while t >= fst[FS_NEXT_STEP]:
            move_mids(ist, fp, sector_of, sector_z, volm, drift, logmid, mid, dirty)
            apply_regimes(fst[FS_NEXT_STEP], fst, fp, regimes, sector_of, volm, drift, cumw)
            fst[FS_NEXT_STEP] += fp[FP_STEP_NS]
        ts = np.int64(t)
        if ts <= ist[IS_LAST_TS]:
            ts = ist[IS_LAST_TS] + 1
        ist[IS_LAST_TS] = ts
        ist[IS_WRITTEN] += 1
        i = _pick(cumw, _uniform(ist) * fst[FS_TOTAL_RATE])
        locate = i + 1
        m = mid[i]
        n = live[i]
        if dirty[i]:
            stale = -1
            for k in range(n):
                if (pside[i, k] == BUY and pprice[i, k] >= m) or (
                    pside[i, k] == SELL and pprice[i, k] <= m
                ):
                    stale = k
                    break
            if stale >= 0:  # the market traded through it: executed in full
                ist[IS_MATCH] += 1
                b = _begin(buf, pos, _LEN_E, 69, locate, ts)
                _put(buf, b, pref[i, stale], 8)
                _put(buf, b + 8, pqty[i, stale], 4)
                _put(buf, b + 12, ist[IS_MATCH], 8)
                pos += 2 + _LEN_E
                counts[69] += 1
                _remove(i, stale, pref, pside, pprice, pqty, live, nside)
                continue
            dirty[i] = 0
        u = _uniform(ist)
        short = nside[i, BUY] < min_live or nside[i, SELL] < min_live
        if short or (u < fp[FP_P_ADD] and n < pool):
            side = BUY if _next32(ist) & 1 else SELL
            if short:  # refill the thinner side
                side = BUY if nside[i, BUY] < nside[i, SELL] else SELL
            price = _order_price(ist, fp, tick, m, side)
            qty = (1 + _below(ist, ip[IP_MAX_LOTS])) * lot
            ref = ist[IS_NEXT_REF]
            ist[IS_NEXT_REF] = ref + 1
            attributed = _uniform(ist) < fp[FP_P_ATTR]
            length = _LEN_F if attributed else _LEN_A
            letter = 70 if attributed else 65
            b = _begin(buf, pos, length, letter, locate, ts)
            _put(buf, b, ref, 8)
            buf[b + 8] = 66 if side == BUY else 83
            _put(buf, b + 9, qty, 4)
            _symbol(buf, b + 13, symbols, i)
            _put(buf, b + 21, price, 4)
            if attributed:
                for k in range(4):
                    buf[b + 25 + k] = mpid[k]
            pos += 2 + length
            counts[letter] += 1
            pref[i, n] = ref
            pside[i, n] = side
            pprice[i, n] = price
            pqty[i, n] = qty
            live[i] = n + 1
            nside[i, side] += 1
        elif u < fp[FP_P_EXECUTE]:  # the best order of a random side (both hold min_live)
            want = BUY if _next32(ist) & 1 else SELL
            k = -1
            for j in range(n):
                if pside[i, j] == want and (
                    k < 0
                    or (want == BUY and pprice[i, j] > pprice[i, k])
                    or (want == SELL and pprice[i, j] < pprice[i, k])
                ):
                    k = j
            lots = pqty[i, k] // lot
            qty = pqty[i, k] if lots < 2 or _next32(ist) & 1 else (1 + _below(ist, lots - 1)) * lot
            ist[IS_MATCH] += 1
            b = _begin(buf, pos, _LEN_E, 69, locate, ts)
            _put(buf, b, pref[i, k], 8)
            _put(buf, b + 8, qty, 4)
            _put(buf, b + 12, ist[IS_MATCH], 8)
            pos += 2 + _LEN_E
            counts[69] += 1
            if qty == pqty[i, k]:
                _remove(i, k, pref, pside, pprice, pqty, live, nside)
            else:
                pqty[i, k] -= qty
        elif u < fp[FP_P_DELETE]:  # partial cancel, or delete (one lot, or a delete draw)
            k = _below(ist, n)
            lots = pqty[i, k] // lot
            if u < fp[FP_P_CANCEL] and lots >= 2:
                qty = (1 + _below(ist, lots - 1)) * lot
                b = _begin(buf, pos, _LEN_X, 88, locate, ts)
                _put(buf, b, pref[i, k], 8)
                _put(buf, b + 8, qty, 4)
                pos += 2 + _LEN_X
                counts[88] += 1
                pqty[i, k] -= qty
            else:
                b = _begin(buf, pos, _LEN_D, 68, locate, ts)
                _put(buf, b, pref[i, k], 8)
                pos += 2 + _LEN_D
                counts[68] += 1
                _remove(i, k, pref, pside, pprice, pqty, live, nside)
        elif u < fp[FP_P_REPLACE]:  # same side, new price and size, new reference
            k = _below(ist, n)
            price = _order_price(ist, fp, tick, m, pside[i, k])
            qty = (1 + _below(ist, ip[IP_MAX_LOTS])) * lot
            ref = ist[IS_NEXT_REF]
            ist[IS_NEXT_REF] = ref + 1
            b = _begin(buf, pos, _LEN_U, 85, locate, ts)
            _put(buf, b, pref[i, k], 8)
            _put(buf, b + 8, ref, 8)
            _put(buf, b + 16, qty, 4)
            _put(buf, b + 20, price, 4)
            pos += 2 + _LEN_U
            counts[85] += 1
            pref[i, k] = ref
            pprice[i, k] = price
            pqty[i, k] = qty
        else:  # non-displayed trade at the mid
            side = BUY if _next32(ist) & 1 else SELL
            price = max(np.int64(math.floor(m / tick + 0.5)) * tick, tick)
            qty = (1 + _below(ist, ip[IP_MAX_LOTS])) * lot
            ist[IS_MATCH] += 1
            b = _begin(buf, pos, _LEN_P, 80, locate, ts)
            _put(buf, b, 0, 8)
            buf[b + 8] = 66 if side == BUY else 83
            _put(buf, b + 9, qty, 4)
            _symbol(buf, b + 13, symbols, i)
            _put(buf, b + 21, price, 4)
            _put(buf, b + 25, ist[IS_MATCH], 8)
            pos += 2 + _LEN_P
            counts[80] += 1
    return pos
