"""Compiled Binance depthUpdate scanner and exact decimal parsing. Hot path.

:func:`scan_depth` decodes a batch of raw ``depthUpdate`` messages, joined into one byte
buffer, straight into ``MARKET_EVENT_DTYPE`` records in one pass, without building a JSON
object. It accepts only the canonical shape and leaves everything else to the orjson
path, which stays the authority on what to quarantine: a message the scanner is not sure
about is reported as not accepted and gets no record, never a wrong one and never a reject.

Canonical message: one JSON object, optionally inside a combined-stream envelope
``{"stream": "...", "data": {...}}`` (these two keys, in this order), holding the keys
``e`` (exactly ``"depthUpdate"``), ``E``, ``s``, ``U``, ``u``, ``b`` and ``a``, optionally
``pu`` and futures' ``T``, each once, and no other key. Keys come in any order, except
that ``s`` precedes ``b`` and ``b`` precedes ``a``, as Binance sends them: levels are then
converted as they are read. Ids are JSON integers without sign, below ``2**63`` (``E``
small enough for its nanoseconds to fit an int64); strings are printable ASCII without
escapes; ``s`` is in the symbol table; every level is a pair of decimal strings that
:func:`parse_decimals` accepts at the symbol's scale. JSON whitespace may surround tokens.
"""

from __future__ import annotations

import numpy as np

from lowlat.core.jit import hot_kernel
from lowlat.core.records import EventKind, Side
from lowlat.feeds.kernels import write_event

__all__ = ["parse_decimals", "scan_depth", "symbol_hash"]

_INT64_MAX = 9_223_372_036_854_775_807
_TENTH = _INT64_MAX // 10  # a value above this (or at it, before a digit above
_LAST_DIGIT = _INT64_MAX % 10  # this one) overflows when one more digit comes
_POW10 = 10 ** np.arange(19, dtype=np.int64)
_SCALABLE = _INT64_MAX // _POW10  # the largest value that 10**i can scale
_MAX_TIME_MS = _INT64_MAX // 1_000_000  # later exchange times overflow as nanoseconds
_NO_ID = -1
_SEPARATOR = 32  # space: never inside a decimal string, so joined fields stay aligned
_QUOTE = 34
_COMMA = 44
_DOT = 46
_COLON = 58
_OPEN_LIST = 91
_BACKSLASH = 92
_CLOSE_LIST = 93
_OPEN_OBJECT = 123
_CLOSE_OBJECT = 125
_QUOTE_KIND = np.uint8(EventKind.QUOTE)
_BUY = np.uint8(Side.BUY)
_SELL = np.uint8(Side.SELL)

# keys of a depth object: bit positions in the mask of keys seen
_EVENT, _TIME, _SYMBOL, _FIRST, _FINAL, _PREV, _BIDS, _ASKS, _TRANSACT = range(9)
_REQUIRED = sum(1 << k for k in (_EVENT, _TIME, _SYMBOL, _FIRST, _FINAL, _BIDS, _ASKS))
_KEY_OF_LETTER = np.full(128, -1, np.int64)  # one-letter keys; "pu" is the only longer one
_KEY_OF_LETTER[np.frombuffer(b"eEsUubaT", np.uint8)] = (
    _EVENT, _TIME, _SYMBOL, _FIRST, _FINAL, _BIDS, _ASKS, _TRANSACT,
)  # fmt: skip
_DEPTH_UPDATE = np.frombuffer(b"depthUpdate", np.uint8)
_STREAM = np.frombuffer(b"stream", np.uint8)
_DATA = np.frombuffer(b"data", np.uint8)
# a message that is not canonical: (position -1, E, U, u, pu, symbol row, records end)
_NOT_CANONICAL = (-1, 0, 0, 0, _NO_ID, -1, 0)


@hot_kernel
def _decimal(buf: np.ndarray, start: int, end: int, exp: int) -> tuple[int, int]:
    """``(stop, value * 10**exp)`` of the unsigned decimal at ``buf[start]``.

    The number runs over digits and at most one dot, to ``stop``: the first other byte,
    or ``end``; the caller checks that its terminator is there. ``stop`` is -1 when the
    number is empty or a lone dot, has a non-zero digit beyond ``exp`` decimals (not a
    whole tick) or does not fit an int64.
    """
    value = 0
    k = start
    while k < end:  # the whole part
        d = int(buf[k]) - 48
        if d < 0 or d > 9:
            break
        if value >= _TENTH and (value > _TENTH or d > _LAST_DIGIT):
            return -1, 0
        value = value * 10 + d
        k += 1
    decimals = 0
    if k < end and buf[k] == _DOT:
        k += 1
        first_decimal = k
        kept = min(end, k + exp)
        while k < kept:
            d = int(buf[k]) - 48
            if d < 0 or d > 9:
                break
            if value >= _TENTH and (value > _TENTH or d > _LAST_DIGIT):
                return -1, 0
            value = value * 10 + d
            k += 1
        decimals = k - first_decimal
        if k == kept:
            while k < end and buf[k] == 48:  # zeros beyond the scale are allowed
                k += 1
        if k == start + 1:
            return -1, 0  # a lone dot
    elif k == start:
        return -1, 0  # empty
    shift = max(exp - decimals, 0)
    if shift >= _POW10.shape[0]:
        return (k, 0) if value == 0 else (-1, 0)
    if value > _SCALABLE[shift]:
        return -1, 0
    return k, value * _POW10[shift]


