"""``Metrics``: the control-plane handle on the hot path's counters and sample rings.

Control code. It allocates the arrays once and reads them back with acquire loads while
the stages run; the only words it writes are the stage budgets (config slots), each with
one release store. Hot-path stages call :mod:`lowlat.control.metrics.kernels` on
:attr:`Metrics.arrays` directly.
"""

from __future__ import annotations

import numpy as np

from lowlat.control.config import MetricsConfig, StageBudgets
from lowlat.control.metrics import kernels
from lowlat.control.metrics.layout import LINE, W_BREACHES, W_WRITTEN, MetricsArrays, allocate
from lowlat.control.stages import Stage
from lowlat.core.atomics import load_acquire, store_release

__all__ = ["Metrics"]


class Metrics:
    """Per-stage latency-sample rings with budgets, and named hot-path counters.

    Parameters
    ----------
    config
        Ring sizes and extra counter names; the defaults of :class:`MetricsConfig` if None.
    budgets
        Initial latency budget per stage; the defaults of :class:`StageBudgets` if None.

    Examples
    --------
    >>> metrics = Metrics()
    >>> kernels.sample(metrics.arrays, Stage.DECODE, 850)  # what a compiled stage calls
    >>> metrics.samples_written(Stage.DECODE)
    1
    """

    def __init__(
        self, config: MetricsConfig | None = None, budgets: StageBudgets | None = None
    ) -> None:
        self.config = config or MetricsConfig()
        self.arrays: MetricsArrays
        self.arrays, self._budgets = allocate(self.config, budgets or StageBudgets())
        self.counter_names: tuple[str, ...] = self.config.counter_names
        """Counter names by index: one per stage (its label), then the configured ones."""
        self._index = {name: i for i, name in enumerate(self.counter_names)}

    def counter(self, name: str) -> int:
        """Index of counter ``name``, for ``kernels.count``."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"unknown counter {name!r}; known: {list(self.counter_names)}") from None

    def counters(self) -> dict[str, int]:
        """Every counter's value by name."""
        words = self.arrays.counters
        return {name: load_acquire(words, i * LINE) for i, name in enumerate(self.counter_names)}

    def samples_written(self, stage: Stage | str | int) -> int:
        """Samples ``stage`` has recorded (read or not, lost or not)."""
        return load_acquire(self.arrays.stages, Stage.parse(stage) * LINE + W_WRITTEN)

    def breaches(self, stage: Stage | str | int) -> int:
        """Samples of ``stage`` above its budget."""
        return load_acquire(self.arrays.stages, Stage.parse(stage) * LINE + W_BREACHES)

    def recent_breaches(self, stage: Stage | str | int) -> np.ndarray:
        """The newest over-budget samples of ``stage`` still in its breach ring, oldest first."""
        out = np.zeros(self.config.breach_samples, np.int64)
        offset, count, _, _ = kernels.drain_breaches(self.arrays, int(Stage.parse(stage)), 0, out)
        return out[offset : offset + count]

    def total_breaches(self) -> int:
        """Budget breaches of every stage together (the system breaker's input)."""
        return sum(self.breaches(stage) for stage in Stage)

    def budget(self, stage: Stage | str | int) -> int:
        """Current latency budget of ``stage``, ns."""
        return load_acquire(self._budgets, Stage.parse(stage))

    def set_budget(self, stage: Stage | str | int, budget_ns: int) -> None:
        """Change the budget of ``stage``; the next sample it records is judged by it."""
        if isinstance(budget_ns, bool) or not isinstance(budget_ns, int) or budget_ns < 1:
            raise ValueError(f"a budget must be a positive number of ns, got {budget_ns!r}")
        store_release(self._budgets, Stage.parse(stage), budget_ns)
