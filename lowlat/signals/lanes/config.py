"""Priority-lane configuration: frozen dataclasses, loadable from TOML, validated up front.

A :class:`LaneConfig` names the lanes (lane 0 is the most urgent) with their ring
capacities, the budget of events held in all lanes together, the starvation bound, the
default lane and the classification rules: by message type, trade size, price move,
watch list and news flag. An event goes to the most urgent lane any rule gives it, or to
the default lane when no rule matches.

In TOML a lane is named (``"critical"``) or numbered (``0``); unknown keys, unknown names
and out-of-range values raise :class:`LaneConfigError` naming the key and the value::

    default_lane = "normal"
    starvation_bound = 32
    budget = 65536                    # events held in all lanes together
    news_lane = "high"
    news = [17]                       # instruments flagged at start

    [[lanes]]
    name = "critical"
    capacity = 1024                   # a power of two
    # ... one [[lanes]] table per lane, most urgent first

    [[messages]]
    kind = "STATUS"                   # an EventKind name
    lane = "critical"

    [[messages]]
    kind = "REFERENCE"
    letter = "J"                      # ITCH type letter: LULD auction collar
    lane = "critical"

    [trade_size]
    min_qty = 10000
    lane = "high"
    kinds = ["TRADE", "EXECUTE"]

    [price_move]
    min_bps = 100
    lane = "high"

    [[watch]]
    instrument = 42
    lane = "high"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any

from lowlat.core.records import EventKind
from lowlat.signals.lanes.layout import (
    MAX_LANES,
    MAX_MOVE_BPS,
    MAX_THRESHOLD,
    N_TYPE_CODES,
)

__all__ = [
    "LaneConfig",
    "LaneConfigError",
    "LaneSpec",
    "MessageRule",
    "PriceMoveRule",
    "TradeSizeRule",
    "WatchEntry",
]

MAX_CAPACITY = 1 << 24
MAX_INSTRUMENTS = 1 << 24
TRADE_KINDS = (EventKind.TRADE, EventKind.EXECUTE)


class LaneConfigError(ValueError):
    """A lane configuration is invalid; the message names the key and the bad value."""


def _int_in(where: str, value: object, low: int, high: int) -> int:
    """``value`` as an int if it is an integer (not a bool) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not low <= value <= high:
        raise LaneConfigError(f"{where}: {value!r} is not an integer in {low}..{high}")
    return int(value)


def _kinds(where: str, kinds: object) -> tuple[EventKind, ...]:
    if not isinstance(kinds, list | tuple) or not kinds:
        raise LaneConfigError(f"{where}: {kinds!r} is not a non-empty list of event kinds")
    return tuple(_kind(f"{where}[{i}]", kind) for i, kind in enumerate(kinds))


def _kind(where: str, kind: object) -> EventKind:
    if isinstance(kind, EventKind):
        return kind
    if isinstance(kind, str) and kind in EventKind.__members__:
        return EventKind[kind]
    names = ", ".join(EventKind.__members__)
    raise LaneConfigError(f"{where}: unknown event kind {kind!r} (one of {names})")


def _letter(where: str, letter: object) -> str | None:
    if letter is not None and (
        not isinstance(letter, str) or len(letter) != 1 or ord(letter) >= N_TYPE_CODES
    ):
        raise LaneConfigError(f"{where}: {letter!r} is not one ASCII character")
    return letter


def _lane_ref(lanes: tuple[LaneSpec, ...], lane: object, where: str) -> int:
    """The number of a lane of ``lanes`` given by number or name."""
    if isinstance(lane, str):
        for index, spec in enumerate(lanes):
            if spec.name == lane:
                return index
        names = ", ".join(spec.name for spec in lanes)
        raise LaneConfigError(f"{where}: unknown lane {lane!r} (lanes: {names})")
    return _int_in(where, lane, 0, len(lanes) - 1)


@dataclass(frozen=True)
class LaneSpec:
    """One lane: a name for stats and config, and its ring capacity (a power of two)."""

    name: str
    capacity: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise LaneConfigError(f"lane name: {self.name!r} is not a non-empty string")
        capacity = _int_in(f"lane {self.name!r} capacity", self.capacity, 1, MAX_CAPACITY)
        if capacity & (capacity - 1):
            raise LaneConfigError(f"lane {self.name!r} capacity: {capacity} is not a power of two")


