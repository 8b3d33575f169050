"""Compiled LOBSTER message-file parser: CSV lines in, ``MARKET_EVENT_DTYPE`` records out.

A LOBSTER message line has six comma-separated columns::

    time,type,order_id,size,price,direction
    34200.017459617,1,11885113,21,2238100,1

``time`` is seconds after midnight with up to nine decimals; it becomes ``exchange_ns``
by integer arithmetic on the digits (never through a float, which cannot hold
nanoseconds at this magnitude). ``price`` is already in ticks of 1/10,000. Mapping of the
event type (``LOBSTER_TYPE_NAMES``) to records:

====  ================================  ==========  ===============================
type  meaning                           ``kind``    notes
====  ================================  ==========  ===============================
1     new limit order                   ADD
2     partial cancel                    CANCEL      ``qty`` = shares cancelled
3     deletion                          DELETE      ``qty`` = shares deleted
4     execution of a visible order      EXECUTE     ``qty`` = shares executed
5     execution of a hidden order       TRADE       ``flags`` = ``FLAG_HIDDEN``
6     cross trade (auction)             TRADE       ``flags`` = ``FLAG_CROSS``
7     trading halt indicator            STATUS      ``price`` = ``HALT`` / ``QUOTE_RESUME``
                                                    / ``TRADING_RESUME``
====  ================================  ==========  ===============================

Neither flagged TRADE may change visible depth: a hidden order never was in the visible
book, and LOBSTER has already applied the executions a cross trade aggregates.

:func:`parse_lines` parses ``buf[pos:end]`` into ``out[n:]`` and stops when ``out`` is
full or no complete line is left, returning ``(pos, n)``; the caller keeps the tail and
calls again with more bytes, or with ``final=True`` at the end of the stream (a last line
without a newline is then parsed as a line). Every line gets the next ``seq`` (its 1-based
line number) and is either a record or quarantined: BAD_FIELD (wrong column count, not a
number, bad direction, impossible halt code, time finer than 1 ns), UNKNOWN_TYPE (a type
other than 1–7) or BAD_LENGTH (a line longer than ``MAX_LINE`` bytes, whose rest is then
skipped up to its newline). ``state`` carries the stream offset, line count and byte
counts between calls so that the caller can check that every byte is accounted for.
"""

from __future__ import annotations

import numpy as np

from lowlat.core.jit import hot_kernel, hot_kernel_inline
from lowlat.core.records import EventKind, Side
from lowlat.feeds.kernels import write_event
from lowlat.feeds.quarantine import ErrorKind
from lowlat.feeds.quarantine_kernels import reject

__all__ = [
    "FLAG_CROSS",
    "FLAG_HIDDEN",
    "HALT",
    "LOBSTER_TYPE_NAMES",
    "MAX_LINE",
    "N_STATE",
    "QUOTE_RESUME",
    "ST_BASE",
    "ST_DECODED_BYTES",
    "ST_LINES",
    "ST_QUARANTINED_BYTES",
    "ST_SKIPPING",
    "TRADING_RESUME",
    "parse_lines",
]

#: ``flags`` of a TRADE from a type-5 line: a hidden order executed; visible depth is unchanged.
FLAG_HIDDEN = 1
#: ``flags`` of a TRADE from a type-6 line: a cross (auction) trade; its executions are
#: already in the book, so it must not change depth either.
FLAG_CROSS = 2

#: ``price`` of a STATUS record (type 7): trading halted.
HALT = -1
#: ``price`` of a STATUS record: quoting resumes (trading still halted).
QUOTE_RESUME = 0
#: ``price`` of a STATUS record: trading resumes.
TRADING_RESUME = 1

#: Event type number → name, as reported by ``file_stats`` counts.
LOBSTER_TYPE_NAMES = {
    1: "submission",
    2: "cancellation",
    3: "deletion",
    4: "execution_visible",
    5: "execution_hidden",
    6: "cross_trade",
    7: "trading_halt",
}

#: Longest line accepted, newline excluded (a carriage return before it counts); real lines
#: are under 80 bytes. A caller's buffer must hold ``MAX_LINE`` carried bytes in front of
#: each chunk.
MAX_LINE = 256

