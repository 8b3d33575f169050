"""Simulated exchange: price-time matching, latency and fault models, gateways.

``kernels`` is the compiled matching engine (hot path); :class:`MatchingEngine` the
control-plane handle that allocates it and reads books and counters back;
:class:`ReferenceVenue` a plain-Python engine with the same rules, for tests and
baselines; :class:`InProcessGateway` and :class:`TcpGatewayServer` /
:class:`TcpGatewayClient` put the latency and fault models between a client and the
engine; ``script`` drives an engine from a text script (``lowlat venue script``).
"""

from lowlat.venue import kernels
from lowlat.venue.config import FaultModel, LatencyModel, VenueConfig
from lowlat.venue.engine import BookView, MatchingEngine, WorkingOrder, order_record
from lowlat.venue.gateway import (
    AckSequence,
    GatewayDisconnected,
    InProcessGateway,
    ProtocolError,
    Replies,
    TcpGatewayClient,
    TcpGatewayServer,
)
from lowlat.venue.records import (
    ACTION_REDUCE,
    EXEC_REPORT_DTYPE,
    MAX_QTY,
    Liquidity,
    Reason,
    StpMode,
)
from lowlat.venue.reference import ReferenceVenue

__all__ = [
    "ACTION_REDUCE",
    "EXEC_REPORT_DTYPE",
    "MAX_QTY",
    "AckSequence",
    "BookView",
    "FaultModel",
    "GatewayDisconnected",
    "InProcessGateway",
    "LatencyModel",
    "Liquidity",
    "MatchingEngine",
    "ProtocolError",
    "Reason",
    "ReferenceVenue",
    "Replies",
    "StpMode",
    "TcpGatewayClient",
    "TcpGatewayServer",
    "VenueConfig",
    "WorkingOrder",
    "kernels",
    "order_record",
]
