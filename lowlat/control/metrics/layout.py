"""Memory of the hot-path metrics: counters, per-stage words, budgets and sample rings.

Everything is allocated once from a :class:`~lowlat.control.config.MetricsConfig` and
passed to the kernels as one ``MetricsArrays`` named tuple. Each counter and each stage
owns a whole 64-byte cache line, so that stages running on different threads — one
writer per counter, one per stage — never write the same line (no false sharing):

==============  ==============================================  ===============
array           words                                           written by
==============  ==============================================  ===============
``counters``    ``counter * LINE``: the counter's value          its one writer
``stages``      ``stage * LINE + W_*``: samples written, breaches  the stage
``budgets``     ``stage``: latency budget, ns (read-only view)   control plane
``samples``     ``stage * samples + (i & (samples - 1))``        the stage
``breaches``    ``stage * breach_samples + (i & (…))``            the stage
==============  ==============================================  ===============

The rings are flat (atomics take 1-d arrays): sample ``i`` of a stage sits at
``i & (capacity - 1)`` in the stage's block. ``W_WRITTEN`` is the write index of the
stage's sample ring: it only grows, and it is stored with release ordering after the
sample it publishes; ``W_BREACHES`` is the same for the breach ring (and so counts
breaches). The sidecar reads both with acquire loads (see ``kernels``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lowlat.control.config import MetricsConfig, StageBudgets
from lowlat.control.stages import N_STAGES

__all__ = ["LINE", "W_BREACHES", "W_WRITTEN", "MetricsArrays", "allocate"]

LINE = 8  # int64 words per cache line

W_WRITTEN = 0  # samples written by the stage: the sample ring's write index
W_BREACHES = 1  # samples over the stage's budget: the breach ring's write index


class MetricsArrays(NamedTuple):
    """Every array of the hot-path metrics; kernels take the tuple as one argument."""

    counters: np.ndarray  # int64[counters * LINE]
    stages: np.ndarray  # int64[N_STAGES * LINE]
    budgets: np.ndarray  # int64[N_STAGES], read-only view: the control plane writes it
    samples: np.ndarray  # int64[N_STAGES * samples]: one ring per stage, one after the other
    breaches: np.ndarray  # int64[N_STAGES * breach_samples]


def _lines(words: int) -> np.ndarray:
    """Zeroed int64 words starting on a 64-byte boundary (so each LINE is one cache line)."""
    raw = np.zeros(words + LINE, np.int64)
    skip = (-raw.ctypes.data % 64) // 8
    return raw[skip : skip + words]


def allocate(config: MetricsConfig, budgets: StageBudgets) -> tuple[MetricsArrays, np.ndarray]:
    """Allocate and zero every array; return them and the writable budget array."""
    writable_budgets = np.array(budgets.as_tuple(), np.int64)
    readonly_budgets = writable_budgets.view()
    readonly_budgets.flags.writeable = False
    arrays = MetricsArrays(
        counters=_lines(len(config.counter_names) * LINE),
        stages=_lines(N_STAGES * LINE),
        budgets=readonly_budgets,
        samples=_lines(N_STAGES * config.samples),
        breaches=_lines(N_STAGES * config.breach_samples),
    )
    return arrays, writable_budgets
