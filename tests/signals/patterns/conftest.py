"""Fixtures of the pattern tests."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from numba.core.errors import NumbaExperimentalFeatureWarning


@pytest.fixture(autouse=True)
def _quiet_first_class_functions() -> Iterator[None]:
    """Keep the filter ``lowlat.signals.patterns.predicates`` installs at import.

    pytest resets the warning filters around each test, dropping the one the package
    installed while the tests were collected; group threads warn on their first call.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="First-class function type feature is experimental",
            category=NumbaExperimentalFeatureWarning,
        )
        yield
