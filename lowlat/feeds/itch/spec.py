"""NASDAQ TotalView-ITCH 5.0: message lengths, field offsets and how each maps to a record.

Every ITCH 5.0 message has a fixed length set by its type letter and starts with the same
11-byte header: type (1 byte, ASCII), stock locate (2), tracking number (2) and a 6-byte
timestamp in nanoseconds since midnight. All integers are unsigned big-endian. ``Price(4)``
fields carry 4 implied decimals, which is exactly :data:`~lowlat.core.records.PRICE_SCALE`,
so they are stored unchanged as ticks; the MWCB decline levels are ``Price(8)`` with 8
implied decimals and are divided by 10,000 (rounded down) to get ticks. Alpha fields are
space-padded ASCII.

Each message becomes one ``MARKET_EVENT_DTYPE`` record. Common to all of them:

* ``seq`` — 1-based number of the decoded message in its stream (quarantined messages
  take no number), ``recv_ns`` — 0 when decoding files (there is no receive time),
  ``exchange_ns`` — the header timestamp, ``instrument`` — the header stock locate,
  ``lane`` — 0 (assigned later by classification).
* ``flags`` — the ITCH type letter's ASCII code (``flags & TYPE_MASK``); bit 7
  (:data:`FLAG_PRINTABLE`, free because ASCII is 7-bit) is set on a printable ``C``.

Below, "code" means a one-byte ASCII field stored as its byte value, and "packed" means
several bytes read as one big-endian integer (``b"NAZ "`` → ``0x4E415A20``), so that no
code is lost and :func:`unpack_alpha` gives the text back. Fields not in the table are not
carried into the record.

====  ============  ===========================================================================
type  kind          record fields
====  ============  ===========================================================================
S     STATUS        aux = event code
R     REFERENCE     aux = symbol (8 bytes packed), qty = round lot size, order_id = packed
                    market category, financial status, round-lots-only, issue classification,
                    issue sub-type (2), authenticity, short-sale threshold; also sets the
                    symbol table row of the locate
H     STATUS        aux = trading state, order_id = reason (4 bytes packed)
Y     STATUS        aux = Reg SHO action
L     REFERENCE     aux = MPID (4 bytes packed), order_id = packed primary-market-maker,
                    market-maker mode, participant state
V     STATUS        price = level 1, qty = level 2, aux = level 3 (ticks, from Price(8))
W     STATUS        aux = breached level
K     REFERENCE     price = IPO price, aux = IPO quotation release time (s after midnight),
                    order_id = release qualifier
J     REFERENCE     price = auction collar reference price, order_id = upper collar price,
                    aux = lower collar price, qty = auction collar extension
h     STATUS        aux = operational halt action, order_id = market code
A     ADD           order_id, side, qty = shares, price
F     ADD           as A, and aux = attribution MPID (4 bytes packed)
E     EXECUTE       order_id, qty = executed shares, aux = match number
C     EXECUTE       order_id, qty = executed shares, aux = match number, price = execution
                    price; ``flags |= FLAG_PRINTABLE`` when printable is ``Y``
X     CANCEL        order_id, qty = cancelled shares
D     DELETE        order_id
U     REPLACE       order_id = original order, aux = new order id, qty = shares, price
P     TRADE         order_id (0 in practice), side, qty = shares, price, aux = match number
Q     TRADE         qty = shares (8 bytes), price = cross price, aux = match number,
                    order_id = cross type code (there is no order)
B     BROKEN_TRADE  aux = match number
I     IMBALANCE     order_id = paired shares, qty = imbalance shares, side = direction
                    (B → BUY, S → SELL, other → NONE), price = current reference price,
                    aux = near price (far price, cross type and price variation not carried)
N     IMBALANCE     aux = interest flag (RPII)
O     REFERENCE     price = near execution price, aux = near execution time, order_id = open
                    eligibility status (DLCR price discovery; allowable prices and collars
                    not carried)
====  ============  ===========================================================================

Sides: ``B`` → :attr:`Side.BUY`, ``S`` → :attr:`Side.SELL`. An A, F or P message with any
other side byte is impossible and is quarantined as ``BAD_FIELD`` (no record).
"""

from __future__ import annotations

import numpy as np

from lowlat.core.records import EventKind

__all__ = [
    "FIELDS",
    "FLAG_PRINTABLE",
    "HEADER_BYTES",
    "KIND_OF",
    "MAX_MESSAGE_BYTES",
    "MESSAGE_LENGTHS",
    "MESSAGE_NAMES",
    "MSG_LEN",
    "PREFIX_BYTES",
    "TYPE_MASK",
    "pack_alpha",
    "unpack_alpha",
]

