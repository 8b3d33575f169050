"""Microstructure signals per instrument, computed in compiled code after each book update.

Imbalance (touch and N levels), microprice, spread, liquidity migration, aggressor flow
and an EWMA volatility estimate; ``kernels`` holds the compiled pipeline stage,
:class:`MicroSignals` the control-plane handle.
"""

from lowlat.signals.micro import kernels
from lowlat.signals.micro.config import SignalConfig
from lowlat.signals.micro.layout import SIGNAL_FIELDS, SignalState
from lowlat.signals.micro.signals import MicroSignals

__all__ = ["SIGNAL_FIELDS", "MicroSignals", "SignalConfig", "SignalState", "kernels"]
