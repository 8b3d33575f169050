"""The pipeline stages whose latency the hot path samples, in the order an event meets them."""

from __future__ import annotations

from enum import IntEnum
from numbers import Integral

__all__ = ["N_STAGES", "Stage"]


class Stage(IntEnum):
    """A latency-measured stage; its value indexes every per-stage array."""

    INGEST = 0  # bytes received → framed message handed to the decoder
    DECODE = 1  # message → normalized event record
    BOOK = 2  # event → book updated
    SIGNAL = 3  # book update → signals computed
    DECISION = 4  # trigger received → decision made
    RISK = 5  # decision → pre-trade checks and breaker gate passed
    SEND = 6  # order accepted by risk → written to the venue
    ACK = 7  # order sent → venue acknowledgement received

    @property
    def label(self) -> str:
        """Lower-case name, as used in TOML keys and metric labels."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: Stage | str | int) -> Stage:
        """A stage from its enum member, its label (any case) or its number.

        Raises
        ------
        ValueError
            Naming the unknown value and the known labels.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                pass
        elif isinstance(value, Integral) and not isinstance(value, bool) and 0 <= value < N_STAGES:
            return cls(int(value))
        known = ", ".join(s.label for s in cls)
        raise ValueError(f"unknown stage {value!r}; one of {known}")


N_STAGES = len(Stage)