@dataclass(frozen=True)
class MessageRule:
    """Events of ``kind`` (and, if given, ITCH type ``letter``) go to ``lane`` or above.

    The letter is matched against ``flags & 0x7F``, where ITCH records carry their type
    letter's ASCII code.
    """

    kind: EventKind
    lane: int
    letter: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _kind("kind", self.kind))
        _letter("letter", self.letter)


@dataclass(frozen=True)
class TradeSizeRule:
    """Events of ``kinds`` with ``qty >= min_qty`` go to ``lane`` or above."""

    min_qty: int
    lane: int
    kinds: tuple[EventKind, ...] = TRADE_KINDS

    def __post_init__(self) -> None:
        _int_in("trade_size.min_qty", self.min_qty, 1, MAX_THRESHOLD)
        object.__setattr__(self, "kinds", _kinds("trade_size.kinds", self.kinds))


@dataclass(frozen=True)
class PriceMoveRule:
    """Events of ``kinds`` whose price moved ``min_bps`` or more go to ``lane`` or above.

    The move is ``|price - last| / last`` with ``last`` the instrument's previous price
    among events of ``kinds``; events without a positive price are not checked and do not
    set it.
    """

    min_bps: int
    lane: int
    kinds: tuple[EventKind, ...] = TRADE_KINDS

    def __post_init__(self) -> None:
        _int_in("price_move.min_bps", self.min_bps, 1, MAX_MOVE_BPS)
        object.__setattr__(self, "kinds", _kinds("price_move.kinds", self.kinds))


@dataclass(frozen=True)
class WatchEntry:
    """A watched instrument: every event of it goes to ``lane`` or above."""

    instrument: int
    lane: int


DEFAULT_LANES = (
    LaneSpec("critical", 1024),
    LaneSpec("high", 4096),
    LaneSpec("normal", 16384),
    LaneSpec("bulk", 65536),
)

#: Halts, LULD, market-wide circuit breakers and system events (ITCH S/H/Y/V/W/h, LOBSTER
#: type 7: all STATUS) and LULD auction collars (ITCH J) are critical; broken trades high;
#: other reference data (directory, participants, IPO, DLCR) bulk.
DEFAULT_MESSAGE_RULES = (
    MessageRule(EventKind.STATUS, 0),
    MessageRule(EventKind.REFERENCE, 0, "J"),
    MessageRule(EventKind.BROKEN_TRADE, 1),
    MessageRule(EventKind.REFERENCE, 3),
)
DEFAULT_TRADE_SIZE = TradeSizeRule(10_000, 1)
DEFAULT_PRICE_MOVE = PriceMoveRule(100, 1)
DEFAULT_LANE = 2
DEFAULT_NEWS_LANE = 1


