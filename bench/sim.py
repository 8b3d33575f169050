"""Market simulator benchmark: compiled order-flow generation + ITCH 5.0 encoding.

``sim_generate`` times :meth:`lowlat.feeds.sim.Simulator.fill` producing the ``normal``
scenario (8 instruments) into one reused 1 MiB buffer — the kernel alone, no file I/O, as
:func:`lowlat.feeds.sim.write_scenario` runs it between writes. The simulator's state is
allocated before timing. Each run then checks a sample: the session header and first
buffer, regenerated from the same config (the output is deterministic), are decoded by
:class:`lowlat.feeds.itch.ItchDecoder`; every quarantined message, every undecoded byte
and every difference from the generated counts by type is an error, and so is writing a
message count other than asked.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.harness import Case, summarize
from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.feeds.itch import LENGTH_PREFIXED, ItchDecoder
from lowlat.feeds.sim import ScenarioConfig, Simulator, scenario

__all__ = ["CASES", "GENERATE", "TARGET_GENERATE"]

GENERATE = "sim_generate"
TARGET_GENERATE = 5e6
BUFFER_BYTES = 1 << 20  # fits in L2: the kernel's writes stay in cache


def _sample_errors(config: ScenarioConfig) -> int:
    """Errors decoding the session header and first buffer of flow of ``config``.

    The generator is deterministic, so a fresh simulator reproduces the timed run's bytes.
    """
    sim = Simulator(config)
    buf = np.zeros(BUFFER_BYTES, np.uint8)
    sample = np.concatenate([np.frombuffer(sim.header(), np.uint8), buf[: sim.fill(buf)]])
    decoder = ItchDecoder(LENGTH_PREFIXED)
    out = np.empty(sample.shape[0] // 21 + 1, MARKET_EVENT_DTYPE)  # shortest message: 21
    pos, _ = decoder.decode(sample, out)
    n = config.instruments
    expected = {**sim.type_counts(), "S": 3, "R": n, "H": n}  # S: O, S and Q
    got = decoder.counts
    errors = decoder.quarantine.total + (sample.shape[0] - pos) + len(set(got) - set(expected))
    return errors + sum(abs(got.get(key, 0) - value) for key, value in expected.items())


def _generate_once(messages: int) -> tuple[float, int, int]:
    """Seconds, messages and errors of generating ``messages`` order-flow messages."""
    sim = Simulator(scenario("normal", seed=1, messages=messages))
    buf = np.zeros(BUFFER_BYTES, np.uint8)  # faulted in before timing
    start = time.perf_counter_ns()
    while not sim.done:
        sim.fill(buf)
    seconds = (time.perf_counter_ns() - start) / 1e9
    written = sum(sim.type_counts().values())
    return seconds, written, _sample_errors(sim.config) + abs(written - messages)


def _warm_up() -> None:
    """Load (or compile) the kernels before timing."""
    sim = Simulator(scenario("normal", messages=1_000))
    sim.fill(np.zeros(BUFFER_BYTES, np.uint8))


def _case_generate(repeats: int, events: int) -> list[dict[str, Any]]:
    _warm_up()
    runs = [_generate_once(events) for _ in range(repeats)]
    return [
        {
            "name": GENERATE,
            "unit": "msg/s",
            "better": "higher",
            **summarize([n / s for s, n, _ in runs]),
            "events": runs[0][1],
            "errors": sum(e for _, _, e in runs),
            "target": TARGET_GENERATE,
            "note": "normal scenario, 8 instruments, one core, into a reused 1 MiB buffer",
        }
    ]


CASES: dict[str, Case] = {
    GENERATE: (_case_generate, 10_000_000, 1_000_000),
}
