"""Risk limits and sizes: defaults plus per-instrument and per-account overrides, from TOML.

Every pre-trade limit has a default (:class:`RiskLimits`) and may be overridden for an
instrument or an account (:class:`LimitOverride`). For an order of account ``a`` in
instrument ``i`` a limit is the override of ``a`` or of ``i`` when one of them sets it —
the tighter of the two when both do — and the default otherwise. So an override can
raise a limit as well as lower it, and a restriction on either side applies.

The message-rate throttle and the drawdown limit measure an account as a whole (one token
bucket, one equity curve per account), so they have account overrides only.

TOML layout (every table optional)::

    [risk]
    accounts = 16
    open_orders = 4096

    [risk.limits]              # defaults
    max_order_qty = 10_000
    price_collar_bps = 500

    [risk.instrument.7]        # instrument 7
    restricted = true

    [risk.account.3]           # account 3
    max_orders_per_second = 20
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["ACCOUNT_ONLY_LIMITS", "LimitOverride", "RiskConfig", "RiskLimits"]

#: Limits that only an account override may set.
ACCOUNT_ONLY_LIMITS = frozenset({"max_orders_per_second", "throttle_burst", "max_drawdown"})

_ID_LIMIT = (1 << 31) - 1
# Upper bounds keep every product the kernels form (qty × price, tokens, notional in
# ticks) inside int64.
_BOUNDS: dict[str, tuple[int, int]] = {
    "max_order_qty": (1, 10**12),
    "max_notional": (1, 10**14),
    "price_collar_bps": (1, 1_000_000),
    "max_open_orders": (1, 10**9),
    "max_position": (1, 10**12),
    "max_orders_per_second": (1, 10**9),
    "throttle_burst": (1, 10**6),
    "duplicate_window_ns": (0, 10**15),
    "max_drawdown": (1, 10**14),
}


def _check_int(where: str, name: str, value: Any) -> None:
    low, high = _BOUNDS[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} {name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{where} {name} must be in {low}..{high}, got {value}")


@dataclass(frozen=True)
class RiskLimits:
    """Default pre-trade and post-fill limits.

    Parameters
    ----------
    max_order_qty
        Largest quantity of one order.
    max_notional
        Largest ``qty × price`` of one order, in currency units (a market order is
        valued at the reference price).
    price_collar_bps
        Largest distance of a limit price from the reference price, in basis points of
        the reference (fat-finger collar).
    max_open_orders
        Working orders an account may have in one instrument.
    max_position
        Largest absolute position an account may reach in one instrument, counting every
        working order on the same side as filled.
    max_orders_per_second
        Refill rate of an account's token bucket (new orders and replaces; cancels are free).
    throttle_burst
        Capacity of the token bucket: orders an idle account may send at once.
    duplicate_window_ns
        An order equal to one of the same account within this window (instrument, side,
        price and quantity) is refused as a duplicate; 0 switches the check off.
    max_drawdown
        Largest fall of an account's equity (realized + unrealized PnL) from its high-water
        mark, in currency units; beyond it the kill switch engages.
    restricted
        Whether trading is refused (restricted list for an instrument, suspension for an
        account); orders that reduce risk still pass.
    """

    max_order_qty: int = 10_000
    max_notional: int = 1_000_000
    price_collar_bps: int = 500
    max_open_orders: int = 50
    max_position: int = 50_000
    max_orders_per_second: int = 100
    throttle_burst: int = 100
    duplicate_window_ns: int = 10_000_000
    max_drawdown: int = 100_000
    restricted: bool = False

    def __post_init__(self) -> None:
        for name in _BOUNDS:
            _check_int("risk limit", name, getattr(self, name))
        if not isinstance(self.restricted, bool):
            raise ValueError(
                f"risk limit restricted must be true or false, got {self.restricted!r}"
            )


@dataclass(frozen=True)
class LimitOverride:
    """Limits that differ from the defaults for one instrument or account; None keeps the default.

    The fields mean what they mean in :class:`RiskLimits`.
    """

    max_order_qty: int | None = None
    max_notional: int | None = None
    price_collar_bps: int | None = None
    max_open_orders: int | None = None
    max_position: int | None = None
    max_orders_per_second: int | None = None
    throttle_burst: int | None = None
    duplicate_window_ns: int | None = None
    max_drawdown: int | None = None
    restricted: bool | None = None

    def __post_init__(self) -> None:
        for name in _BOUNDS:
            value = getattr(self, name)
            if value is not None:
                _check_int("risk override", name, value)
        if self.restricted is not None and not isinstance(self.restricted, bool):
            raise ValueError(
                f"risk override restricted must be true or false, got {self.restricted!r}"
            )

    def set_fields(self) -> dict[str, int | bool]:
        """The limits this override sets, by name."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


def _limits_from(where: str, cls: type, data: Any) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a table of limits, got {data!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown keys {unknown} in {where}; known: {sorted(known)}")
    try:
        return cls(**data)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _overrides_from(kind: str, data: Any) -> dict[int, LimitOverride]:
    if not isinstance(data, Mapping):
        raise ValueError(f"risk {kind} overrides must be a table keyed by {kind} id, got {data!r}")
    out = {}
    for key, limits in data.items():
        try:
            ident = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"risk {kind} override key {key!r} is not an integer id") from None
        out[ident] = _limits_from(f"risk {kind} {ident}", LimitOverride, limits)
    return out


