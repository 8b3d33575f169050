"""The deterministic demo: ``python -m demo <scenario>`` or ``lowlat demo <scenario>``."""

from lowlat.demo.scenarios import SCENARIOS, Scenario, UnknownScenario, get_scenario
from lowlat.demo.simulator import DemoResult, StepSimulator

__all__ = [
    "SCENARIOS",
    "DemoResult",
    "Scenario",
    "StepSimulator",
    "UnknownScenario",
    "get_scenario",
]


def run_scenario(name: str, emit=print) -> DemoResult:
    """Run the named scenario, passing each output line to ``emit``."""
    return StepSimulator(get_scenario(name)).run(emit)
