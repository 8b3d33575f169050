"""Control code of the simulator: allocate the state once, then stream the session in chunks.

:class:`Simulator` turns a :class:`~lowlat.feeds.sim.config.ScenarioConfig` into the arrays
the compiled generator (:mod:`.kernels`) works on, and hands out the session as bytes:
:meth:`Simulator.header` (system events, one stock directory and one trading action per
instrument), then :meth:`Simulator.fill` as many times as needed (order flow, written by the
kernel into the caller's buffer), then :meth:`Simulator.trailer` (end-of-session system
events). :func:`write_scenario` and :func:`write_config` stream that to a file, one buffer
at a time, so a file of any size never sits in memory.

Seeding: the kernel's xoshiro128+ state is four 32-bit words from SplitMix64 of ``seed``;
the initial mids come from NumPy's ``default_rng(seed)``. Nothing else is random.
"""

from __future__ import annotations

import contextlib
import gzip as gzip_module
import itertools
import math
import os
import struct
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np

from lowlat.core.records import PRICE_SCALE
from lowlat.feeds.sim import kernels as k
from lowlat.feeds.sim.config import ScenarioConfig
from lowlat.feeds.sim.scenarios import scenario

__all__ = ["DEFAULT_CHUNK_BYTES", "OPEN_NS", "Simulator", "write_config", "write_scenario"]

OPEN_NS = 34_200 * 10**9  # 09:30:00, ns since midnight: the session's first flow message
DEFAULT_CHUNK_BYTES = 4 << 20
_MPID = b"SIMX"  # attribution of F messages
_HEAD = struct.Struct(">HcHH6s")  # prefix, type, locate, tracking, timestamp
_M64 = (1 << 64) - 1


def _splitmix64(seed: int, count: int) -> list[int]:
    """``count`` 64-bit outputs of SplitMix64 started at ``seed`` (to seed xoshiro)."""
    out, x = [], seed & _M64
    for _ in range(count):
        x = (x + 0x9E3779B97F4A7C15) & _M64
        z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        out.append(z ^ (z >> 31))
    return out


def _message(letter: str, locate: int, ts: int, body: bytes) -> bytes:
    """One length-prefixed ITCH message with the standard header (tracking number 0)."""
    return _HEAD.pack(11 + len(body), letter.encode(), locate, 0, ts.to_bytes(6, "big")) + body


def _system_event(ts: int, code: str) -> bytes:
    return _message("S", 0, ts, code.encode())


