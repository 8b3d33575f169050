"""Compiled gateway step: requests through the latency and fault models to acks and fills. Hot path.

:func:`route` takes ``ORDER_DTYPE`` requests one at a time, in order:

1. Time. The request starts at its ``decision_ns`` (event time: latency is simulated by
   stamping, nothing waits) or at ``monotonic_ns()`` when it is handled (real time), but
   not before the venue is free: a slow venue (``service_ns``) works on one request at a
   time, so a burst queues. Its reports complete at ``start + service_ns + latency``, the
   latency being drawn from the latency model (fixed part, jitter, a spike with some
   probability while the volatility flag is raised) plus ``delay_ns`` for a request the
   fault model delays.
2. A request the fault model rejects gets one REJECTED report (``VENUE_REJECT``) and never
   reaches the book; the others go through :func:`lowlat.venue.kernels.process`.
3. Each report becomes an ``ACK_DTYPE`` record — ``seq`` = the report's ``exec_id`` (the
   venue's gap-free report sequence), ``decision_ns`` of the request it answers,
   ``completion_ns``, leaves, cum, status, reason, ``flags`` = EXECUTED — named as FIX
   names execution reports: ``client_order_id`` is the ClOrdID of the request the report
   answers (a cancel's own id for the CANCELLED or REJECTED answer to it; a replace's new
   id, which the order is known by from then on), ``venue_order_id`` the id the venue
   holds the order under (the cancelled order's). A replace that took effect is reported
   as REPLACED, with the order's leaves and cum (leaves 0: nothing left to work). A
   report with a trade also becomes a
   ``FILL_DTYPE`` record (``exchange_ns`` = when the venue matched it, ``recv_ns`` =
   ``completion_ns``). The fault model may drop a report: then neither record is written,
   the drop is counted, and the receiver sees a gap in ``seq``.

Random draws come from two seeded xorshift32 streams, one for latency and one for faults,
in a fixed order per request, so a run is a function of the seeds and the input (and, in
real time, of the clock).
"""

from __future__ import annotations

import math

import numpy as np

from lowlat.core.atomics import load_acquire
from lowlat.core.clock import monotonic_ns
from lowlat.core.jit import ZERO, hot_kernel, hot_kernel_inline
from lowlat.core.records import AckFlag, AckStatus, OrderAction
from lowlat.venue.kernels import process, reject, report_bound
from lowlat.venue.layout import (
    DIST_EXPONENTIAL,
    DIST_UNIFORM,
    F_DELAY,
    F_DROP,
    F_REJECT,
    F_SPIKE_P,
    P_DELAY_NS,
    P_DISTRIBUTION,
    P_FIXED_NS,
    P_REALTIME,
    P_SCALE_NS,
    P_SERVICE_NS,
    P_SPIKE_NS,
    R_FAULTS,
    R_LATENCY,
    W_ACKS,
    W_BUSY_UNTIL,
    W_DELAYED,
    W_DROPPED,
    W_DUE_NS,
    W_FAULT_REJECTS,
    W_FILLS,
    W_LAST_SEQ,
    W_ORDERS,
    W_SPIKES,
    GatewayState,
    VenueState,
)
from lowlat.venue.records import ACTION_REDUCE, Reason

__all__ = ["route"]

_EXECUTED = AckFlag.EXECUTED.value
_VENUE_REJECT = Reason.VENUE_REJECT.value
_REPLACE_DONE = Reason.REPLACED.value
_ST_REPLACED = AckStatus.REPLACED.value
_CANCEL = OrderAction.CANCEL.value
_REPLACE = OrderAction.REPLACE.value
_LOW32 = 0xFFFFFFFF
_TWO_32 = 4_294_967_296.0


@hot_kernel_inline
def _uniform(rng: np.ndarray, stream: int) -> float:
    """Next draw in [2**-32, 1) of xorshift32 stream ``stream`` (states stay below 2**32)."""
    x = rng[stream]
    x ^= (x << 13) & _LOW32
    x ^= x >> 17
    x ^= (x << 5) & _LOW32
    rng[stream] = x
    return x / _TWO_32


@hot_kernel_inline
def _chance(rng: np.ndarray, stream: int, probability: float) -> bool:
    """True with ``probability``; draws nothing when it is 0, so an unused fault costs none."""
    return probability > 0.0 and _uniform(rng, stream) < probability