@hot_kernel
def parse_decimals(buf: np.ndarray, exps: np.ndarray, out: np.ndarray, bad: np.ndarray) -> int:
    """Parse space-separated unsigned decimals in ``buf`` to ``value * 10**exps[i]``.

    Field ``i`` is written to ``out[i]``; ``bad[i]`` is set when it is empty, holds
    anything but digits and one dot, has a non-zero digit beyond ``exps[i]`` decimals (not
    a whole tick) or does not fit an int64. Returns the number of fields in ``buf``; fields
    beyond ``exps.shape[0]`` are counted, not parsed, so a caller can spot a misalignment.
    """
    n = buf.shape[0]
    field = 0
    pos = 0
    limit = exps.shape[0]
    while True:
        end = pos
        while end < n and buf[end] != _SEPARATOR:
            end += 1
        if field < limit:
            stop, value = _decimal(buf, pos, end, exps[field])
            out[field] = value if stop == end else 0
            bad[field] = stop != end
        field += 1
        if end >= n:
            return field
        pos = end + 1


@hot_kernel
def symbol_hash(data: np.ndarray, start: int, end: int) -> int:
    """31-bit hash of ``data[start:end]``, the same compiled and interpreted."""
    h = 0
    for k in range(start, end):
        h = (h * 31 + int(data[k])) & 0x7FFFFFFF
    return h


@hot_kernel
def _find_symbol(
    buf: np.ndarray,
    start: int,
    end: int,
    names: np.ndarray,
    name_lengths: np.ndarray,
    slots: np.ndarray,
) -> int:
    """Row of the symbol ``buf[start:end]`` in the table, or -1 if it is not there."""
    length = end - start
    mask = slots.shape[0] - 1
    slot = symbol_hash(buf, start, end) & mask
    for _ in range(slots.shape[0]):
        row = slots[slot]
        if row < 0:
            return -1
        if name_lengths[row] == length:
            same = True
            for k in range(length):
                if names[row, k] != buf[start + k]:
                    same = False
                    break
            if same:
                return row
        slot = (slot + 1) & mask
    return -1


# Scanning helpers take and return positions in ``buf``; -1 means "not canonical" and
# passes through every helper, so that a chain of steps needs one check at its end.


@hot_kernel
def _skip_space(buf: np.ndarray, p: int, end: int) -> int:
    """First position at or after ``p`` that is not JSON whitespace (``end`` if none)."""
    if p < 0:
        return -1
    while p < end:
        c = buf[p]
        if c != 32 and c != 10 and c != 13 and c != 9:
            return p
        p += 1
    return end


@hot_kernel
def _after(buf: np.ndarray, p: int, end: int, token: int) -> int:
    """Position after the byte ``token`` at ``p`` and the whitespace behind it."""
    if p < 0 or p >= end or buf[p] != token:
        return -1
    return _skip_space(buf, p + 1, end)


@hot_kernel
def _string_end(buf: np.ndarray, p: int, end: int) -> int:
    """Closing quote of the string opening at ``p``: printable ASCII, no escape."""
    if p < 0 or p >= end or buf[p] != _QUOTE:
        return -1
    for k in range(p + 1, end):
        c = buf[k]
        if c == _QUOTE:
            return k
        if c < 32 or c > 126 or c == _BACKSLASH:
            return -1
    return -1


@hot_kernel
def _after_string(buf: np.ndarray, p: int, end: int) -> int:
    """Position after the string at ``p`` and the whitespace behind it."""
    close = _string_end(buf, p, end)
    return _skip_space(buf, close + 1, end) if close >= 0 else -1


@hot_kernel
def _is_word(buf: np.ndarray, start: int, end: int, word: np.ndarray) -> bool:
    """Whether ``buf[start:end]`` is ``word``."""
    if start < 0 or end - start != word.shape[0]:
        return False
    k = 0
    while k < word.shape[0] and buf[start + k] == word[k]:
        k += 1
    return k == word.shape[0]