# columns of the int64 ``state`` array kept between calls
ST_BASE = 0  # stream offset of buf[0]
ST_LINES = 1  # lines seen so far (= seq of the last line)
ST_DECODED_BYTES = 2  # bytes (newlines included) of lines that became records
ST_QUARANTINED_BYTES = 3  # bytes of quarantined lines
ST_SKIPPING = 4  # 1 while skipping the rest of an overlong line
N_STATE = 5

_OK = -1
_BAD_FIELD = int(ErrorKind.BAD_FIELD)
_UNKNOWN_TYPE = int(ErrorKind.UNKNOWN_TYPE)
_BAD_LENGTH = int(ErrorKind.BAD_LENGTH)

_NL = 10
_CR = 13
_COMMA = 44
_DOT = 46
_MINUS = 45
_ZERO = 48
_MAX_DIGITS = 18  # any 18-digit number fits in int64
_MAX_SECOND_DIGITS = 9  # 999_999_999 s in ns still fits in int64
_NS_DIGITS = 9

_KINDS = np.array(
    [
        EventKind.NONE,
        EventKind.ADD,
        EventKind.CANCEL,
        EventKind.DELETE,
        EventKind.EXECUTE,
        EventKind.TRADE,
        EventKind.TRADE,
        EventKind.STATUS,
    ],
    np.uint8,
)
_FLAGS = np.array([0, 0, 0, 0, 0, FLAG_HIDDEN, FLAG_CROSS, 0], np.uint8)
_POW10 = np.array([10**k for k in range(_NS_DIGITS + 1)], np.int64)
_BUY = np.uint8(Side.BUY)
_SELL = np.uint8(Side.SELL)


@hot_kernel_inline
def _digits(buf: np.ndarray, p: int, e: int, most: int) -> tuple[np.int64, int, bool]:
    """Unsigned decimal at ``buf[p:e]``: ``(value, end, ok)``; ok if 1..``most`` digits."""
    value = np.int64(0)
    start = p
    while p < e and _ZERO <= buf[p] <= _ZERO + 9:
        if p - start < most:
            value = value * 10 + np.int64(buf[p] - _ZERO)
        p += 1
    count = p - start
    return value, p, 1 <= count <= most


@hot_kernel_inline
def _signed(buf: np.ndarray, p: int, e: int) -> tuple[np.int64, int, bool]:
    """Decimal with an optional leading ``-``: ``(value, end, ok)``."""
    if p < e and buf[p] == _MINUS:
        value, p, ok = _digits(buf, p + 1, e, _MAX_DIGITS)
        return -value, p, ok
    return _digits(buf, p, e, _MAX_DIGITS)


@hot_kernel_inline
def _time_ns(buf: np.ndarray, p: int, e: int) -> tuple[np.int64, int, bool]:
    """``seconds[.fraction]`` as integer nanoseconds: ``(ns, end, ok)``.

    Digits past the ninth decimal are accepted only if they are zeros (exactness).
    """
    seconds, p, ok = _digits(buf, p, e, _MAX_SECOND_DIGITS)
    ns = seconds * _POW10[_NS_DIGITS]
    if not ok or p >= e or buf[p] != _DOT:
        return ns, p, ok
    p += 1
    start = p
    fraction = np.int64(0)
    while p < e and _ZERO <= buf[p] <= _ZERO + 9:
        digit = np.int64(buf[p] - _ZERO)
        if p - start < _NS_DIGITS:
            fraction = fraction * 10 + digit
        elif digit != 0:
            ok = False
        p += 1
    count = p - start
    if count == 0:
        ok = False
    elif count < _NS_DIGITS:
        fraction *= _POW10[_NS_DIGITS - count]
    return ns + fraction, p, ok


@hot_kernel_inline
def _comma(buf: np.ndarray, p: int, e: int) -> bool:
    return p < e and buf[p] == _COMMA


