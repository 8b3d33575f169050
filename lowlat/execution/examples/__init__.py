"""EXAMPLE strategies that exercise the execution path (not trading advice).

An imbalance-skewed quoter and a pairs trader driven by pattern events; the builders
return ready :class:`~lowlat.execution.strategy.Strategy` values.
"""

from __future__ import annotations

import numpy as np

from lowlat.execution.examples import kernels
from lowlat.execution.examples.kernels import imbalance_quoter, pairs_trader
from lowlat.execution.strategy import Strategy

__all__ = ["imbalance_quoter_strategy", "kernels", "pairs_trader_strategy"]


def imbalance_quoter_strategy(
    instrument: int,
    *,
    account: int = 1,
    qty: int = 100,
    threshold: float = 0.3,
    skew_ticks: int = 100,
    min_interval_ns: int = 100_000_000,
) -> Strategy:
    """The example quoter on ``instrument`` (prices in ticks of 1/10,000)."""
    params = np.zeros(8, np.float64)
    params[kernels.Q_INSTRUMENT] = instrument
    params[kernels.Q_ACCOUNT] = account
    params[kernels.Q_QTY] = qty
    params[kernels.Q_THRESHOLD] = threshold
    params[kernels.Q_SKEW] = skew_ticks
    params[kernels.Q_MIN_INTERVAL_NS] = min_interval_ns
    return Strategy("imbalance-quoter (example)", imbalance_quoter, params, max_intents=4)


def pairs_trader_strategy(
    pattern: int, *, account: int = 1, qty: int = 100, entry_z: float = 3.0
) -> Strategy:
    """The example pairs trader following pair z-score pattern number ``pattern``."""
    params = np.zeros(8, np.float64)
    params[kernels.R_PATTERN] = pattern
    params[kernels.R_ACCOUNT] = account
    params[kernels.R_QTY] = qty
    params[kernels.R_ENTRY] = entry_z
    return Strategy("pairs-trader (example)", pairs_trader, params, max_intents=8)
