"""User predicates: the decorator that compiles one, and the table an engine resolves them from.

A predicate is called by the kernels through a function pointer, so it must be compiled
for exactly :data:`~lowlat.signals.patterns.kernels.PREDICATE_SIGNATURE` (see
:mod:`~lowlat.signals.patterns.kernels` for the arguments). :func:`predicate` does that::

    @predicate
    def far_apart(prices, times, slots, params, state, trigger, now):
        a, b = prices[slots[0]], prices[slots[1]]
        if a == 0 or b == 0:
            return 0.0
        return float(a - b) if abs(a - b) >= params[0] else 0.0
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from numba import config as numba_config
from numba import njit, typeof
from numba.core.errors import NumbaExperimentalFeatureWarning

from lowlat.signals.patterns.config import PatternConfig, PatternConfigError, PredicatePattern
from lowlat.signals.patterns.kernels import PREDICATE_SIGNATURE, never

__all__ = ["PredicateTable", "predicate"]


# Numba calls the first-class function types that carry the predicates tuple experimental
# and warns at every Python-level call of a kernel taking one; this code relies on them.
warnings.filterwarnings(
    "ignore",
    message="First-class function type feature is experimental",
    category=NumbaExperimentalFeatureWarning,
)


def predicate(fn: Callable[..., float]) -> Callable[..., float]:
    """Compile ``fn`` as a pattern predicate: ``PREDICATE_SIGNATURE``, nogil, no allocation."""
    return njit(PREDICATE_SIGNATURE, nogil=True, _nrt=False)(fn)


def _is_predicate(fn: Any) -> bool:
    """True if Numba passes ``fn`` to the kernels as a function of PREDICATE_SIGNATURE."""
    try:
        return typeof((fn,)) == typeof((never,))
    except ValueError:  # Numba has no type for it at all
        return False


class PredicateTable:
    """The predicates a config's patterns name, registered by name and resolved to a tuple.

    Index 0 of the resolved tuple is :func:`~lowlat.signals.patterns.kernels.never`; the
    names follow in order of first use, so a name's index is known before registration.
    """

    def __init__(self, config: PatternConfig) -> None:
        self._users: dict[str, str] = {}
        for pattern in config.patterns:
            if isinstance(pattern, PredicatePattern):
                self._users.setdefault(pattern.predicate, pattern.name)
        self.index = {name: i + 1 for i, name in enumerate(self._users)}
        self._functions: dict[str, Any] = {}

    def register(self, name: str, fn: Any) -> None:
        """Make ``fn`` the predicate called ``name``.

        Raises
        ------
        TypeError
            If ``fn`` is not compiled for ``PREDICATE_SIGNATURE`` (or, with
            ``NUMBA_DISABLE_JIT=1``, not callable).
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"predicate name must be a non-empty string, got {name!r}")
        if numba_config.DISABLE_JIT:
            if not callable(fn):
                raise TypeError(f"predicate {name!r} must be callable, got {fn!r}")
        elif not _is_predicate(fn):
            raise TypeError(
                f"predicate {name!r} must be compiled for PREDICATE_SIGNATURE only: decorate "
                "it with lowlat.signals.patterns.predicate "
                "(or numba.njit(PREDICATE_SIGNATURE, nogil=True))"
            )
        self._functions[name] = fn

    def update(self, functions: Mapping[str, Any]) -> None:
        """Register every ``name: fn`` of ``functions``."""
        for name, fn in functions.items():
            self.register(name, fn)

    def placeholder(self) -> tuple[Any, ...]:
        """A tuple of the resolved one's type, all ``never``: to compile before registration."""
        return (never,) * (1 + len(self._users))

    def resolve(self) -> tuple[Any, ...]:
        """The tuple the kernels take: ``never`` then each used predicate.

        Raises
        ------
        PatternConfigError
            Naming the first pattern whose predicate was not registered.
        """
        for name, user in self._users.items():
            if name not in self._functions:
                raise PatternConfigError(
                    f"pattern {user!r}: predicate {name!r} is not registered; "
                    "call register_predicate first"
                )
        return (never, *(self._functions[name] for name in self._users))
