"""Quarantine for bad input: every rejected message is counted by kind and sampled.

A decoder never crashes on bad bytes and never drops them silently: it calls
:func:`lowlat.feeds.quarantine_kernels.reject` with the error kind and the offending
bytes. The counts are exact; the first ``SAMPLES_PER_KIND`` messages of each kind are kept
(up to ``SAMPLE_BYTES`` bytes each) so that an operator can see what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np

__all__ = ["N_KINDS", "SAMPLES_PER_KIND", "SAMPLE_BYTES", "ErrorKind", "Quarantine"]

SAMPLES_PER_KIND = 4
SAMPLE_BYTES = 64

# columns of Quarantine.meta
META_OFFSET = 0  # byte offset of the message in its stream (or -1)
META_LENGTH = 1  # full length of the message (the sample may be shorter)
META_SEQUENCE = 2  # sequence number, if the protocol has one (else -1)
META_KEPT = 3  # bytes of the message kept in the sample


class ErrorKind(IntEnum):
    """Why a message was quarantined or an anomaly counted."""

    TRUNCATED = 0  # the stream ended inside the message
    UNKNOWN_TYPE = 1  # a message type the protocol does not define
    BAD_LENGTH = 2  # a length that is impossible for its type, or a length prefix that lies
    BAD_CHECKSUM = 3  # FIX CheckSum(10), or a transport checksum
    BAD_FIELD = 4  # a field that cannot be parsed (not a number, bad enum value, …)
    BAD_BODY_LENGTH = 5  # FIX BodyLength(9) disagrees with the bytes
    SEQUENCE_GAP = 6  # messages missing between two sequence numbers
    DUPLICATE = 7  # a sequence number already seen
    OUT_OF_ORDER = 8  # a sequence number older than expected (late)
    STALE = 9  # an update older than the current snapshot (depth streams)


N_KINDS = len(ErrorKind)


@dataclass(slots=True)
class Quarantine:
    """Preallocated counts and samples, filled by compiled decoders.

    Attributes
    ----------
    counts
        ``int64[N_KINDS]``: how many messages of each kind were rejected or flagged.
    samples
        ``uint8[N_KINDS, SAMPLES_PER_KIND, SAMPLE_BYTES]``: the first bytes of the first
        messages of each kind.
    meta
        ``int64[N_KINDS, SAMPLES_PER_KIND, 4]``: offset, full length, sequence and bytes
        kept of each sample (see the ``META_*`` columns).
    """

    counts: np.ndarray
    samples: np.ndarray
    meta: np.ndarray

    @classmethod
    def empty(cls) -> Quarantine:
        """A quarantine with nothing in it."""
        return cls(
            np.zeros(N_KINDS, np.int64),
            np.zeros((N_KINDS, SAMPLES_PER_KIND, SAMPLE_BYTES), np.uint8),
            np.full((N_KINDS, SAMPLES_PER_KIND, 4), -1, np.int64),
        )

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(counts, samples, meta)``, in the order compiled code takes them."""
        return self.counts, self.samples, self.meta

    @property
    def total(self) -> int:
        """Messages quarantined or flagged, all kinds together."""
        return int(self.counts.sum())

    def to_dict(self) -> dict[str, Any]:
        """JSON-able report: counts by kind name, and the kept samples as hex."""
        report: dict[str, Any] = {"counts": {}, "samples": {}}
        for kind in ErrorKind:
            count = int(self.counts[kind])
            if count == 0:
                continue
            report["counts"][kind.name.lower()] = count
            kept = []
            for i in range(min(count, SAMPLES_PER_KIND)):
                offset, length, sequence, kept_bytes = (int(v) for v in self.meta[kind, i])
                kept.append(
                    {
                        "offset": offset,
                        "length": length,
                        "sequence": sequence,
                        "hex": self.samples[kind, i, :kept_bytes].tobytes().hex(),
                    }
                )
            report["samples"][kind.name.lower()] = kept
        return report
