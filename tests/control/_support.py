"""Helpers for the control-plane tests: a manual clock and compiled producers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np

from lowlat.control.metrics import MetricsArrays, kernels
from lowlat.core.atomics import load_acquire
from lowlat.core.jit import hot_kernel

MS = 1_000_000
SECOND = 1_000_000_000


class ManualClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start_ns: int = SECOND) -> None:
        self.now = start_ns

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> int:
        self.now += ns
        return self.now


@hot_kernel
def produce(metrics: MetricsArrays, stage: int, values: np.ndarray, counter: int) -> None:
    """A compiled stage: counts and samples every value of ``values`` in order."""
    for i in range(values.shape[0]):
        kernels.count(metrics, counter, 1)
        kernels.sample(metrics, stage, values[i])


@hot_kernel
def produce_until(metrics: MetricsArrays, stage: int, stop: np.ndarray) -> int:
    """A compiled stage sampling 0, 1, 2, … (each value its index) until ``stop[0]`` is set.

    It also counts every sample in the stage's counter; returns how many it wrote.
    """
    i = 0
    while load_acquire(stop, 0) == 0:
        kernels.count(metrics, stage, 1)
        kernels.sample(metrics, stage, i)
        i += 1
    return i


@hot_kernel
def produce_timed(metrics: MetricsArrays, stage: int, counter: int, n: int) -> int:
    """A compiled stage timing itself with ``sample_since``; returns the last timestamp."""
    start = kernels.sample_since(metrics, stage, 0)
    for _ in range(n):
        kernels.count(metrics, counter, 1)
        start = kernels.sample_since(metrics, stage, start)
    return start


def drain_all(metrics, stage: int, cursor: int, out: np.ndarray, breaches: bool = False):
    """One drain: the samples read (a copy), their first index, lost, next cursor."""
    drain = kernels.drain_breaches if breaches else kernels.drain_samples
    offset, count, lost, next_cursor = drain(metrics.arrays, stage, cursor, out)
    samples = out[offset : offset + count].copy()
    return samples, int(next_cursor) - int(count), int(lost), int(next_cursor)


def get(url: str) -> tuple[int, str]:
    """GET ``url``: (status, body text), an HTTP error status included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def post(url: str, body: dict) -> tuple[int, dict]:
    """POST ``body`` as JSON to ``url``: (status, decoded JSON reply), errors included."""
    request = urllib.request.Request(
        url, json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
