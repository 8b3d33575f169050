"""The journal's compiled code: every kernel is nogil, cached and free of the Numba runtime,
and the hot-path publish compiles inside another hot kernel (no allocation anywhere)."""

import numba
import numpy as np
import pytest

from lowlat.core.jit import hot_kernel
from lowlat.journal import (
    Journal,
    JournalReader,
    RecordType,
    crc_kernels,
    frame_kernels,
    kernels,
    scan_kernels,
)
from tests.journal.conftest import small_config

MODULES = [kernels, frame_kernels, scan_kernels, crc_kernels]


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="compile options need the JIT")
@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_kernel_is_nogil_cached_and_compiled_without_the_runtime(module):
    found = [
        (name, obj)
        for name, obj in vars(module).items()
        if isinstance(obj, numba.core.registry.CPUDispatcher)
        and obj.py_func.__module__ == module.__name__
    ]
    assert found
    for name, dispatcher in found:
        assert dispatcher.targetoptions.get("nogil") is True, name
        assert dispatcher.targetoptions.get("_nrt") is False, name


@hot_kernel
def decide_and_journal(header, stamps, slots, orders, count, now):
    """A stand-in for a decision kernel: journals each order it makes."""
    sent = 0
    for i in range(count):
        orders[i, 0] = i + 1
        if kernels.publish(header, stamps, slots, RecordType.ORDER, now + i, orders[i]) >= 0:
            sent += 1
    return sent


def test_publish_runs_inside_another_hot_kernel(directory):
    with Journal(directory, small_config()) as journal:
        orders = np.zeros((5, 8), np.int64)
        assert decide_and_journal(*journal.ring(), orders, 5, 1_000) == 5
    (batch,) = JournalReader(directory)
    assert batch.records(RecordType.ORDER)["client_order_id"].tolist() == [1, 2, 3, 4, 5]
    assert batch.mono_ns.tolist() == [1_000, 1_001, 1_002, 1_003, 1_004]
