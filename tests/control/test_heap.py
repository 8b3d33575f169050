"""Freezing the heap once warm: what is alive then is never traversed, later garbage is."""

from __future__ import annotations

import gc
import weakref

from lowlat.control.heap import freeze_heap, thaw_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref:
    """A two-node reference cycle only the cyclic collector can free; a weak ref to it."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_objects_alive_at_the_freeze_are_left_alone_until_thawed() -> None:
    frozen_cycle = _cycle()  # garbage already, but collected only by a cyclic pass
    gc.disable()  # no automatic pass between here and the freeze's own collection
    try:
        count = freeze_heap()
        assert count == gc.get_freeze_count() > 0
        assert frozen_cycle() is None  # the freeze collects first: garbage is not frozen
        kept = _cycle()
        gc.collect()
        assert kept() is None  # made after the freeze: collected as usual
        survivor = [_Node()]
        gc.collect()
        gc.freeze()  # the survivor joins the permanent generation
        anchor = weakref.ref(survivor[0])
        survivor[0].other = survivor[0]  # now a cycle reachable only from a frozen list
        del survivor
        gc.collect()
        assert anchor() is not None  # frozen: no collection visits it
    finally:
        thaw_heap()
        gc.enable()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert anchor() is None  # thawed: ordinary garbage again