PREFIX_BYTES = 2  # BinaryFILE / SoupBinTCP length prefix before every message
HEADER_BYTES = 11  # type, locate, tracking number, timestamp
FLAG_PRINTABLE = 0x80  # on C records: the execution is printable (prints to the tape)
TYPE_MASK = 0x7F  # flags & TYPE_MASK = the ITCH type letter

# (field name, offset, size, format) per message, header included. Formats: "u" unsigned
# integer, "p4"/"p8" price with 4/8 implied decimals, "a" alpha (ASCII, space-padded).
_HEADER = (("type", 0, 1, "a"), ("locate", 1, 2, "u"), ("tracking", 3, 2, "u"), ("ts", 5, 6, "u"))
FIELDS: dict[str, tuple[tuple[str, int, int, str], ...]] = {
    "S": (*_HEADER, ("event_code", 11, 1, "a")),
    "R": (
        *_HEADER,
        ("stock", 11, 8, "a"),
        ("market_category", 19, 1, "a"),
        ("financial_status", 20, 1, "a"),
        ("round_lot_size", 21, 4, "u"),
        ("round_lots_only", 25, 1, "a"),
        ("issue_classification", 26, 1, "a"),
        ("issue_subtype", 27, 2, "a"),
        ("authenticity", 29, 1, "a"),
        ("short_sale_threshold", 30, 1, "a"),
        ("ipo_flag", 31, 1, "a"),
        ("luld_tier", 32, 1, "a"),
        ("etp_flag", 33, 1, "a"),
        ("etp_leverage", 34, 4, "u"),
        ("inverse", 38, 1, "a"),
    ),
    "H": (
        *_HEADER,
        ("stock", 11, 8, "a"),
        ("trading_state", 19, 1, "a"),
        ("reserved", 20, 1, "a"),
        ("reason", 21, 4, "a"),
    ),
    "Y": (*_HEADER, ("stock", 11, 8, "a"), ("reg_sho_action", 19, 1, "a")),
    "L": (
        *_HEADER,
        ("mpid", 11, 4, "a"),
        ("stock", 15, 8, "a"),
        ("primary_mm", 23, 1, "a"),
        ("mm_mode", 24, 1, "a"),
        ("participant_state", 25, 1, "a"),
    ),
    "V": (*_HEADER, ("level1", 11, 8, "p8"), ("level2", 19, 8, "p8"), ("level3", 27, 8, "p8")),
    "W": (*_HEADER, ("breached_level", 11, 1, "a")),
    "K": (
        *_HEADER,
        ("stock", 11, 8, "a"),
        ("release_time", 19, 4, "u"),
        ("release_qualifier", 23, 1, "a"),
        ("ipo_price", 24, 4, "p4"),
    ),
    "J": (
        *_HEADER,
        ("stock", 11, 8, "a"),
        ("reference_price", 19, 4, "p4"),
        ("upper_collar", 23, 4, "p4"),
        ("lower_collar", 27, 4, "p4"),
        ("extension", 31, 4, "u"),
    ),
    "h": (
        *_HEADER,
        ("stock", 11, 8, "a"),
        ("market_code", 19, 1, "a"),
        ("halt_action", 20, 1, "a"),
    ),
    "A": (
        *_HEADER,
        ("order_ref", 11, 8, "u"),
        ("side", 19, 1, "a"),
        ("shares", 20, 4, "u"),
        ("stock", 24, 8, "a"),
        ("price", 32, 4, "p4"),
    ),
    "F": (
        *_HEADER,
        ("order_ref", 11, 8, "u"),
        ("side", 19, 1, "a"),
        ("shares", 20, 4, "u"),
        ("stock", 24, 8, "a"),
        ("price", 32, 4, "p4"),
        ("attribution", 36, 4, "a"),
    ),
    "E": (*_HEADER, ("order_ref", 11, 8, "u"), ("shares", 19, 4, "u"), ("match", 23, 8, "u")),
    "C": (
        *_HEADER,
        ("order_ref", 11, 8, "u"),
        ("shares", 19, 4, "u"),
        ("match", 23, 8, "u"),
        ("printable", 31, 1, "a"),
        ("price", 32, 4, "p4"),
    ),
    "X": (*_HEADER, ("order_ref", 11, 8, "u"), ("shares", 19, 4, "u")),
    "D": (*_HEADER, ("order_ref", 11, 8, "u")),
    "U": (
        *_HEADER,
        ("order_ref", 11, 8, "u"),
        ("new_order_ref", 19, 8, "u"),
        ("shares", 27, 4, "u"),
        ("price", 31, 4, "p4"),
    ),
    "P": (
        *_HEADER,
        ("order_ref", 11, 8, "u"),
        ("side", 19, 1, "a"),
        ("shares", 20, 4, "u"),
        ("stock", 24, 8, "a"),
        ("price", 32, 4, "p4"),
        ("match", 36, 8, "u"),
    ),
    "Q": (
        *_HEADER,
        ("shares", 11, 8, "u"),
        ("stock", 19, 8, "a"),
        ("cross_price", 27, 4, "p4"),
        ("match", 31, 8, "u"),
        ("cross_type", 39, 1, "a"),
    ),
    "B": (*_HEADER, ("match", 11, 8, "u")),
    "I": (
        *_HEADER,
        ("paired_shares", 11, 8, "u"),
        ("imbalance_shares", 19, 8, "u"),
        ("direction", 27, 1, "a"),
        ("stock", 28, 8, "a"),
        ("far_price", 36, 4, "p4"),
        ("near_price", 40, 4, "p4"),
        ("reference_price", 44, 4, "p4"),
        ("cross_type", 48, 1, "a"),
        ("price_variation", 49, 1, "a"),
    ),
    "N": (*_HEADER, ("stock", 11, 8, "a"), ("interest_flag", 19, 1, "a")),
    "O": (
        *_HEADER,
        ("stock", 11, 8, "a"),
        ("open_eligibility", 19, 1, "a"),
        ("min_price", 20, 4, "p4"),
        ("max_price", 24, 4, "p4"),
        ("near_price", 28, 4, "p4"),
        ("near_time", 32, 8, "u"),
        ("lower_collar", 40, 4, "p4"),
        ("upper_collar", 44, 4, "p4"),
    ),
}