@hot_kernel
def _integer(buf: np.ndarray, p: int, end: int) -> tuple[int, int]:
    """``(position after, value)`` of the JSON integer at ``p``: no sign, below 2**63.

    A leading zero ends the number, so that ``01`` fails where the caller expects a
    separator, as do a fraction and an exponent.
    """
    if p < 0 or p >= end or buf[p] < 48 or buf[p] > 57:
        return -1, 0
    if buf[p] == 48:
        return p + 1, 0
    value = 0
    while p < end and 48 <= buf[p] <= 57:
        d = int(buf[p]) - 48
        if value >= _TENTH and (value > _TENTH or d > _LAST_DIGIT):
            return -1, 0
        value = value * 10 + d
        p += 1
    return p, value


@hot_kernel
def _quoted_decimal(buf: np.ndarray, p: int, end: int, exp: int) -> tuple[int, int]:
    """``(position after, value)`` of the decimal string at ``p`` (see :func:`_decimal`)."""
    if p < 0 or p >= end or buf[p] != _QUOTE:
        return -1, 0
    stop, value = _decimal(buf, p + 1, end, exp)
    if stop < 0 or stop >= end or buf[stop] != _QUOTE:
        return -1, 0
    return stop + 1, value


@hot_kernel
def _levels(
    buf: np.ndarray,
    p: int,
    end: int,
    price_exp: int,
    qty_exp: int,
    side: int,
    out: np.ndarray,
    n: int,
) -> tuple[int, int]:
    """Parse the list ``[["price","qty"], ...]`` at ``p`` into ``out[n:]``.

    Writes price, qty and side of each level; returns the position after the list and
    the new record count (position -1 if the list is not canonical or ``out`` is full).
    """
    p = _after(buf, p, end, _OPEN_LIST)
    if p >= 0 and p < end and buf[p] == _CLOSE_LIST:
        return p + 1, n
    while p >= 0:
        if n >= out.shape[0]:
            return -1, n
        p, price = _quoted_decimal(buf, _after(buf, p, end, _OPEN_LIST), end, price_exp)
        p = _after(buf, _skip_space(buf, p, end), end, _COMMA)
        p, qty = _quoted_decimal(buf, p, end, qty_exp)
        p = _after(buf, _skip_space(buf, p, end), end, _CLOSE_LIST)
        if p < 0 or p >= end:
            return -1, n
        level = out[n]
        level["price"] = price
        level["qty"] = qty
        level["side"] = side
        n += 1
        if buf[p] == _CLOSE_LIST:
            return p + 1, n
        p = _after(buf, p, end, _COMMA)
    return -1, n


@hot_kernel
def _depth_object(
    buf: np.ndarray,
    p: int,
    end: int,
    names: np.ndarray,
    name_lengths: np.ndarray,
    specs: np.ndarray,
    slots: np.ndarray,
    out: np.ndarray,
    n: int,
) -> tuple[int, int, int, int, int, int, int]:
    """Read the canonical depth object at ``p`` (its ``{``), its levels into ``out[n:]``.

    Returns ``(position after the object, E, U, u, pu, symbol row, records end)``; the
    levels have price, qty and side written. Position -1: the object is not canonical.
    """
    seen = 0
    time_ms = first = final = 0
    prev = _NO_ID
    row = -1
    p = _after(buf, p, end, _OPEN_OBJECT)
    while True:
        key_end = _string_end(buf, p, end)
        if key_end < 0:
            return _NOT_CANONICAL
        key = -1
        if key_end == p + 2 and buf[p + 1] < 128:
            key = _KEY_OF_LETTER[buf[p + 1]]
        elif key_end == p + 3 and buf[p + 1] == 112 and buf[p + 2] == 117:  # "pu"
            key = _PREV
        if key < 0 or seen & (1 << key):
            return _NOT_CANONICAL
        seen |= 1 << key
        p = _after(buf, _skip_space(buf, key_end + 1, end), end, _COLON)
        if key == _EVENT:
            value_end = _string_end(buf, p, end)
            p = _after_string(buf, p, end) if _is_word(buf, p + 1, value_end, _DEPTH_UPDATE) else -1
        elif key == _SYMBOL:
            value_end = _string_end(buf, p, end)
            if value_end >= 0:
                row = _find_symbol(buf, p + 1, value_end, names, name_lengths, slots)
            p = _after_string(buf, p, end) if row >= 0 else -1
        elif key in (_BIDS, _ASKS):
            if row < 0 or (key == _BIDS and seen & (1 << _ASKS)):
                return _NOT_CANONICAL  # levels before the symbol, or asks before bids
            side = _BUY if key == _BIDS else _SELL
            p, n = _levels(buf, p, end, specs[row, 1], specs[row, 2], side, out, n)
        else:
            p, value = _integer(buf, p, end)
            if key == _TIME:
                time_ms = value
            elif key == _FIRST:
                first = value
            elif key == _FINAL:
                final = value
            elif key == _PREV:
                prev = value
        p = _skip_space(buf, p, end)
        if p < 0 or p >= end:
            return _NOT_CANONICAL
        if buf[p] == _CLOSE_OBJECT:
            break
        p = _after(buf, p, end, _COMMA)
    if seen & _REQUIRED != _REQUIRED or time_ms > _MAX_TIME_MS:
        return _NOT_CANONICAL
    return p + 1, time_ms, first, final, prev, row, n


