"""Tests of the FIX 4.4 market-data decoder; shared helpers below."""

from __future__ import annotations

import numpy as np
from numba import config

from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.feeds.fix import FixDecoder

INTERPRETED = bool(config.DISABLE_JIT)


def decode_all(
    data: bytes, chunk: int | None = None, decoder: FixDecoder | None = None
) -> tuple[np.ndarray, FixDecoder]:
    """Every record of ``data`` (fed in ``chunk``-byte pieces) and the decoder used."""
    decoder = decoder or FixDecoder()
    step = chunk or max(len(data), 1)
    batches = []
    for start in range(0, len(data), step):
        batches.extend(decoder.feed(data[start : start + step]))
    batches.extend(decoder.finish())
    records = np.concatenate(batches) if batches else np.zeros(0, MARKET_EVENT_DTYPE)
    return records, decoder


def accounted(decoder: FixDecoder) -> bool:
    """Whether every byte fed is parsed, skipped or quarantined (nothing left over)."""
    r = decoder.report()
    return (
        r["bytes_parsed"] + r["bytes_skipped"] + r["bytes_quarantined"] == r["bytes"]
        and r["bytes_left"] == 0
    )
