"""Market data in: decoders and framing for venue protocols, turning bytes into records.

Decoders are compiled (``kernels`` modules) and write ``MARKET_EVENT_DTYPE`` records; bad
input goes to a :class:`Quarantine`, counted by kind with samples, never dropped silently.
Protocols: :mod:`~lowlat.feeds.itch` (NASDAQ TotalView-ITCH 5.0), :mod:`~lowlat.feeds.fix`
(FIX 4.4 market data), :mod:`~lowlat.feeds.lobster` (LOBSTER files); transports in
:mod:`~lowlat.feeds.transport` (SoupBinTCP, MoldUDP64); :mod:`~lowlat.feeds.sim` simulates
order flow as ITCH; :mod:`~lowlat.feeds.recording` records raw feeds and replays them.
"""

from lowlat.feeds.quarantine import ErrorKind, Quarantine

__all__ = ["ErrorKind", "Quarantine"]
