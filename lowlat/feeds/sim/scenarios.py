"""The named market scenarios: a function per scenario building its :class:`ScenarioConfig`.

Every scenario takes ``seed``, ``instruments`` and ``messages``; its other parameters are
the module constants below (documented where they are defined) and can be changed on the
returned config with :meth:`ScenarioConfig.replace`. Times are seconds after the open of a
compressed session.

* ``normal`` — moderate volume and volatility, weak correlation (``w_m = w_s = 0.1``).
* ``flash-crash`` — the whole market drops :data:`CRASH_DEPTH` in :data:`CRASH_SECONDS`,
  with volume and volatility up, then recovers over :data:`RECOVERY_SECONDS`.
* ``news-spike`` — sector :data:`NEWS_SECTOR` alone gets :data:`NEWS_VOL` times the
  volatility and :data:`NEWS_RATE` times the volume for :data:`NEWS_SECONDS`.
* ``open-close`` — :data:`AUCTION_RATE` times the volume (and 1.5 times the volatility) in
  the first and last :data:`AUCTION_SHARE` of the session.
* ``correlated`` — strong factor loading (``w_m = 0.7``, ``w_s = 0.2``): instrument
  returns correlate at about 0.7 across sectors and 0.9 within one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from lowlat.feeds.sim.config import Regime, ScenarioConfig

__all__ = [
    "AUCTION_RATE",
    "AUCTION_SHARE",
    "CRASH_DEPTH",
    "CRASH_SECONDS",
    "CRASH_START_S",
    "NEWS_RATE",
    "NEWS_SECONDS",
    "NEWS_SECTOR",
    "NEWS_START_S",
    "NEWS_VOL",
    "RECOVERY_SECONDS",
    "SCENARIOS",
    "correlated",
    "flash_crash",
    "news_spike",
    "normal",
    "open_close",
    "scenario",
]

CRASH_START_S = 40.0  # the crash begins 40 s after the open (session: 120 s)
CRASH_DEPTH = 0.08  # the market falls 8 % …
CRASH_SECONDS = 5.0  # … in 5 s, with 4x volume and 3x volatility,
RECOVERY_SECONDS = 30.0  # then climbs back over 30 s with 2x volume and volatility
NEWS_SECTOR = 0  # the sector hit by the news (session: 120 s)
NEWS_START_S = 50.0
NEWS_SECONDS = 20.0
NEWS_VOL = 5.0  # volatility multiplier in that sector during the news
NEWS_RATE = 5.0  # message-rate multiplier in that sector during the news
AUCTION_SHARE = 0.1  # first and last 10 % of the session (session: 120 s) …
AUCTION_RATE = 5.0  # … carry 5x the message rate


def normal(*, seed: int = 1, instruments: int = 8, messages: int = 1_000_000) -> ScenarioConfig:
    """Moderate volume and volatility for 60 s: the baseline the others are measured against."""
    return ScenarioConfig(name="normal", seed=seed, instruments=instruments, messages=messages)


def flash_crash(
    *, seed: int = 1, instruments: int = 8, messages: int = 1_000_000
) -> ScenarioConfig:
    """A sharp market-wide drop of :data:`CRASH_DEPTH`, then a recovery to the old level."""
    fall = math.log1p(-CRASH_DEPTH)
    bottom = CRASH_START_S + CRASH_SECONDS
    regimes = (
        Regime(CRASH_START_S, bottom, rate_mult=4.0, vol_mult=3.0,
               drift_per_s=fall / CRASH_SECONDS),
        Regime(bottom, bottom + RECOVERY_SECONDS, rate_mult=2.0, vol_mult=2.0,
               drift_per_s=-fall / RECOVERY_SECONDS),
    )  # fmt: skip
    return ScenarioConfig(
        name="flash-crash", seed=seed, instruments=instruments, messages=messages,
        duration_s=120.0, regimes=regimes,
    )  # fmt: skip


def news_spike(*, seed: int = 1, instruments: int = 8, messages: int = 1_000_000) -> ScenarioConfig:
    """News hits one sector: its volatility and volume spike, the rest trade as usual."""
    spike = Regime(NEWS_START_S, NEWS_START_S + NEWS_SECONDS, sector=NEWS_SECTOR,
                   rate_mult=NEWS_RATE, vol_mult=NEWS_VOL)  # fmt: skip
    return ScenarioConfig(
        name="news-spike", seed=seed, instruments=instruments, messages=messages,
        duration_s=120.0, regimes=(spike,),
    )  # fmt: skip


def open_close(*, seed: int = 1, instruments: int = 8, messages: int = 1_000_000) -> ScenarioConfig:
    """Volume surges in the first and last :data:`AUCTION_SHARE` of the session."""
    duration = 120.0
    edge = AUCTION_SHARE * duration
    regimes = (
        Regime(0.0, edge, rate_mult=AUCTION_RATE, vol_mult=1.5),
        Regime(duration - edge, duration, rate_mult=AUCTION_RATE, vol_mult=1.5),
    )
    return ScenarioConfig(
        name="open-close", seed=seed, instruments=instruments, messages=messages,
        duration_s=duration, regimes=regimes,
    )  # fmt: skip


def correlated(*, seed: int = 1, instruments: int = 8, messages: int = 1_000_000) -> ScenarioConfig:
    """Strong factor loading: most of every instrument's variance is market and sector."""
    return ScenarioConfig(
        name="correlated", seed=seed, instruments=instruments, messages=messages,
        market_weight=0.7, sector_weight=0.2,
    )  # fmt: skip


SCENARIOS: dict[str, Callable[..., ScenarioConfig]] = {
    "normal": normal,
    "flash-crash": flash_crash,
    "news-spike": news_spike,
    "open-close": open_close,
    "correlated": correlated,
}


def scenario(
    name: str, *, seed: int = 1, instruments: int = 8, messages: int = 1_000_000
) -> ScenarioConfig:
    """The config of the named scenario.

    Raises
    ------
    KeyError
        For an unknown name (the message lists the known ones).
    """
    try:
        build = SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; choose from {sorted(SCENARIOS)}") from None
    return build(seed=seed, instruments=instruments, messages=messages)
