"""Compiled helpers every feed decoder shares. Hot path."""

from __future__ import annotations

import numpy as np

from lowlat.core.jit import hot_kernel_inline

__all__ = ["write_event"]


@hot_kernel_inline
def write_event(
    out: np.ndarray,
    n: int,
    seq: int,
    recv_ns: int,
    exchange_ns: int,
    order_id: int,
    price: int,
    qty: int,
    aux: int,
    instrument: int,
    kind: int,
    side: int,
    flags: int,
) -> None:
    """Fill every field of ``out[n]``, a ``MARKET_EVENT_DTYPE`` record (lane 0: unclassified).

    Output arrays are reused and often ``np.empty``: a decoder that set only some fields
    would leave another message's bytes in the rest.
    """
    rec = out[n]
    rec["seq"] = seq
    rec["recv_ns"] = recv_ns
    rec["exchange_ns"] = exchange_ns
    rec["order_id"] = order_id
    rec["price"] = price
    rec["qty"] = qty
    rec["aux"] = aux
    rec["instrument"] = instrument
    rec["kind"] = kind
    rec["side"] = side
    rec["flags"] = flags
    rec["lane"] = 0