@hot_kernel
def parse_line(
    buf: np.ndarray, s: int, e: int, out: np.ndarray, n: int, seq: int, instrument: int
) -> tuple[int, int]:
    """Parse the line ``buf[s:e]`` (no newline) into ``out[n]``.

    Returns ``(status, type)``: status -1 with the LOBSTER type (1–7) when ``out[n]`` was
    written, otherwise the :class:`~lowlat.feeds.quarantine.ErrorKind` to quarantine the
    line with (``out[n]`` is then left untouched).
    """
    ns, p, ok = _time_ns(buf, s, e)
    if not ok or not _comma(buf, p, e):
        return _BAD_FIELD, 0
    event, p, ok = _digits(buf, p + 1, e, _MAX_DIGITS)
    if not ok or not _comma(buf, p, e):
        return _BAD_FIELD, 0
    if event < 1 or event > 7:
        return _UNKNOWN_TYPE, 0
    order_id, p, ok = _signed(buf, p + 1, e)
    if not ok or not _comma(buf, p, e):
        return _BAD_FIELD, 0
    size, p, ok = _digits(buf, p + 1, e, _MAX_DIGITS)
    if not ok or not _comma(buf, p, e):
        return _BAD_FIELD, 0
    price, p, ok = _signed(buf, p + 1, e)
    if not ok or not _comma(buf, p, e):
        return _BAD_FIELD, 0
    direction, p, ok = _signed(buf, p + 1, e)
    if not ok or p != e or (direction != 1 and direction != -1):
        return _BAD_FIELD, 0
    if event == 7 and (price < HALT or price > TRADING_RESUME):
        return _BAD_FIELD, 0
    side = _BUY if direction == 1 else _SELL
    write_event(
        out, n, seq, 0, ns, order_id, price, size, 0, instrument, _KINDS[event], side,
        _FLAGS[event],
    )  # fmt: skip
    return _OK, int(event)


@hot_kernel
def parse_lines(
    buf: np.ndarray,
    pos: int,
    end: int,
    final: bool,
    out: np.ndarray,
    n: int,
    instrument: int,
    type_counts: np.ndarray,
    q_counts: np.ndarray,
    q_samples: np.ndarray,
    q_meta: np.ndarray,
    state: np.ndarray,
) -> tuple[int, int]:
    """Parse the message lines in ``buf[pos:end]`` into ``out[n:]``; return ``(pos, n)``.

    ``type_counts[t]`` counts parsed lines of LOBSTER type ``t``; bad lines go to the
    quarantine arrays with their line number as sequence. See the module docstring.
    """
    cap = out.shape[0]
    base = state[ST_BASE]
    while n < cap:
        if state[ST_SKIPPING]:
            i = pos
            while i < end and buf[i] != _NL:
                i += 1
            if i == end:
                state[ST_QUARANTINED_BYTES] += end - pos
                pos = end
                break
            state[ST_QUARANTINED_BYTES] += i + 1 - pos
            state[ST_SKIPPING] = 0
            pos = i + 1
            continue
        if pos >= end:
            break
        limit = min(end, pos + MAX_LINE + 1)
        i = pos
        while i < limit and buf[i] != _NL:
            i += 1
        if i < limit:  # found the newline
            stop = i
            used = i + 1 - pos
        elif i - pos > MAX_LINE:
            state[ST_LINES] += 1
            reject(
                q_counts, q_samples, q_meta, _BAD_LENGTH, buf, pos, i - pos, base + pos,
                state[ST_LINES],
            )  # fmt: skip
            state[ST_QUARANTINED_BYTES] += i - pos
            state[ST_SKIPPING] = 1
            pos = i
            continue
        elif final:
            stop = end
            used = end - pos
        else:
            break  # the line continues in the next chunk
        state[ST_LINES] += 1
        seq = state[ST_LINES]
        content = stop - 1 if stop > pos and buf[stop - 1] == _CR else stop
        status, event = parse_line(buf, pos, content, out, n, seq, instrument)
        if status == _OK:
            type_counts[event] += 1
            state[ST_DECODED_BYTES] += used
            n += 1
        else:
            reject(q_counts, q_samples, q_meta, status, buf, pos, stop - pos, base + pos, seq)
            state[ST_QUARANTINED_BYTES] += used
        pos += used
    return pos, n