@hot_kernel_inline
def _latency(gw: GatewayState) -> int:
    """One request's latency from the latency model (spikes only while volatility is up)."""
    iparams = gw.iparams
    latency = iparams[P_FIXED_NS]
    scale = iparams[P_SCALE_NS]
    distribution = iparams[P_DISTRIBUTION]
    if distribution == DIST_UNIFORM:
        latency += np.int64(_uniform(gw.rng, R_LATENCY) * (scale + 1))
    elif distribution == DIST_EXPONENTIAL:
        latency += np.int64(-scale * math.log(1.0 - _uniform(gw.rng, R_LATENCY)))
    if (
        iparams[P_SPIKE_NS] > 0
        and load_acquire(gw.volatile, 0) != 0
        and _chance(gw.rng, R_LATENCY, gw.fparams[F_SPIKE_P])
    ):
        latency += iparams[P_SPIKE_NS]
        gw.counters[W_SPIKES] += 1
    return latency


@hot_kernel
def route(
    state: VenueState,
    gw: GatewayState,
    requests: np.ndarray,
    start: int,
    stop: int,
    reports: np.ndarray,
    acks: np.ndarray,
    fills: np.ndarray,
) -> tuple[int, int, int]:
    """Route ``requests[start:stop]``; write acks and fills from index 0 of their arrays.

    ``reports`` is scratch space of at least ``report_capacity(config)`` records. Stops
    before a request whose acks or fills might not fit. Returns the index of the first
    request not routed and the numbers of acks and fills written; ``gw.counters[W_DUE_NS]``
    holds the latest completion time of the requests routed.
    """
    counters = gw.counters
    iparams = gw.iparams
    fparams = gw.fparams
    service_ns = iparams[P_SERVICE_NS]
    a = 0
    f = 0
    i = start
    while i < stop:
        rec = requests[i]
        bound = report_bound(state, rec)
        if a + bound > acks.shape[0] or f + bound > fills.shape[0]:
            break
        base = monotonic_ns() if iparams[P_REALTIME] != 0 else np.int64(rec["decision_ns"])
        begin = max(base, counters[W_BUSY_UNTIL])
        matched_ns = begin + service_ns
        counters[W_BUSY_UNTIL] = matched_ns
        done_ns = matched_ns + _latency(gw)
        if _chance(gw.rng, R_FAULTS, fparams[F_DELAY]):
            done_ns += iparams[P_DELAY_NS]
            counters[W_DELAYED] += 1
        counters[W_DUE_NS] = max(counters[W_DUE_NS], done_ns)
        if _chance(gw.rng, R_FAULTS, fparams[F_REJECT]):
            n = reject(state, rec, _VENUE_REJECT, reports, ZERO)
            counters[W_FAULT_REJECTS] += 1
        else:
            n = process(state, requests, i, i + 1, reports)[1]
        counters[W_ORDERS] += 1
        action = np.int64(rec["action"])
        request_id = np.int64(rec["client_order_id"])
        for j in range(n):
            r = reports[j]
            counters[W_LAST_SEQ] = r["exec_id"]
            if _chance(gw.rng, R_FAULTS, fparams[F_DROP]):
                counters[W_DROPPED] += 1
                continue
            client_id = np.int64(r["order_id"])
            status = np.int64(r["status"])
            if j == 0:  # the answer to the request itself comes first
                if action in (_CANCEL, ACTION_REDUCE) and request_id != 0:
                    client_id = request_id
                elif action == _REPLACE and r["reason"] == _REPLACE_DONE:
                    status = _ST_REPLACED
            ack = acks[a]
            ack["seq"] = r["exec_id"]
            ack["client_order_id"] = client_id
            ack["decision_ns"] = r["decision_ns"]
            ack["completion_ns"] = done_ns
            ack["venue_order_id"] = r["order_id"]
            ack["leaves_qty"] = r["leaves_qty"]
            ack["cum_qty"] = r["cum_qty"]
            ack["instrument"] = r["instrument"]
            ack["status"] = status
            ack["flags"] = _EXECUTED
            ack["reason"] = r["reason"]
            a += 1
            if r["last_qty"] > 0:
                fill = fills[f]
                fill["client_order_id"] = r["order_id"]
                fill["venue_order_id"] = r["order_id"]
                fill["exec_id"] = r["exec_id"]
                fill["price"] = r["last_px"]
                fill["qty"] = r["last_qty"]
                fill["exchange_ns"] = matched_ns
                fill["recv_ns"] = done_ns
                fill["instrument"] = r["instrument"]
                fill["side"] = r["side"]
                fill["liquidity"] = r["liquidity"]
                fill["flags"] = 0
                f += 1
        i += 1
    counters[W_ACKS] += a
    counters[W_FILLS] += f
    return i, a, f
