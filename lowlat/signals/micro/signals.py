"""``MicroSignals``: the control-plane handle on the signal arrays, next to a book engine.

Control code. It allocates one signal row per book slot and runs the compiled pipeline
stage (book update, then signals) over record batches; values are read by instrument.
"""

from __future__ import annotations

import numpy as np

from lowlat.book import OrderBooks
from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.signals.micro import kernels
from lowlat.signals.micro.config import SignalConfig
from lowlat.signals.micro.layout import (
    C_TICKS,
    C_TICKS_DROPPED,
    M_TWO_SIDED,
    M_UPDATES,
    SIGNAL_FIELDS,
    SignalState,
    allocate,
)

__all__ = ["MicroSignals"]


class MicroSignals:
    """Microstructure signals of every book of ``books``, updated with each book update.

    Parameters
    ----------
    config
        Signal parameters; the defaults of :class:`SignalConfig` when None.
    books
        The book engine the signals read; :meth:`process` updates it too. Unless it
        already keeps top-N sums for another N, it is asked to keep them for the signals'
        levels (:meth:`OrderBooks.track_top_levels`), so depth signals cost O(1) per
        event; otherwise the signals sum their levels themselves.
    """

    def __init__(self, config: SignalConfig | None, books: OrderBooks) -> None:
        self.config = config or SignalConfig()
        self.books = books
        if books.top_levels == 0:
            books.track_top_levels(self.config.levels)
        self.state: SignalState = allocate(self.config, books.config.instruments)
        self.ticks_written = 0
        """TICK records the last :meth:`process` call wrote."""
        self._no_ticks = np.zeros(0, MARKET_EVENT_DTYPE)

    def process(self, events: np.ndarray, ticks: np.ndarray | None = None) -> int:
        """Apply ``events`` to the books, then signals; return how many the books consumed.

        Mid changes are written to ``ticks`` as TICK records when it is given (see
        :attr:`ticks_written`).
        """
        if events.dtype != MARKET_EVENT_DTYPE:
            raise TypeError(f"expected MARKET_EVENT_DTYPE records, got dtype {events.dtype}")
        out = self._no_ticks if ticks is None else ticks
        consumed, written = kernels.process_batch(
            self.books.state, self.state, events, len(events), out
        )
        self.ticks_written = int(written)
        return int(consumed)

    def values(self, instrument: int) -> dict[str, float]:
        """Every signal of ``instrument`` by name (empty if it has no book).

        ``two_sided`` says whether the book-derived values are current; ``updates``
        counts the book updates seen.
        """
        slot = self.books.slot(instrument)
        if slot is None:
            return {}
        row = np.zeros(len(SIGNAL_FIELDS), np.float64)
        kernels.derive_all(self.state, slot, row)
        marks = self.state.marks[slot]
        out = {name: float(row[i]) for i, name in enumerate(SIGNAL_FIELDS)}
        out["two_sided"] = float(marks[M_TWO_SIDED])
        out["updates"] = float(marks[M_UPDATES])
        return out

    def counters(self) -> dict[str, int]:
        """TICK records written and dropped (the tick buffer was full)."""
        return {
            "ticks": int(self.state.counters[C_TICKS]),
            "ticks_dropped": int(self.state.counters[C_TICKS_DROPPED]),
        }
