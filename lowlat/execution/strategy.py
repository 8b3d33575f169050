"""The strategy interface: what a strategy is, what it is given and what it returns.

A strategy is one compiled function (``lowlat.core.jit.hot_kernel``), called by the
pipeline after every market event the books consumed::

    fn(book, signals, ex, slot, events, i, patterns, n_patterns, params, memory, intents) -> int

``book`` (:class:`~lowlat.book.BookState`), ``signals``
(:class:`~lowlat.signals.micro.SignalState`) and ``ex``
(:class:`~lowlat.execution.layout.ExecState`, read only: its own orders' states) describe
the world after ``events[i]``, whose book is ``slot``; ``patterns[:n_patterns]`` are the
pattern events that record triggered. ``params`` (float64) and ``memory`` (int64) are the
strategy's own preallocated arrays: configuration in, state carried between calls. It
writes intents — ``ORDER_DTYPE`` records with action, side, price, qty, order type, time
in force, instrument, account and, for a cancel or replace, ``orig_client_order_id`` —
into ``intents`` and returns how many. It must not allocate (NRT is off) and may not write
any array but ``memory`` and ``intents``.

Intents get consecutive client order ids in the order written, starting at
``ex.counters[C_NEXT_ID]``, whether the gate sends, records or refuses them: a strategy
that needs to cancel its orders later remembers ``next id + k`` for its ``k``-th intent.
A replace keeps the original order's id; reports about it name that id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Strategy"]


@dataclass(frozen=True)
class Strategy:
    """A compiled strategy function with its parameters and memory.

    Parameters
    ----------
    name
        For reports.
    function
        The compiled function (see the module docstring for its signature).
    params
        Its float64 configuration array.
    memory
        Its int64 state array, zeroed at start (or restored from a snapshot).
    max_intents
        Most intents one call may write.
    """

    name: str
    function: Callable[..., int]
    params: np.ndarray
    memory: np.ndarray = field(default_factory=lambda: np.zeros(16, np.int64))
    max_intents: int = 8

    def __post_init__(self) -> None:
        if self.params.dtype != np.float64 or self.memory.dtype != np.int64:
            raise TypeError(f"strategy {self.name}: params must be float64, memory int64")
        if self.max_intents < 1:
            raise ValueError(f"strategy {self.name}: max_intents must be >= 1")