@dataclass(frozen=True)
class RiskConfig:
    """Sizes of the risk state and the limits it enforces; nothing grows after start.

    Parameters
    ----------
    accounts
        Account slots. An account gets the next free slot the first time one of its orders
        is checked (accounts with overrides get theirs at start); orders of accounts
        beyond this are refused (``CAPACITY``).
    instruments
        Instrument slots, assigned the same way.
    max_account_id, max_instrument_id
        Largest ids accepted; ids map to slots through tables of this many ``int32``.
    open_orders
        Capacity of the open-order table (a power of two): working orders plus cancel and
        replace requests awaiting their acknowledgement. Inserts stop at 3/4 full.
    duplicate_slots
        Entries of the table of recent order fingerprints (a power of two).
    limits
        The default limits.
    instrument_limits, account_limits
        Overrides by instrument id and by account id.
    """

    accounts: int = 16
    instruments: int = 256
    max_account_id: int = 65_535
    max_instrument_id: int = 65_535
    open_orders: int = 4_096
    duplicate_slots: int = 256
    limits: RiskLimits = field(default_factory=RiskLimits)
    instrument_limits: Mapping[int, LimitOverride] = field(default_factory=dict)
    account_limits: Mapping[int, LimitOverride] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("accounts", "instruments"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"risk {name} must be an integer >= 1, got {value!r}")
        for name in ("max_account_id", "max_instrument_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _ID_LIMIT:
                raise ValueError(f"risk {name} must be in 0..{_ID_LIMIT}, got {value!r}")
        for name, least in (("open_orders", 16), ("duplicate_slots", 2)):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < least
                or value & (value - 1)
            ):
                raise ValueError(f"risk {name} must be a power of two >= {least}, got {value!r}")
        if not isinstance(self.limits, RiskLimits):
            raise ValueError(f"risk limits must be a RiskLimits, got {self.limits!r}")
        self._check_overrides("instrument", self.instrument_limits, self.max_instrument_id)
        self._check_overrides("account", self.account_limits, self.max_account_id)
        object.__setattr__(self, "instrument_limits", dict(self.instrument_limits))
        object.__setattr__(self, "account_limits", dict(self.account_limits))

    def _check_overrides(self, kind: str, overrides: Mapping[int, LimitOverride], top: int) -> None:
        slots = getattr(self, f"{kind}s")
        if len(overrides) > slots:
            raise ValueError(
                f"risk has {len(overrides)} {kind} overrides but only {slots} {kind} slots"
            )
        for ident, override in overrides.items():
            if isinstance(ident, bool) or not isinstance(ident, int) or not 0 <= ident <= top:
                raise ValueError(f"risk {kind} override id must be in 0..{top}, got {ident!r}")
            if not isinstance(override, LimitOverride):
                raise ValueError(f"risk {kind} {ident} override must be a LimitOverride")
            if kind == "instrument":
                per_account = sorted(ACCOUNT_ONLY_LIMITS & set(override.set_fields()))
                if per_account:
                    raise ValueError(
                        f"risk instrument {ident} sets {per_account}: the throttle and the "
                        "drawdown limit are per account, set them under [risk.account.<id>]"
                    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RiskConfig:
        """Build a config from plain data (as TOML gives it), naming any bad key or value."""
        sizes = {f.name for f in fields(cls)} - {"limits", "instrument_limits", "account_limits"}
        tables = {"limits", "instrument", "account"}
        unknown = sorted(set(data) - sizes - tables)
        if unknown:
            raise ValueError(f"unknown risk config keys {unknown}; known: {sorted(sizes | tables)}")
        kwargs: dict[str, Any] = {key: data[key] for key in sizes if key in data}
        if "limits" in data:
            kwargs["limits"] = _limits_from("risk limits", RiskLimits, data["limits"])
        if "instrument" in data:
            kwargs["instrument_limits"] = _overrides_from("instrument", data["instrument"])
        if "account" in data:
            kwargs["account_limits"] = _overrides_from("account", data["account"])
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, text: str) -> RiskConfig:
        """Build a config from TOML: the keys at top level or under a ``[risk]`` table."""
        data = tomllib.loads(text)
        return cls.from_dict(data.get("risk", data))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (TOML's shape); ``from_dict(to_dict())`` gives an equal config."""
        out: dict[str, Any] = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("limits", "instrument_limits", "account_limits")
        }
        out["limits"] = asdict(self.limits)
        out["instrument"] = {str(k): v.set_fields() for k, v in self.instrument_limits.items()}
        out["account"] = {str(k): v.set_fields() for k, v in self.account_limits.items()}
        return out

    def effective(self, account: int, instrument: int) -> RiskLimits:
        """The limits an order of ``account`` in ``instrument`` is held to."""
        by_account = self.account_limits.get(account, LimitOverride()).set_fields()
        by_instrument = self.instrument_limits.get(instrument, LimitOverride()).set_fields()
        resolved: dict[str, Any] = {}
        for name in asdict(self.limits):
            both = [v for v in (by_account.get(name), by_instrument.get(name)) if v is not None]
            if not both:
                continue
            # restricted is tighter when true; every numeric limit when smaller
            resolved[name] = any(both) if name == "restricted" else min(both)
        return RiskLimits(**{**asdict(self.limits), **resolved})