class Simulator:
    """The state of one simulated session, allocated once from its config.

    Parameters
    ----------
    config
        What to generate.

    Attributes
    ----------
    config
        The config.
    symbols
        ``uint8[n, 8]``: space-padded symbol of each instrument (locate = index + 1).
    sector_of
        ``int64[n]``: sector of each instrument.
    mid
        ``float64[n]``: current mid of each instrument in ticks (for inspection).
    counts
        ``int64[256]``: order-flow messages written, by type byte.
    """

    def __init__(self, config: ScenarioConfig) -> None:
        self.config = c = config
        n = c.instruments
        self.symbols = np.frombuffer(
            b"".join(f"SIM{i + 1:04d}".ljust(8).encode() for i in range(n)), np.uint8
        ).reshape(n, 8)
        self.sector_of = np.arange(n, dtype=np.int64) % c.sectors
        self.mpid = np.frombuffer(_MPID, np.uint8).copy()
        step_s = c.step_ms / 1000.0
        self.fp = np.zeros(k.N_FPARAM)
        self.fp[k.FP_SIGMA] = c.volatility * math.sqrt(step_s)
        self.fp[k.FP_W_MARKET] = math.sqrt(c.market_weight)
        self.fp[k.FP_W_SECTOR] = math.sqrt(c.sector_weight)
        self.fp[k.FP_W_IDIO] = math.sqrt(max(0.0, 1.0 - c.market_weight - c.sector_weight))
        self.fp[k.FP_BASE_RATE] = c.messages / max(self._rate_integral_ns(), 1.0)
        self.fp[k.FP_STEP_NS] = step_s * 1e9
        self.fp[k.FP_STEP_S] = step_s
        self.fp[k.FP_MEAN_LEVEL] = c.mean_level
        m = c.mix
        self.fp[k.FP_P_ADD : k.FP_P_REPLACE + 1] = np.cumsum(
            [m.add, m.execute, m.cancel, m.delete, m.replace]
        )
        self.fp[k.FP_P_ATTR] = m.attributed
        self.ip = np.zeros(k.N_IPARAM, np.int64)
        self.ip[[k.IP_TICK, k.IP_LOT, k.IP_MAX_LOTS, k.IP_MIN_LIVE]] = (
            c.tick, c.lot, c.max_lots, c.min_live,
        )  # fmt: skip
        self.regimes = np.array(
            [
                (OPEN_NS + r.start_s * 1e9, OPEN_NS + r.end_s * 1e9, r.sector, r.rate_mult,
                 r.vol_mult, r.drift_per_s)
                for r in c.regimes
            ],
            dtype=np.float64,
        ).reshape(len(c.regimes), 6)  # fmt: skip
        self.ist = np.zeros(k.N_ISTATE, np.int64)
        self.ist[k.IS_TARGET] = c.messages
        self.ist[k.IS_NEXT_REF] = 1
        self.ist[k.IS_LAST_TS] = OPEN_NS
        words = [part & 0xFFFFFFFF for x in _splitmix64(c.seed, 2) for part in (x, x >> 32)]
        self.ist[k.IS_RNG : k.IS_RNG + 4] = words
        self.fst = np.zeros(k.N_FSTATE)
        self.fst[k.FS_T] = OPEN_NS
        self.fst[k.FS_NEXT_STEP] = OPEN_NS + self.fp[k.FP_STEP_NS]
        prices = np.random.default_rng(c.seed).uniform(c.price_min, c.price_max, n)
        self.logmid = np.log(prices * PRICE_SCALE)
        self.mid = np.exp(self.logmid)
        self.sector_z = np.zeros(c.sectors)
        self.volm = np.ones(n)
        self.drift = np.zeros(n)
        self.cumw = np.zeros(n)
        self.dirty = np.zeros(n, np.int64)
        self.pref = np.zeros((n, c.pool), np.int64)
        self.pside = np.zeros((n, c.pool), np.int64)
        self.pprice = np.zeros((n, c.pool), np.int64)
        self.pqty = np.zeros((n, c.pool), np.int64)
        self.live = np.zeros(n, np.int64)
        self.nside = np.zeros((n, 3), np.int64)  # by side: unused, BUY, SELL
        self.counts = np.zeros(256, np.int64)
        k.apply_regimes(
            float(OPEN_NS), self.fst, self.fp, self.regimes, self.sector_of,
            self.volm, self.drift, self.cumw,
        )  # fmt: skip

    def _rate_integral_ns(self) -> float:
        """∫ Σ_i rate multiplier of instrument i over the session, in ns (exact, piecewise)."""
        c = self.config
        edges = sorted(
            {0.0, c.duration_s}
            | {min(max(t, 0.0), c.duration_s) for r in c.regimes for t in (r.start_s, r.end_s)}
        )
        total = 0.0
        for lo, hi in itertools.pairwise(edges):
            rate = np.ones(c.instruments)
            mid_s = (lo + hi) / 2
            for r in c.regimes:
                if r.start_s <= mid_s < r.end_s:
                    rate[(self.sector_of == r.sector) | (r.sector < 0)] *= r.rate_mult
            total += float(rate.sum()) * (hi - lo) * 1e9
        return total

    @property
    def done(self) -> bool:
        """Whether every order-flow message has been written."""
        return bool(self.ist[k.IS_WRITTEN] >= self.ist[k.IS_TARGET])

    def header(self) -> bytes:
        """Start of messages and system hours, a directory and trading action per stock."""
        parts = [_system_event(OPEN_NS - 30 * 10**9, "O"), _system_event(OPEN_NS - 20 * 10**9, "S")]
        lot = self.config.lot
        for i in range(self.config.instruments):
            body = (
                self.symbols[i].tobytes()
                + b"QN"
                + lot.to_bytes(4, "big")
                + b"NCZ PN 1N"
                + bytes(4)
                + b"N"
            )
            parts.append(_message("R", i + 1, OPEN_NS - 10 * 10**9 + i, body))
        for i in range(self.config.instruments):
            body = self.symbols[i].tobytes() + b"T " + b"    "
            parts.append(_message("H", i + 1, OPEN_NS - 5 * 10**9 + i, body))
        parts.append(_system_event(OPEN_NS, "Q"))
        return b"".join(parts)

    def fill(self, buf: np.ndarray) -> int:
        """Write order flow into ``buf`` (``uint8``, at least 46 bytes); return bytes used.

        Returns 0 once :attr:`done`.
        """
        return k.generate(
            buf, 0, self.ist, self.fst, self.fp, self.ip, self.regimes, self.sector_of,
            self.symbols, self.mpid, self.sector_z, self.volm, self.drift, self.cumw,
            self.logmid, self.mid, self.dirty, self.pref, self.pside, self.pprice,
            self.pqty, self.live, self.nside, self.counts,
        )  # fmt: skip

    def trailer(self) -> bytes:
        """End of market hours, end of system hours, end of messages (after the flow).

        The end of messages is stamped :attr:`end_ns`.
        """
        return b"".join(_system_event(self.end_ns - 2 + j, code) for j, code in enumerate("MEC"))

    @property
    def end_ns(self) -> int:
        """Timestamp of the last message: the session close, or later if the flow ran on."""
        close = OPEN_NS + round(self.config.duration_s * 1e9)
        return max(int(self.ist[k.IS_LAST_TS]) + 1, close) + 2

    def type_counts(self) -> dict[str, int]:
        """Order-flow messages written so far, by type letter."""
        return {chr(b): int(n) for b, n in enumerate(self.counts) if n}


