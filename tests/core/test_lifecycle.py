import contextlib
import itertools

import numba
import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lowlat.core.lifecycle import (
    LEGAL_TRANSITIONS,
    ExecutionMode,
    IllegalTransition,
    Lifecycle,
    LifecycleState,
    execution_mode_of,
    kernels,
)

S = LifecycleState

EXPECTED_LEGAL = {
    (S.INIT, S.WARMUP),
    (S.INIT, S.HALTED),
    (S.INIT, S.STOPPED),
    (S.WARMUP, S.READY),
    (S.WARMUP, S.HALTED),
    (S.WARMUP, S.STOPPED),
    (S.READY, S.DEGRADED),
    (S.READY, S.HALTED),
    (S.READY, S.STOPPED),
    (S.DEGRADED, S.READY),
    (S.DEGRADED, S.HALTED),
    (S.DEGRADED, S.STOPPED),
    (S.HALTED, S.WARMUP),
    (S.HALTED, S.READY),
    (S.HALTED, S.STOPPED),
}

# A shortest legal route from INIT to each state, used to reach any source state.
ROUTE = {
    S.INIT: [],
    S.WARMUP: [S.WARMUP],
    S.READY: [S.WARMUP, S.READY],
    S.DEGRADED: [S.WARMUP, S.READY, S.DEGRADED],
    S.HALTED: [S.HALTED],
    S.STOPPED: [S.STOPPED],
}


def lifecycle_in(state: LifecycleState) -> Lifecycle:
    lifecycle = Lifecycle()
    for step in ROUTE[state]:
        lifecycle.transition(step, f"route to {state.name}")
    assert lifecycle.state is state
    return lifecycle


def test_transition_table_is_exactly_the_documented_one():
    assert set(LEGAL_TRANSITIONS) == EXPECTED_LEGAL


@pytest.mark.parametrize(("source", "target"), list(itertools.product(S, S)), ids=lambda s: s.name)
def test_every_pair_is_allowed_or_refused_per_the_table(source, target):
    lifecycle = lifecycle_in(source)
    history_before = list(lifecycle.history)
    approval = "operator-1" if source is S.HALTED else None
    if (source, target) in EXPECTED_LEGAL:
        entry = lifecycle.transition(target, "test", approved_by=approval)
        assert lifecycle.state is target
        assert (entry.source, entry.target) == (source, target)
        assert lifecycle.history[-1] == entry
    else:
        with pytest.raises(IllegalTransition, match=f"{source.name} → {target.name}"):
            lifecycle.transition(target, "test", approved_by=approval)
        assert lifecycle.state is source
        assert lifecycle.history == history_before


def test_illegal_transition_message_lists_what_is_allowed():
    lifecycle = lifecycle_in(S.READY)
    with pytest.raises(IllegalTransition, match="allowed: DEGRADED, HALTED, STOPPED"):
        lifecycle.transition(S.WARMUP, "again")


def test_stopped_is_terminal():
    lifecycle = lifecycle_in(S.STOPPED)
    for target in S:
        assert not lifecycle.can(target)
    with pytest.raises(IllegalTransition, match="none \\(terminal\\)"):
        lifecycle.transition(S.READY, "revive")


def test_leaving_halted_needs_operator_approval():
    lifecycle = lifecycle_in(S.HALTED)
    with pytest.raises(IllegalTransition, match="operator approval"):
        lifecycle.transition(S.READY, "re-arm")
    with pytest.raises(IllegalTransition, match="operator approval"):
        lifecycle.transition(S.READY, "re-arm", approved_by="  ")
    assert lifecycle.state is S.HALTED
    entry = lifecycle.transition(S.READY, "re-arm after review", approved_by="alice")
    assert entry.approved_by == "alice"


def test_stopping_from_halted_needs_no_approval():
    lifecycle = lifecycle_in(S.HALTED)
    lifecycle.transition(S.STOPPED, "shutdown")
    assert lifecycle.state is S.STOPPED


def test_transition_needs_a_reason():
    lifecycle = Lifecycle()
    with pytest.raises(IllegalTransition, match="needs a reason"):
        lifecycle.transition(S.WARMUP, " ")
    assert lifecycle.state is S.INIT


def test_states_may_be_named_by_string_and_unknown_names_are_refused():
    lifecycle = Lifecycle()
    lifecycle.transition("warmup", "boot")
    assert lifecycle.state is S.WARMUP
    with pytest.raises(IllegalTransition, match="unknown lifecycle state 'sideways'"):
        lifecycle.transition("sideways", "x")


