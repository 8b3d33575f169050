import numba
import numpy as np
import pytest

from lowlat.core.jit import hot_kernel
from lowlat.core.lifecycle import kernels as lifecycle_kernels
from lowlat.core.ring import kernels as ring_kernels

KERNEL_MODULES = [ring_kernels, lifecycle_kernels]
pytestmark = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="compile options need the JIT")


def kernels_defined_in(module):
    return [
        (name, obj)
        for name, obj in vars(module).items()
        if isinstance(obj, numba.core.registry.CPUDispatcher)
        and obj.py_func.__module__ == module.__name__
    ]


@pytest.mark.parametrize("module", KERNEL_MODULES, ids=lambda m: m.__name__)
def test_every_kernel_is_nogil_cached_and_compiled_without_the_runtime(module):
    kernels = kernels_defined_in(module)
    assert kernels, f"no kernels found in {module.__name__}"
    for name, dispatcher in kernels:
        options = dispatcher.targetoptions
        assert options.get("nogil") is True, name
        assert options.get("_nrt") is False, name
        assert isinstance(dispatcher._cache, numba.core.caching.FunctionCache), name


def test_a_hot_kernel_that_allocates_does_not_compile():
    @hot_kernel
    def allocates(n):
        return np.zeros(n).sum()

    with pytest.raises(numba.core.errors.TypingError):
        allocates(4)


def test_a_hot_kernel_without_allocation_compiles_and_runs():
    @hot_kernel
    def total(values):
        acc = 0
        for v in values:
            acc += v
        return acc

    assert total(np.arange(5, dtype=np.int64)) == 10