@hot_kernel
def _message(
    buf: np.ndarray,
    start: int,
    end: int,
    names: np.ndarray,
    name_lengths: np.ndarray,
    specs: np.ndarray,
    slots: np.ndarray,
    out: np.ndarray,
    n: int,
) -> tuple[int, int, int, int, int, int, int]:
    """:func:`_depth_object` of the message ``buf[start:end]``, unwrapped from its envelope.

    The position is ``end`` when the whole message is canonical, -1 otherwise.
    """
    p = _skip_space(buf, start, end)
    inner = _after(buf, p, end, _OPEN_OBJECT)
    key_end = _string_end(buf, inner, end)
    wrapped = _is_word(buf, inner + 1, key_end, _STREAM)
    if wrapped:
        p = _after(buf, _skip_space(buf, key_end + 1, end), end, _COLON)
        p = _after(buf, _after_string(buf, p, end), end, _COMMA)
        key_end = _string_end(buf, p, end)
        if not _is_word(buf, p + 1, key_end, _DATA):
            return _NOT_CANONICAL
        p = _after(buf, _skip_space(buf, key_end + 1, end), end, _COLON)
    fields = _depth_object(buf, p, end, names, name_lengths, specs, slots, out, n)
    after = _skip_space(buf, fields[0], end)
    if wrapped:
        after = _after(buf, after, end, _CLOSE_OBJECT)
    if after != end:
        return _NOT_CANONICAL
    return fields


@hot_kernel
def scan_depth(
    buf: np.ndarray,
    ends: np.ndarray,
    recv_ns: np.ndarray,
    names: np.ndarray,
    name_lengths: np.ndarray,
    specs: np.ndarray,
    slots: np.ndarray,
    out: np.ndarray,
    accepted: np.ndarray,
    instrument: np.ndarray,
    first_id: np.ndarray,
    final_id: np.ndarray,
    prev_id: np.ndarray,
    start: np.ndarray,
    stop: np.ndarray,
) -> tuple[int, int]:
    """Decode the canonical depthUpdate messages of a batch; report the others.

    Parameters
    ----------
    buf, ends
        The messages joined, and where each ends: message ``i`` is
        ``buf[ends[i - 1]:ends[i]]`` (from 0 for the first).
    recv_ns
        Receive time of each message.
    names, name_lengths, specs, slots
        The symbol table: ``names[row, :name_lengths[row]]`` are a symbol's bytes and
        ``specs[row]`` its ``(instrument, price exponent, qty exponent)``; ``slots`` (a
        power of two long) indexes rows by :func:`symbol_hash`, with linear probing and
        -1 where empty.
    out
        ``MARKET_EVENT_DTYPE`` records: one QUOTE per level, bids (BUY) then asks (SELL),
        ``seq`` = ``u``, ``aux`` = ``U``, ``exchange_ns`` = ``E`` in nanoseconds. A
        message whose levels do not fit is refused.
    accepted, instrument, first_id, final_id, prev_id, start, stop
        Per message: whether it was canonical and decoded, its instrument, ``U``, ``u``,
        ``pu`` (-1 where absent) and its records ``out[start:stop]``. A refused message
        gets no record, instrument 0 and ids -1.

    Returns
    -------
    tuple of int
        ``(records written, messages accepted)``.
    """
    n = 0
    taken = 0
    begin = 0
    for i in range(ends.shape[0]):
        end = ends[i]
        after, time_ms, first, final, prev, row, levels_end = _message(
            buf, begin, end, names, name_lengths, specs, slots, out, n
        )
        begin = end
        ok = after >= 0
        accepted[i] = ok
        start[i] = n
        if ok:
            taken += 1
            instrument[i] = specs[row, 0]
            first_id[i] = first
            final_id[i] = final
            prev_id[i] = prev
            for k in range(n, levels_end):
                level = out[k]
                write_event(
                    out, k, final, recv_ns[i], time_ms * 1_000_000, 0, level["price"],
                    level["qty"], first, specs[row, 0], _QUOTE_KIND, level["side"], 0,
                )  # fmt: skip
            n = levels_end
        else:
            instrument[i] = 0
            first_id[i] = _NO_ID
            final_id[i] = _NO_ID
            prev_id[i] = _NO_ID
        stop[i] = n
    return n, taken
