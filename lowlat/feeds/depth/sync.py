"""Per-symbol snapshot/diff sequencing: Binance's procedure for a correct local book.

A diff-depth stream only makes sense on top of a REST snapshot taken while the stream was
buffered. :class:`BookSync` holds one symbol's state:

* before a snapshot every diff is buffered;
* a snapshot (``lastUpdateId`` L) resets the book; buffered and later diffs with
  ``u <= L`` are already in it and are dropped, counted STALE;
* the first diff applied must straddle the snapshot: ``U <= L + 1 <= u`` (spot), or, when
  the diff carries ``pu`` (futures, whose ids are not contiguous), ``pu <= L < u``;
* after that every diff must continue the previous one, last final id ``u'``: ``pu == u'``
  when ``pu`` is present, else ``U <= u' + 1 <= u``; diffs with ``u <= u'`` are dropped as
  DUPLICATE;
* any break counts SEQUENCE_GAP (a failed straddle too), discards the book and asks for a
  fresh snapshot: :attr:`BookSync.need_snapshot` turns true and :meth:`BookSync.on_diff`
  returns :attr:`SyncAction.NEED_SNAPSHOT`. The breaking diff and what follows stay
  buffered for the next snapshot.

Records only leave through the caller's ``emit`` callback, in book order: a snapshot's
records (the first flagged ``FLAG_BOOK_START``) then applied diffs. Diff ids come from
:class:`~lowlat.feeds.depth.decode.Decoded`, so this module never parses JSON.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import IntEnum

import numpy as np

from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.feeds.depth.decode import NO_ID, Decoded, MessageKind
from lowlat.feeds.quarantine import ErrorKind, Quarantine

__all__ = ["DEFAULT_MAX_BUFFER", "BookSync", "DepthFeed", "SyncAction"]

DEFAULT_MAX_BUFFER = 100_000  # diffs held while waiting for a snapshot


class SyncAction(IntEnum):
    """What :meth:`BookSync.on_diff` did with one diff."""

    APPLIED = 0  # records emitted
    BUFFERED = 1  # waiting for a snapshot
    STALE = 2  # older than the snapshot, dropped
    DUPLICATE = 3  # already applied, dropped
    NEED_SNAPSHOT = 4  # sequence broken: book discarded, diff buffered, snapshot wanted


class BookSync:
    """Sequencing state of one symbol's depth stream.

    Parameters
    ----------
    emit
        Called with each records array to deliver (a snapshot, an applied diff).
    quarantine
        Where STALE, DUPLICATE and SEQUENCE_GAP are counted (a new one when None).
    max_buffer
        Diffs buffered while waiting for a snapshot; beyond it the oldest is dropped and
        counted STALE (a snapshot taken later supersedes it anyway).

    Attributes
    ----------
    last_id
        Final update id of the book (snapshot ``lastUpdateId`` or last applied ``u``);
        None while no book is held.
    resyncs
        Times the sequence broke and a new snapshot was asked for.
    applied
        Diffs applied to the book.
    """

    def __init__(
        self,
        emit: Callable[[np.ndarray], None],
        quarantine: Quarantine | None = None,
        *,
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> None:
        self.emit = emit
        self.quarantine = Quarantine.empty() if quarantine is None else quarantine
        self.max_buffer = max_buffer
        self.last_id: int | None = None
        self.resyncs = 0
        self.applied = 0
        self._straddled = False
        self._buffer: deque[tuple[int, int, int, np.ndarray]] = deque()

    @property
    def need_snapshot(self) -> bool:
        """True while no book is held: diffs are buffered until :meth:`on_snapshot`."""
        return self.last_id is None

    @property
    def buffered(self) -> int:
        """Diffs waiting for a snapshot."""
        return len(self._buffer)

    def reset(self) -> None:
        """Forget the book and the buffer (a new connection): a snapshot is needed."""
        self.last_id = None
        self._buffer.clear()

    def _count(self, kind: ErrorKind) -> None:
        self.quarantine.counts[kind] += 1

    def on_snapshot(self, last_update_id: int, records: np.ndarray) -> bool:
        """Start a new book at ``last_update_id`` and replay the buffered diffs on it.

        Returns True if the book is in sync afterwards, False if a buffered diff broke
        the sequence again (another snapshot is needed; counted as a resync).
        """
        self.last_id = last_update_id
        self._straddled = False
        self.emit(records)
        pending = self._buffer
        self._buffer = deque()
        while pending:
            if self.on_diff(*pending.popleft()) == SyncAction.NEED_SNAPSHOT:
                self._buffer.extend(pending)
                return False
        return True

    def on_diff(self, first: int, final: int, prev: int, records: np.ndarray) -> SyncAction:
        """Sequence one diff (``U``, ``u``, ``pu`` or :data:`NO_ID`) and its records."""
        last = self.last_id
        if last is None:
            if len(self._buffer) >= self.max_buffer:
                self._buffer.popleft()
                self._count(ErrorKind.STALE)
            self._buffer.append((first, final, prev, records))
            return SyncAction.BUFFERED
        if final <= last:
            self._count(ErrorKind.DUPLICATE if self._straddled else ErrorKind.STALE)
            return SyncAction.DUPLICATE if self._straddled else SyncAction.STALE
        if prev != NO_ID:
            continuous = prev == last if self._straddled else prev <= last
        else:
            continuous = first <= last + 1
        if not continuous:
            self._count(ErrorKind.SEQUENCE_GAP)
            self.resyncs += 1
            self.last_id = None
            self._buffer.append((first, final, prev, records))
            return SyncAction.NEED_SNAPSHOT
        self._straddled = True
        self.last_id = final
        self.applied += 1
        if records.shape[0]:
            self.emit(records)
        return SyncAction.APPLIED


class DepthFeed:
    """Decoded messages of many symbols through their :class:`BookSync`, records out.

    Depth diffs and snapshots are sequenced per instrument; bookTicker and trade records
    pass straight through. Records collect in :attr:`pending` until :meth:`take`.

    Parameters
    ----------
    quarantine
        Shared by every symbol's sync (normally the decoder's).
    max_buffer
        Per-symbol buffer while waiting for a snapshot.
    """

    def __init__(self, quarantine: Quarantine, *, max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        self.quarantine = quarantine
        self.max_buffer = max_buffer
        self.syncs: dict[int, BookSync] = {}
        self.pending: list[np.ndarray] = []

    def sync(self, instrument: int) -> BookSync:
        """The sequencing state of ``instrument``, created on first use."""
        found = self.syncs.get(instrument)
        if found is None:
            found = BookSync(self.pending.append, self.quarantine, max_buffer=self.max_buffer)
            self.syncs[instrument] = found
        return found

    @property
    def resyncs(self) -> int:
        """Sequence breaks over all symbols."""
        return sum(s.resyncs for s in self.syncs.values())

    def process(self, decoded: Decoded) -> list[int]:
        """Route every message of ``decoded``; return instruments that now need a snapshot.

        An instrument is listed when one of its diffs broke the sequence (or it has only
        buffered diffs so far and no snapshot), so a live client knows what to request.
        """
        wanted: list[int] = []
        records = decoded.records
        kinds = decoded.kind.tolist()
        for i, kind in enumerate(kinds):
            if kind == MessageKind.REJECTED:
                continue
            chunk = records[decoded.start[i] : decoded.stop[i]]
            if kind == MessageKind.DEPTH:
                instrument = int(decoded.instrument[i])
                action = self.sync(instrument).on_diff(
                    int(decoded.first_id[i]), int(decoded.final_id[i]),
                    int(decoded.prev_id[i]), chunk,
                )  # fmt: skip
                if action in (SyncAction.NEED_SNAPSHOT, SyncAction.BUFFERED):
                    wanted.append(instrument)
            elif kind == MessageKind.SNAPSHOT:
                instrument = int(decoded.instrument[i])
                if not self.sync(instrument).on_snapshot(int(decoded.final_id[i]), chunk):
                    wanted.append(instrument)
            else:
                self.pending.append(chunk)
        return list(dict.fromkeys(wanted))

    def take(self) -> np.ndarray:
        """The records collected so far, in delivery order, as one new array."""
        if not self.pending:
            return np.zeros(0, MARKET_EVENT_DTYPE)
        out = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0].copy()
        self.pending.clear()
        return out