def test_history_has_monotonic_timestamps_and_reasons():
    ticks = iter(range(100, 10_000, 100))
    lifecycle = Lifecycle(clock=lambda: next(ticks))
    lifecycle.transition(S.WARMUP, "boot")
    lifecycle.transition(S.READY, "latency stable")
    lifecycle.transition(S.DEGRADED, "venue slow")
    lifecycle.transition(S.READY, "venue recovered")
    stamps = [t.monotonic_ns for t in lifecycle.history]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert [t.reason for t in lifecycle.history[1:]] == [
        "boot",
        "latency stable",
        "venue slow",
        "venue recovered",
    ]


def test_default_clock_is_monotonic_ns():
    lifecycle = Lifecycle()
    lifecycle.transition(S.WARMUP, "boot")
    first, second = lifecycle.history
    assert 0 < first.monotonic_ns <= second.monotonic_ns


def test_cell_must_be_a_writable_int64_scalar_array():
    with pytest.raises(ValueError, match="writable int64"):
        Lifecycle(np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="writable int64"):
        Lifecycle(np.zeros(1, np.int32))


def test_hot_path_reads_the_state_from_the_shared_cell():
    cell = np.zeros(1, np.int64)
    lifecycle = Lifecycle(cell)
    assert kernels.read_state(lifecycle.reader) == S.INIT
    lifecycle.transition(S.WARMUP, "boot")
    lifecycle.transition(S.READY, "stable")
    assert kernels.read_state(lifecycle.reader) == S.READY
    assert cell[0] == S.READY


@pytest.mark.parametrize("state", list(S), ids=lambda s: s.name)
def test_compiled_gate_agrees_with_the_control_side_mode(state):
    lifecycle = lifecycle_in(state)
    assert kernels.execution_mode(lifecycle.reader) == execution_mode_of(state)


def test_only_ready_executes_and_degraded_is_provisional():
    assert execution_mode_of(S.READY) is ExecutionMode.EXECUTE
    assert execution_mode_of(S.DEGRADED) is ExecutionMode.PROVISIONAL
    assert execution_mode_of(S.HALTED) is ExecutionMode.REFUSE


def test_reader_view_is_read_only():
    lifecycle = Lifecycle()
    with pytest.raises(ValueError, match="read-only"):
        lifecycle.reader[0] = S.READY


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="compile-time check needs the JIT")
def test_compiled_code_cannot_write_the_readers_cell():
    @numba.njit
    def overwrite(cell):
        cell[0] = 2

    with pytest.raises(numba.core.errors.TypingError):
        overwrite(Lifecycle().reader)


class LifecycleMachine(RuleBasedStateMachine):
    """Random walks through the table: the controller agrees with the table at every step."""

    def __init__(self):
        super().__init__()
        self.lifecycle = Lifecycle()
        self.model = S.INIT
        self.steps = 1

    @rule(goal=st.sampled_from(list(S)), approved=st.booleans())
    def attempt(self, goal, approved):
        approver = "operator" if approved else None
        legal = (self.model, goal) in EXPECTED_LEGAL
        needs_approval = self.model is S.HALTED and goal is not S.STOPPED
        if legal and (approved or not needs_approval):
            self.lifecycle.transition(goal, "random walk", approved_by=approver)
            self.model = goal
            self.steps += 1
        else:
            with pytest.raises(IllegalTransition):
                self.lifecycle.transition(goal, "random walk", approved_by=approver)

    @invariant()
    def state_matches_model(self):
        assert self.lifecycle.state is self.model
        assert kernels.read_state(self.lifecycle.reader) == self.model
        assert len(self.lifecycle.history) == self.steps
        assert self.lifecycle.history[-1].target is self.model


TestLifecycleMachine = LifecycleMachine.TestCase


def test_controllers_in_several_threads_never_interleave_a_check_and_a_move():
    import threading

    life = Lifecycle()
    life.transition(LifecycleState.WARMUP, "start")
    life.transition(LifecycleState.READY, "warm")
    moved = []

    def degrade_and_back() -> None:
        for _ in range(200):
            for target in (LifecycleState.DEGRADED, LifecycleState.READY):
                with contextlib.suppress(IllegalTransition):
                    moved.append(life.transition(target, "flap"))

    threads = [threading.Thread(target=degrade_and_back) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = life.history
    # Every recorded move starts where the previous one ended: no lost or torn transition.
    assert all(a.target == b.source for a, b in itertools.pairwise(history))
    assert len(history) == 3 + len(moved)
