"""``ExecutionEngine``: the control-plane handle on the decision gate and order table.

Control code. It allocates the arrays once, runs the compiled gate over intents and the
order lifecycle over venue reports, and reads orders, counters and latency back out. A
compiled pipeline calls :mod:`lowlat.execution.kernels` on :attr:`ExecutionEngine.state`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lowlat.core.clock import monotonic_ns
from lowlat.core.lifecycle import Lifecycle
from lowlat.core.records import ACK_DTYPE, ORDER_DTYPE
from lowlat.execution import kernels
from lowlat.execution.config import ExecutionConfig
from lowlat.execution.layout import (
    C_DECISION_SAMPLES,
    C_ENGINE_SAMPLES,
    C_EXECUTION_SAMPLES,
    COUNTER_FIELDS,
    O_ID,
    O_STATE,
    ORDER_FIELDS,
    ExecState,
    allocate,
)
from lowlat.execution.states import OrderState

__all__ = ["Decisions", "ExecutionEngine"]

_WORKING = (
    OrderState.PENDING_NEW,
    OrderState.ACKED,
    OrderState.PARTIAL,
    OrderState.PENDING_CANCEL,
    OrderState.PENDING_REPLACE,
)


@dataclass(frozen=True)
class Decisions:
    """What one call of :meth:`ExecutionEngine.decide` produced."""

    orders: np.ndarray  # ORDER_DTYPE: to send to the venue
    acks: np.ndarray  # ACK_DTYPE: provisional and refused decisions, acknowledged now


class ExecutionEngine:
    """Decision gate and order lifecycle over preallocated memory.

    Parameters
    ----------
    config
        Table and sample-ring sizes; the defaults of :class:`ExecutionConfig` when None.
    lifecycle
        The lifecycle whose state alone gates execution; a new one (INIT) when None.
    """

    def __init__(
        self, config: ExecutionConfig | None = None, lifecycle: Lifecycle | None = None
    ) -> None:
        self.config = config or ExecutionConfig()
        self.lifecycle = lifecycle or Lifecycle()
        self.state: ExecState = allocate(self.config)

    def decide(
        self,
        intents: np.ndarray,
        reasons: np.ndarray | None = None,
        *,
        trigger_seq: int = 0,
        trigger_recv_ns: int = 0,
        now_ns: int | None = None,
    ) -> Decisions:
        """Run the gate over ``intents`` (``ORDER_DTYPE``) triggered by one market event.

        ``reasons`` holds a risk or breaker refusal code per intent (0 = passed).
        """
        if intents.dtype != ORDER_DTYPE:
            raise TypeError(f"expected ORDER_DTYPE intents, got dtype {intents.dtype}")
        n = len(intents)
        if reasons is None:
            reasons = np.zeros(n, np.int64)
        elif len(reasons) != n:
            raise ValueError(f"{len(reasons)} reasons for {n} intents")
        outbound = np.zeros(n, ORDER_DTYPE)
        acks = np.zeros(n, ACK_DTYPE)
        sent, acked = kernels.submit_all(
            self.state,
            self.lifecycle.reader,
            intents,
            n,
            np.asarray(reasons, np.int64),
            trigger_seq,
            trigger_recv_ns,
            monotonic_ns() if now_ns is None else now_ns,
            outbound,
            acks,
        )
        return Decisions(outbound[:sent], acks[:acked])

    def on_reports(self, reports: np.ndarray, now_ns: int | None = None) -> np.ndarray:
        """Apply venue reports (``ACK_DTYPE``); return the acks of the orders they moved."""
        if reports.dtype != ACK_DTYPE:
            raise TypeError(f"expected ACK_DTYPE reports, got dtype {reports.dtype}")
        acks = np.zeros(len(reports), ACK_DTYPE)
        count = kernels.on_reports(
            self.state,
            reports,
            len(reports),
            monotonic_ns() if now_ns is None else now_ns,
            acks,
            0,
        )
        return acks[:count]

    def order(self, client_order_id: int) -> dict[str, int] | None:
        """The table row of ``client_order_id`` by field name, or None if not held."""
        entry = client_order_id & (self.config.orders - 1)
        row = self.state.orders[entry]
        if row[O_ID] != client_order_id or row[O_STATE] == OrderState.FREE:
            return None
        return {name: int(row[i]) for i, name in enumerate(ORDER_FIELDS)}

    def working_orders(self) -> list[int]:
        """Client order ids of every order sent and not yet finished (for the kill switch)."""
        states = self.state.orders[:, O_STATE]
        return sorted(int(i) for i in self.state.orders[np.isin(states, _WORKING), O_ID])

    def counters(self) -> dict[str, int]:
        """Every counter by name: decisions, sends, refusals and report anomalies."""
        values = self.state.counters[: len(COUNTER_FIELDS)]
        return {name: int(v) for name, v in zip(COUNTER_FIELDS, values, strict=True)}

    def latency(self) -> dict[str, np.ndarray]:
        """The latency samples still held, per segment (ns).

        ``decision``: trigger received → decision (ours, the feed ring's wait included);
        ``engine``: the engine's last mark before the decision (its block taken off the
        ring, its previous decision, or the block's previous round done) → decision: ours
        without the waits in the ring and behind earlier records; ``execution``: order
        sent → the venue's first report (theirs).
        """
        out = {}
        for name, ring, word in (
            ("decision", self.state.decision_latency, C_DECISION_SAMPLES),
            ("engine", self.state.engine_latency, C_ENGINE_SAMPLES),
            ("execution", self.state.execution_latency, C_EXECUTION_SAMPLES),
        ):
            held = min(int(self.state.counters[word]), len(ring))
            out[name] = ring[:held].copy()
        return out