def write_config(
    config: ScenarioConfig,
    path: str | os.PathLike[str],
    *,
    gzip: bool = False,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> dict[str, Any]:
    """Generate ``config``'s session into a length-prefixed ITCH 5.0 file, chunk by chunk.

    Parameters
    ----------
    config
        The session.
    path
        Output file (overwritten).
    gzip
        Compress with gzip (no name, timestamp 0: equal configs give equal files).
    chunk_bytes
        Size of the one reused buffer the kernel fills.

    Returns
    -------
    dict
        ``scenario``, ``seed``, ``instruments``, ``messages`` (all, header and trailer
        included), ``flow_messages``, ``counts`` (by type letter), ``bytes`` (the ITCH
        stream), ``file_bytes`` (on disk), ``gzip``, ``start_ns`` and ``end_ns`` (first and
        last timestamp).
    """
    if chunk_bytes < k.MAX_FLOW_BYTES:
        raise ValueError(f"chunk_bytes must be at least {k.MAX_FLOW_BYTES}")
    sim = Simulator(config)
    buf = np.empty(chunk_bytes, np.uint8)
    head = sim.header()
    size = len(head)
    with _open(path, gzip) as out:
        out.write(head)
        while not sim.done:
            used = sim.fill(buf)
            out.write(buf[:used].data)
            size += used
        tail = sim.trailer()
        out.write(tail)
        size += len(tail)
    counts = sim.type_counts()
    n = config.instruments
    counts["S"] = 6
    counts["R"] = counts["H"] = n
    return {
        "scenario": config.name,
        "seed": config.seed,
        "instruments": n,
        "messages": sum(counts.values()),
        "flow_messages": config.messages,
        "counts": dict(sorted(counts.items())),
        "bytes": size,
        "file_bytes": os.path.getsize(path),
        "gzip": gzip,
        "start_ns": OPEN_NS - 30 * 10**9,
        "end_ns": sim.end_ns,
    }


@contextlib.contextmanager
def _open(path: str | os.PathLike[str], compress: bool) -> Iterator[BinaryIO]:
    """The output file, gzip-wrapped without name or time in its header when asked."""
    with open(path, "wb") as raw:
        if not compress:
            yield raw
            return
        with gzip_module.GzipFile(
            filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0
        ) as packed:
            yield packed  # type: ignore[misc]


def write_scenario(
    name: str,
    path: str | os.PathLike[str],
    *,
    seed: int = 1,
    instruments: int = 8,
    messages: int = 1_000_000,
    gzip: bool = False,
) -> dict[str, Any]:
    """Write the named scenario (see :data:`~lowlat.feeds.sim.scenarios.SCENARIOS`) to ``path``.

    Returns the summary of :func:`write_config`. Raises ``KeyError`` for an unknown name.
    """
    config = scenario(name, seed=seed, instruments=instruments, messages=messages)
    return write_config(config, path, gzip=gzip)