#: Message length in bytes (without the 2-byte prefix), by type letter.
MESSAGE_LENGTHS: dict[str, int] = {
    letter: fields[-1][1] + fields[-1][2] for letter, fields in FIELDS.items()
}

MESSAGE_NAMES: dict[str, str] = {
    "S": "system event",
    "R": "stock directory",
    "H": "stock trading action",
    "Y": "Reg SHO restriction",
    "L": "market participant position",
    "V": "MWCB decline level",
    "W": "MWCB status",
    "K": "IPO quoting period update",
    "J": "LULD auction collar",
    "h": "operational halt",
    "A": "add order",
    "F": "add order with attribution",
    "E": "order executed",
    "C": "order executed with price",
    "X": "order cancel",
    "D": "order delete",
    "U": "order replace",
    "P": "trade (non-cross)",
    "Q": "cross trade",
    "B": "broken trade",
    "I": "net order imbalance indicator",
    "N": "retail price improvement indicator",
    "O": "direct listing with capital raise price discovery",
}

KIND_OF: dict[str, EventKind] = {
    **dict.fromkeys("SHYVWh", EventKind.STATUS),
    **dict.fromkeys("RLKJO", EventKind.REFERENCE),
    **dict.fromkeys("AF", EventKind.ADD),
    **dict.fromkeys("EC", EventKind.EXECUTE),
    "X": EventKind.CANCEL,
    "D": EventKind.DELETE,
    "U": EventKind.REPLACE,
    **dict.fromkeys("PQ", EventKind.TRADE),
    "B": EventKind.BROKEN_TRADE,
    **dict.fromkeys("IN", EventKind.IMBALANCE),
}

#: ``int64[256]``: message length by type byte, 0 for a byte that is not an ITCH 5.0 type.
#: Compiled code reads it as a constant.
MSG_LEN = np.zeros(256, np.int64)
for _letter, _length in MESSAGE_LENGTHS.items():
    MSG_LEN[ord(_letter)] = _length
MSG_LEN.flags.writeable = False

MAX_MESSAGE_BYTES = max(MESSAGE_LENGTHS.values())  # 50 (NOII)


def pack_alpha(text: str | bytes) -> int:
    """Alpha field bytes read as one big-endian integer, as records carry them."""
    data = text.encode("ascii") if isinstance(text, str) else bytes(text)
    return int.from_bytes(data, "big")


def unpack_alpha(value: int, size: int) -> str:
    """The ``size``-byte alpha text of a packed value, trailing spaces removed."""
    return (int(value) & ((1 << (8 * size)) - 1)).to_bytes(size, "big").decode("ascii").rstrip()
