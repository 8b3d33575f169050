"""Market-data transports: SoupBinTCP 3.00 (TCP) and MoldUDP64 (UDP), both ends.

Clients hand every in-order run of messages, length-prefixed as in ITCH files, to a
:data:`~lowlat.feeds.transport.replay.BlockHandler`; :class:`ItchSink` decodes each run
with the compiled ITCH decoder. Servers replay a :class:`MessageSource` (e.g. an ITCH
file) with fault injection, for tests and simulation.
"""

from lowlat.feeds.transport.moldudp64 import MoldUdp64Client, MoldUdp64Server
from lowlat.feeds.transport.replay import BlockHandler, ItchSink, MessageSource
from lowlat.feeds.transport.soupbintcp import (
    LoginRejected,
    SoupBinTcpClient,
    SoupBinTcpServer,
    SoupProtocolError,
)

__all__ = [
    "BlockHandler",
    "ItchSink",
    "LoginRejected",
    "MessageSource",
    "MoldUdp64Client",
    "MoldUdp64Server",
    "SoupBinTcpClient",
    "SoupBinTcpServer",
    "SoupProtocolError",
]
