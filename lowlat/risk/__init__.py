"""Risk: pre-trade checks, positions and PnL after fills, and the kill switch.

``kernels`` is the compiled engine (hot path): ``check_order`` per order, ``on_ack`` and
``on_fill`` after the venue answers, ``mark`` per price update. :class:`PreTradeRisk` is
the control-plane handle that allocates it and reads positions, PnL and counters;
:class:`KillSwitch` cancels every working order, HALTs the lifecycle and refuses new risk
until an operator re-arms it (``operator_*``: the CLI's and HTTP endpoint's calls).
"""

from lowlat.risk import kernels
from lowlat.risk.config import ACCOUNT_ONLY_LIMITS, LimitOverride, RiskConfig, RiskLimits
from lowlat.risk.killswitch import (
    KillSwitch,
    KillSwitchEvent,
    RearmRefused,
    operator_engage,
    operator_rearm,
    operator_status,
)
from lowlat.risk.layout import RiskState
from lowlat.risk.reasons import RejectReason
from lowlat.risk.risk import (
    AccountPnl,
    KillCause,
    KillFlag,
    Position,
    PreTradeRisk,
    RiskStats,
    WorkingOrder,
)

__all__ = [
    "ACCOUNT_ONLY_LIMITS",
    "AccountPnl",
    "KillCause",
    "KillFlag",
    "KillSwitch",
    "KillSwitchEvent",
    "LimitOverride",
    "Position",
    "PreTradeRisk",
    "RearmRefused",
    "RejectReason",
    "RiskConfig",
    "RiskLimits",
    "RiskState",
    "RiskStats",
    "WorkingOrder",
    "kernels",
    "operator_engage",
    "operator_rearm",
    "operator_status",
]