@dataclass(frozen=True)
class LaneConfig:
    """Everything that determines how events are classified, held, shed and drained.

    Parameters
    ----------
    lanes
        The lanes, most urgent first (1 to 8).
    default_lane
        Lane of an event no rule matches.
    starvation_bound
        K ≥ 1: after K events in a row were drained from a lane while a less urgent one
        waited, the next one drained is the oldest head among the less urgent lanes.
    budget
        Most events held in all lanes together, at most the sum of the capacities; None:
        the largest capacity, so that any one lane can fill its ring, but not all at once.
        When the budget is reached, an event evicts the newest event of the least urgent
        non-empty lane if that lane is less urgent than its own, and is dropped otherwise;
        an event whose own lane ring is full is dropped. Both are counted per lane.
    max_instruments
        Instrument ids ``0 … max_instruments - 1`` have watch, news and last-price
        entries; events of other ids are classified by message type and size only.
    messages
        Message-type rules.
    trade_size, price_move
        Threshold rules, or None for none.
    watch
        Instruments on the watch list at start, each with its lane.
    news_lane
        Lane of every event of an instrument whose news flag is raised.
    news
        Instruments whose news flag is raised at start.
    """

    lanes: tuple[LaneSpec, ...] = DEFAULT_LANES
    default_lane: int = DEFAULT_LANE
    starvation_bound: int = 32
    budget: int | None = None
    max_instruments: int = 65536
    messages: tuple[MessageRule, ...] = DEFAULT_MESSAGE_RULES
    trade_size: TradeSizeRule | None = DEFAULT_TRADE_SIZE
    price_move: PriceMoveRule | None = DEFAULT_PRICE_MOVE
    watch: tuple[WatchEntry, ...] = ()
    news_lane: int = DEFAULT_NEWS_LANE
    news: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        lanes = tuple(self.lanes)
        if not 1 <= len(lanes) <= MAX_LANES:
            raise LaneConfigError(f"lanes: {len(lanes)} lanes, expected 1..{MAX_LANES}")
        names = [spec.name for spec in lanes]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise LaneConfigError(f"lanes: duplicate lane names {duplicates}")
        object.__setattr__(self, "lanes", lanes)
        self._lane("default_lane", self.default_lane)
        _int_in("starvation_bound", self.starvation_bound, 1, MAX_THRESHOLD)
        total = sum(spec.capacity for spec in lanes)
        if self.budget is not None:
            _int_in("budget", self.budget, 1, total)
        _int_in("max_instruments", self.max_instruments, 1, MAX_INSTRUMENTS)
        for i, rule in enumerate(self.messages):
            self._lane(f"messages[{i}].lane", rule.lane)
        if self.trade_size is not None:
            self._lane("trade_size.lane", self.trade_size.lane)
        if self.price_move is not None:
            self._lane("price_move.lane", self.price_move.lane)
        watched = set()
        for i, entry in enumerate(self.watch):
            instrument = self.instrument(f"watch[{i}].instrument", entry.instrument)
            if instrument in watched:
                raise LaneConfigError(f"watch[{i}].instrument: {instrument} is listed twice")
            watched.add(instrument)
            self._lane(f"watch[{i}].lane", entry.lane)
        self._lane("news_lane", self.news_lane)
        for i, instrument in enumerate(self.news):
            self.instrument(f"news[{i}]", instrument)
        for name in ("messages", "watch", "news"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def _lane(self, where: str, lane: object) -> int:
        return _int_in(where, lane, 0, len(self.lanes) - 1)

    @property
    def n_lanes(self) -> int:
        """Number of lanes."""
        return len(self.lanes)

    @property
    def held_limit(self) -> int:
        """Most events held at once: the budget, or the largest lane capacity."""
        if self.budget is None:
            return max(spec.capacity for spec in self.lanes)
        return self.budget

    def lane_index(self, lane: int | str, where: str = "lane") -> int:
        """The number of a lane given by number or name.

        Raises
        ------
        LaneConfigError
            If there is no such lane (the message lists the lanes).
        """
        return _lane_ref(self.lanes, lane, where)

    def instrument(self, where: str, instrument: object) -> int:
        """Check an instrument id against ``max_instruments``; return it."""
        return _int_in(where, instrument, 0, self.max_instruments - 1)

    def delay_bound(self, lane: int | str) -> int:
        """Most events that can be drained between an event's enqueue in ``lane`` and its drain.

        Lane 0: the ``q ≤ min(capacity, held limit) - 1`` events ahead of it, plus one
        starvation service per K drained from lane 0 and one more: ``q + 1 + q // K``.
        Other lanes: every service before the event either drains one of the at most
        ``B - 1`` events held before it (``B`` the held limit) or is one of at most K
        services in a row that passed it, each run ended by a starvation service of an
        event at least as old as it: ``(K + 1) * B - 1``.
        """
        index = self.lane_index(lane)
        k = self.starvation_bound
        if index == 0:
            ahead = min(self.lanes[0].capacity, self.held_limit) - 1
            return ahead + 1 + ahead // k
        return (k + 1) * self.held_limit - 1

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LaneConfig:
        """Build a config from plain data (parsed TOML); lanes by name or number.

        Keys left out keep the defaults, except that with fewer than four lanes a default
        rule's lane past the last lane becomes the last lane. ``trade_size = false`` or
        ``price_move = false`` switches that rule off.

        Raises
        ------
        LaneConfigError
            On an unknown key, an unknown lane or kind, or an invalid value.
        """
        top = _keys("top level", data, _TOP_KEYS)
        lanes = DEFAULT_LANES
        if "lanes" in top:
            lanes = tuple(
                LaneSpec(**_keys(f"lanes[{i}]", spec, ("name", "capacity"), required=True))
                for i, spec in enumerate(_list("lanes", top["lanes"]))
            )
        values = _defaults_within(lanes)
        for key in ("default_lane", "news_lane"):
            if key in top:
                values[key] = _lane_ref(lanes, top[key], key)
        for key in ("starvation_bound", "budget", "max_instruments"):
            if key in top:
                values[key] = top[key]
        if "messages" in top:
            values["messages"] = tuple(
                _message(f"messages[{i}]", rule, lanes)
                for i, rule in enumerate(_list("messages", top["messages"]))
            )
        for key, threshold, rule in (
            ("trade_size", "min_qty", TradeSizeRule),
            ("price_move", "min_bps", PriceMoveRule),
        ):
            if top.get(key) is False:
                values[key] = None
            elif key in top:
                values[key] = _threshold(key, top[key], threshold, rule, lanes)
        if "watch" in top:
            values["watch"] = tuple(
                _watch(f"watch[{i}]", entry, lanes)
                for i, entry in enumerate(_list("watch", top["watch"]))
            )
        if "news" in top:
            values["news"] = tuple(_list("news", top["news"]))
        return cls(**values)

    @classmethod
    def from_toml(cls, text: str) -> LaneConfig:
        """Build a config from TOML text (the layout in the module docstring)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise LaneConfigError(f"not valid TOML: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> LaneConfig:
        """Read a TOML config file."""
        return cls.from_toml(Path(path).read_text(encoding="utf-8"))


def _defaults_within(lanes: tuple[LaneSpec, ...]) -> dict[str, Any]:
    """The lane-bearing defaults, their lanes capped at the last of ``lanes``."""
    last = len(lanes) - 1
    size, move = DEFAULT_TRADE_SIZE, DEFAULT_PRICE_MOVE
    return {
        "lanes": lanes,
        "default_lane": min(DEFAULT_LANE, last),
        "news_lane": min(DEFAULT_NEWS_LANE, last),
        "messages": tuple(
            MessageRule(rule.kind, min(rule.lane, last), rule.letter)
            for rule in DEFAULT_MESSAGE_RULES
        ),
        "trade_size": TradeSizeRule(size.min_qty, min(size.lane, last), size.kinds),
        "price_move": PriceMoveRule(move.min_bps, min(move.lane, last), move.kinds),
    }


_TOP_KEYS = (
    "lanes",
    "default_lane",
    "starvation_bound",
    "budget",
    "max_instruments",
    "messages",
    "trade_size",
    "price_move",
    "watch",
    "news_lane",
    "news",
)


def _keys(
    where: str, table: object, known: tuple[str, ...], required: bool = False
) -> dict[str, Any]:
    """``table`` as a dict, refusing keys not in ``known`` (and missing ones if required)."""
    if not isinstance(table, Mapping):
        raise LaneConfigError(f"{where}: expected a table, got {table!r}")
    unknown = [key for key in table if key not in known]
    if unknown:
        raise LaneConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(known)})")
    missing = [key for key in known if key not in table] if required else []
    if missing:
        raise LaneConfigError(f"{where}: missing key {missing[0]!r}")
    return dict(table)


def _list(where: str, value: object) -> list[Any]:
    if not isinstance(value, list):
        raise LaneConfigError(f"{where}: expected a list, got {value!r}")
    return value


def _message(where: str, table: object, lanes: tuple[LaneSpec, ...]) -> MessageRule:
    rule = _keys(where, table, ("kind", "letter", "lane"))
    for key in ("kind", "lane"):
        if key not in rule:
            raise LaneConfigError(f"{where}: missing key {key!r}")
    return MessageRule(
        _kind(f"{where}.kind", rule["kind"]),
        _lane_ref(lanes, rule["lane"], f"{where}.lane"),
        _letter(f"{where}.letter", rule.get("letter")),
    )


def _threshold(
    where: str, table: object, key: str, rule: type, lanes: tuple[LaneSpec, ...]
) -> TradeSizeRule | PriceMoveRule:
    values = _keys(where, table, (key, "lane", "kinds"))
    for name in (key, "lane"):
        if name not in values:
            raise LaneConfigError(f"{where}: missing key {name!r}")
    kinds = _kinds(f"{where}.kinds", values["kinds"]) if "kinds" in values else TRADE_KINDS
    return rule(values[key], _lane_ref(lanes, values["lane"], f"{where}.lane"), kinds)


def _watch(where: str, table: object, lanes: tuple[LaneSpec, ...]) -> WatchEntry:
    entry = _keys(where, table, ("instrument", "lane"), required=True)
    return WatchEntry(entry["instrument"], _lane_ref(lanes, entry["lane"], f"{where}.lane"))
