"""Market data in: decoders and framing for venue protocols, turning bytes into records.

Decoders are compiled (``kernels`` modules) and write ``MARKET_EVENT_DTYPE`` records; bad
input goes to a :class:`Quarantine`, counted by kind with samples, never dropped silently.
"""

from lowlat.feeds.quarantine import ErrorKind, Quarantine

__all__ = ["ErrorKind", "Quarantine"]
