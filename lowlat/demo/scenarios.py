"""The four deterministic demo scenarios (seed 000's capacity characterisation)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCENARIOS", "Scenario", "UnknownScenario", "get_scenario"]


class UnknownScenario(ValueError):
    """A scenario name that is not one of :data:`SCENARIOS`."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """Per-step ingest and consume rates, run length and an optional failure window."""

    name: str
    ingest: int  # events published per step
    consume: int  # polls the consumer makes per step (one event each)
    steps: int
    expectation: str  # what a reader should see, printed in the header
    degrade_at: int | None = None  # step at which a failure is injected
    recover_at: int | None = None  # step at which it is cleared


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("balanced", 5, 5, 6, "stable: every event consumed, no overruns"),
        Scenario(
            "producer-heavy",
            8,
            3,
            14,
            "backlog grows 5 per step; first overrun at step 12, then every step",
        ),
        Scenario("consumer-heavy", 3, 8, 4, "stable: 5 clean empty polls per step, no overruns"),
        Scenario(
            "failure-recovery",
            5,
            5,
            8,
            "READY → DEGRADED at step 3 → READY at step 6; acks in between are provisional",
            degrade_at=3,
            recover_at=6,
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    """Look a scenario up by name, with an error that lists the valid names."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UnknownScenario(
            f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}"
        ) from None
