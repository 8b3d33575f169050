"""Execution: the decision gate (lifecycle state alone decides), order lifecycle and acks.

``kernels`` holds the compiled gate and lifecycle (hot path); :class:`ExecutionEngine`
the control-plane handle; :class:`OrderState` the states an order moves through.
"""

from lowlat.execution import kernels
from lowlat.execution.config import ExecutionConfig
from lowlat.execution.engine import Decisions, ExecutionEngine
from lowlat.execution.layout import GateReason
from lowlat.execution.states import TERMINAL_STATES, OrderState

__all__ = [
    "TERMINAL_STATES",
    "Decisions",
    "ExecutionConfig",
    "ExecutionEngine",
    "GateReason",
    "OrderState",
    "kernels",
]
