"""Deterministic market simulator: seeded multi-instrument order flow as ITCH 5.0 files.

``config`` holds the frozen scenario and regime dataclasses, ``scenarios`` the named
scenarios (normal, flash-crash, news-spike, open-close, correlated), ``kernels`` the
compiled generator and encoder, and ``writer`` the control code that streams a session to
a file in chunks.
"""

from lowlat.feeds.sim import kernels
from lowlat.feeds.sim.config import OrderMix, Regime, ScenarioConfig
from lowlat.feeds.sim.scenarios import SCENARIOS, scenario
from lowlat.feeds.sim.writer import Simulator, write_config, write_scenario

__all__ = [
    "SCENARIOS",
    "OrderMix",
    "Regime",
    "ScenarioConfig",
    "Simulator",
    "kernels",
    "scenario",
    "write_config",
    "write_scenario",
]
