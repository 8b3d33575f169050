r"""Compiled FIX 4.4 market-data decoder: framing, validation and W/X decoding. Hot path.

:func:`decode` takes a ``uint8`` buffer holding any number of concatenated FIX messages
and turns the complete ones into ``MARKET_EVENT_DTYPE`` records. It never allocates,
never creates a Python object per message and never raises on bad bytes: every byte of
the buffer ends up in exactly one of three counters (``S_PARSED_BYTES`` for decoded
market-data messages, ``S_SKIPPED_BYTES`` for session and other messages, duplicates and
the ``\n``/``\r`` separators between messages, ``S_QUARANTINED_BYTES`` for everything
rejected), so that ``parsed + skipped + quarantined == consumed`` always holds.

Framing
-------
A message is ``8=FIX.4.4␁9=<len>␁<body>10=<ccc>␁`` where ``<len>`` counts the bytes from
after the BodyLength field's SOH up to and including the SOH before ``10=``, and ``<ccc>``
is the sum of every byte before ``10=``, modulo 256, as three digits.

* Bytes that do not start with ``8=FIX.4.4␁`` are a garbage run up to the next header:
  one BAD_FIELD reject per run. Decoding waits for the header that ends the run (up to
  ``MAX_MESSAGE`` bytes; a longer run is quarantined in pieces, still counted once).
* A missing or non-numeric BodyLength, or one that does not land on ``10=ccc␁``:
  BAD_BODY_LENGTH, the message reaching to the first ``␁10=ccc␁`` after its body start.
  If another header comes first, the message was cut short: TRUNCATED up to that header.
* A well-framed message whose checksum differs (or is not three digits): BAD_CHECKSUM.
* At the end of the stream (``final``), an incomplete message is TRUNCATED. Before the
  end, decoding stops at the incomplete message and returns its offset, so the caller can
  append more bytes and call again; a message split anywhere decodes the same way.

Decoding
--------
MsgType(35) must be the first body field. Every framed message is counted in
``type_counts[code]`` (``code = 128 * c0 + c1``, ``c1 = 0`` for one-letter types; see
:func:`msg_type_code`); only ``W`` and ``X`` produce records, the rest are skipped.
Sequence numbers (MsgSeqNum 34) are tracked per session, keyed by the FNV-1a hashes of
SenderCompID(49) and TargetCompID(56), with a window of the last ``SEQ_WINDOW`` numbers:

* higher than expected → SEQUENCE_GAP, counted by the number of messages missing;
* lower, inside the window and already seen, or older than the window → DUPLICATE: the
  message is counted and skipped (its records would apply twice);
* lower, inside the window and not seen (a late gap fill) → OUT_OF_ORDER: decoded, its
  records carry ``FLAG_LATE``.

SequenceReset(4) moves the expected number to NewSeqNo(36); Logon(A) with
ResetSeqNumFlag(141)=Y restarts the session at its own MsgSeqNum. A quarantined message
does not advance its session, so the gap it leaves is counted too (its data is missing).

Record mapping (one record per NoMDEntries(268) entry)
-------------------------------------------------------
* ``seq`` = MsgSeqNum, ``recv_ns`` = the caller's receive time, ``exchange_ns`` =
  SendingTime(52) as UTC nanoseconds (``YYYYMMDD-HH:MM:SS`` with 0, 3, 6 or 9 decimals;
  any other form is BAD_FIELD; absent → 0).
* ``instrument`` = the symbol's id in the symbol table (see below). Symbol(55) may appear
  before the group (the W form) or inside an entry (the X form); an entry without its own
  Symbol takes the latest one seen in the message; none at all is BAD_FIELD.
* ``order_id`` = MDEntryID(278): the number itself when it is 1–18 decimal digits, else
  the 64-bit FNV-1a hash of its bytes (as signed int64; a hash may collide with a
  numeric id — venues use one form or the other). Absent → 0.
* ``price`` = MDEntryPx(270) in ticks of 1/``PRICE_SCALE``; ``qty`` = MDEntrySize(271)
  (absent → 0). More decimals than a tick resolves, a fractional size, a sign on a size,
  or any non-numeric byte is BAD_FIELD; trailing zeros are fine (``1.23450``).
* W entries → SNAPSHOT; the first record of every W has ``FLAG_BOOK_START``: the
  symbol's book starts afresh there. A W without bid/offer entries emits one SNAPSHOT
  with side NONE and qty 0 so that the book is still cleared.
* X: MDUpdateAction(279) 0/1/2 → ADD/REPLACE/DELETE; MDEntryType(269) 2 → TRADE
  whatever the action. REPLACE with MDEntryRefID(280): ``order_id`` = the old id (280),
  ``aux`` = the new one (278), as ITCH's replace; without it both are MDEntryID.
* MDEntryType 0 → Side.BUY, 1 → Side.SELL, 2 → trade (side NONE). The other FIX 4.4
  values (3–9, A–C: index, open/close/settlement prices, volume, …) carry no book data:
  the entry is skipped and counted in ``S_IGNORED_ENTRIES`` (trades in a W, the last
  trade of the snapshot, likewise). Any other value is BAD_FIELD. X entries need 269
  except deletes; every action other than delete needs a price.
* The last record of a message has ``FLAG_LAST_IN_MESSAGE`` (a book may publish there).

Symbol table
------------
Control code owns ``symbols`` (``uint8[capacity, SYMBOL_BYTES]``), ``symbol_lengths``
(``int32[capacity]``) and ``symbol_index`` (``int32[buckets]``, a power of two,
open addressing on FNV-1a, -1 = empty); ``stats[S_SYMBOLS]`` is how many are in use. With
``learn`` an unknown symbol gets the next id; without it, or when the table or the
symbol (more than ``SYMBOL_BYTES``) is too big, the message is BAD_FIELD.
"""

from __future__ import annotations

import numpy as np

from lowlat.core.jit import hot_kernel, hot_kernel_inline
from lowlat.core.records import PRICE_SCALE, EventKind, Side
from lowlat.feeds.kernels import write_event
from lowlat.feeds.quarantine import ErrorKind
from lowlat.feeds.quarantine_kernels import flag, reject

# stats[] slots
S_CONSUMED = 0  # bytes consumed over all calls: the stream offset of data[0]
S_MESSAGES = 1  # framed messages with a valid checksum, any type (duplicates included)
S_MARKET_MESSAGES = 2  # W and X messages decoded into records
S_ENTRIES = 3  # records emitted
S_IGNORED_ENTRIES = 4  # group entries with no book meaning (see the module docstring)
S_PARSED_BYTES = 5
S_SKIPPED_BYTES = 6
S_QUARANTINED_BYTES = 7
S_IN_GARBAGE = 8  # 1 while a garbage run continues past the end of the buffer
S_SYMBOLS = 9  # symbols in the table
S_SESSIONS = 10  # sessions being tracked
S_UNTRACKED = 11  # messages of sessions beyond the session table (not sequence-checked)
N_STATS = 12

# sessions[] columns
SESSION_SENDER = 0  # FNV-1a of SenderCompID
SESSION_TARGET = 1  # FNV-1a of TargetCompID
SESSION_NEXT = 2  # next expected MsgSeqNum
SESSION_SEEN = 3  # bit i: MsgSeqNum NEXT - 1 - i was seen
SESSION_COLUMNS = 4

SEQ_WINDOW = 62  # sequence numbers remembered per session (bits kept in an int64)
_WINDOW_MASK = (1 << SEQ_WINDOW) - 1

# record flags
FLAG_BOOK_START = 1  # first record of a W: the instrument's book starts afresh
FLAG_LAST_IN_MESSAGE = 2  # last record of a message
FLAG_LATE = 4  # from an OUT_OF_ORDER message (a late gap fill)

SYMBOL_BYTES = 16
MAX_BODY_LENGTH = 1 << 20  # a longer BodyLength is a lie; such messages are resynchronized
MAX_MESSAGE = MAX_BODY_LENGTH + 64  # most bytes decode waits for to complete one message
TYPE_CODES = 128 * 128

_SOH = 1
_HEADER = (56, 61, 70, 73, 88, 46, 52, 46, 52, 1)  # b"8=FIX.4.4\x01"
_HEADER_LEN = 10

# internal results
_NO = 0
_YES = 1
_MORE = 2
_OK = -1
_OUT_FULL = -2

_FNV_HI = 0xCBF29CE4  # FNV-1a 64 offset basis, split in 32-bit halves
_FNV_LO = 0x84222325
_MASK32 = 0xFFFFFFFF
_POW10 = (1, 10, 100, 1_000, 10_000)
_SCALE_DIGITS = 4  # PRICE_SCALE == 10 ** _SCALE_DIGITS
assert 10**_SCALE_DIGITS == PRICE_SCALE

_KIND_ADD = int(EventKind.ADD)
_KIND_REPLACE = int(EventKind.REPLACE)
_KIND_DELETE = int(EventKind.DELETE)
_KIND_TRADE = int(EventKind.TRADE)
_KIND_SNAPSHOT = int(EventKind.SNAPSHOT)
_BUY = int(Side.BUY)
_SELL = int(Side.SELL)
_NONE = int(Side.NONE)

_BAD_FIELD = int(ErrorKind.BAD_FIELD)
_TRUNCATED = int(ErrorKind.TRUNCATED)
_BAD_BODY_LENGTH = int(ErrorKind.BAD_BODY_LENGTH)
_BAD_CHECKSUM = int(ErrorKind.BAD_CHECKSUM)
_UNKNOWN_TYPE = int(ErrorKind.UNKNOWN_TYPE)
_SEQUENCE_GAP = int(ErrorKind.SEQUENCE_GAP)
_DUPLICATE = int(ErrorKind.DUPLICATE)
_OUT_OF_ORDER = int(ErrorKind.OUT_OF_ORDER)


def msg_type_code(msg_type: str) -> int:
    """The ``type_counts`` index of a one- or two-letter MsgType (control-side helper)."""
    raw = msg_type.encode("ascii")
    if not 1 <= len(raw) <= 2:
        raise ValueError(f"MsgType must have one or two letters, not {msg_type!r}")
    return 128 * raw[0] + (raw[1] if len(raw) == 2 else 0)


@hot_kernel_inline
def fnv1a(data: np.ndarray, start: int, end: int) -> int:
    """64-bit FNV-1a of ``data[start:end]`` as a signed int64.

    Computed in two 32-bit halves so that no step overflows: the same source gives the
    same number compiled and under ``NUMBA_DISABLE_JIT`` (the prime is 2**40 + 435).
    """
    hi = _FNV_HI
    lo = _FNV_LO
    for i in range(start, end):
        lo = lo ^ int(data[i])
        low = lo * 435
        hi = (hi * 435 + (low >> 32) + ((lo & 0xFFFFFF) << 8)) & _MASK32
        lo = low & _MASK32
    if hi >= 1 << 31:
        hi -= 1 << 32
    return (hi << 32) | lo


@hot_kernel_inline
def _header_at(data: np.ndarray, p: int, n: int) -> int:
    """_YES if ``data[p:]`` starts with the header, _MORE if it is a prefix of it, else _NO."""
    for k in range(_HEADER_LEN):
        if p + k >= n:
            return _MORE
        if int(data[p + k]) != _HEADER[k]:
            return _NO
    return _YES


@hot_kernel
def _next_header(data: np.ndarray, p: int, n: int) -> int:
    """Position of the first full header at or after ``p``, or -1."""
    for q in range(p, n - _HEADER_LEN + 1):
        if int(data[q]) == 56 and _header_at(data, q, n) == _YES:
            return q
    return -1


@hot_kernel
def _scan_end(data: np.ndarray, p: int, body_start: int, n: int) -> tuple[int, int]:
    """Where a message whose BodyLength is wrong really ends.

    Returns ``(_YES, end)`` for the first ``␁10=ddd␁`` (end just past it), ``(_NO, h)``
    when another header at ``h`` comes first (the message was cut short), or
    ``(_MORE, n)`` when the buffer ends before either.
    """
    q = max(body_start - 1, p + 1)
    while q < n:
        c = int(data[q])
        if c == _SOH and q + 1 < n and int(data[q + 1]) == 49:
            if q + 8 > n:
                return _MORE, n
            if (
                int(data[q + 2]) == 48
                and int(data[q + 3]) == 61
                and 48 <= int(data[q + 4]) <= 57
                and 48 <= int(data[q + 5]) <= 57
                and 48 <= int(data[q + 6]) <= 57
                and int(data[q + 7]) == _SOH
            ):
                return _YES, q + 8
        elif c == 56:
            h = _header_at(data, q, n)
            if h == _YES:
                return _NO, q
            if h == _MORE:
                return _MORE, n
        q += 1
    return _MORE, n


@hot_kernel_inline
def _parse_uint(data: np.ndarray, a: int, b: int) -> int:
    """Value of 1–18 decimal digits in ``data[a:b]``, or -1."""
    if b <= a or b - a > 18:
        return -1
    v = 0
    for i in range(a, b):
        d = int(data[i]) - 48
        if d < 0 or d > 9:
            return -1
        v = v * 10 + d
    return v


@hot_kernel_inline
def _parse_decimal(data: np.ndarray, a: int, b: int, digits: int, signed: bool) -> tuple[bool, int]:
    """``data[a:b]`` as an integer number of 10**-digits units: ``(ok, value)``.

    An optional leading ``-`` (when ``signed``), at least one digit, at most one ``.``;
    fraction digits beyond ``digits`` must be zeros (else the value is not exact). At most
    14 integer digits, so the scaled value fits an int64.
    """
    i = a
    negative = False
    if signed and i < b and int(data[i]) == 45:
        negative = True
        i += 1
    whole = 0
    n_whole = 0
    while i < b:
        d = int(data[i]) - 48
        if d < 0 or d > 9:
            break
        whole = whole * 10 + d
        n_whole += 1
        i += 1
    if n_whole > 14:
        return False, 0
    frac = 0
    n_frac = 0
    if i < b and int(data[i]) == 46:
        i += 1
        while i < b:
            d = int(data[i]) - 48
            if d < 0 or d > 9:
                return False, 0
            if n_frac < digits:
                frac = frac * 10 + d
            elif d != 0:
                return False, 0
            n_frac += 1
            i += 1
    if i != b or n_whole + n_frac == 0:
        return False, 0
    used = min(n_frac, digits)
    value = whole * _POW10[digits] + frac * _POW10[digits - used]
    return True, -value if negative else value


@hot_kernel_inline
def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@hot_kernel_inline
def _digits(data: np.ndarray, a: int, count: int) -> int:
    """Value of exactly ``count`` digits at ``a``, or -1."""
    v = 0
    for i in range(a, a + count):
        d = int(data[i]) - 48
        if d < 0 or d > 9:
            return -1
        v = v * 10 + d
    return v


@hot_kernel_inline
def _parse_utc_timestamp(data: np.ndarray, a: int, b: int) -> int:
    """UTCTimestamp ``YYYYMMDD-HH:MM:SS[.f{3,6,9}]`` as ns since the epoch, or -1."""
    length = b - a
    if length != 17 and length != 21 and length != 24 and length != 27:
        return -1
    if int(data[a + 8]) != 45 or int(data[a + 11]) != 58 or int(data[a + 14]) != 58:
        return -1
    year = _digits(data, a, 4)
    month = _digits(data, a + 4, 2)
    day = _digits(data, a + 6, 2)
    hour = _digits(data, a + 9, 2)
    minute = _digits(data, a + 12, 2)
    second = _digits(data, a + 15, 2)
    if year < 0 or month < 1 or month > 12 or day < 1 or day > 31:
        return -1
    if hour < 0 or hour > 23 or minute < 0 or minute > 59 or second < 0 or second > 60:
        return -1
    ns = 0
    if length > 17:
        if int(data[a + 17]) != 46:
            return -1
        frac = _digits(data, a + 18, length - 18)
        if frac < 0:
            return -1
        for _ in range(27 - length):
            frac *= 10
        ns = frac
    days = _days_from_civil(year, month, day)
    return ((days * 24 + hour) * 60 + minute) * 60_000_000_000 + second * 1_000_000_000 + ns


@hot_kernel_inline
def _symbol_id(
    data: np.ndarray,
    a: int,
    b: int,
    symbols: np.ndarray,
    symbol_lengths: np.ndarray,
    symbol_index: np.ndarray,
    stats: np.ndarray,
    learn: bool,
) -> int:
    """Id of the symbol ``data[a:b]``, learning it if allowed; -1 if unknown or too long."""
    length = b - a
    if length <= 0 or length > symbols.shape[1]:
        return -1
    mask = symbol_index.shape[0] - 1
    slot = fnv1a(data, a, b) & mask
    for _ in range(symbol_index.shape[0]):
        sid = symbol_index[slot]
        if sid < 0:
            break
        if symbol_lengths[sid] == length:
            same = True
            for k in range(length):
                if symbols[sid, k] != data[a + k]:
                    same = False
                    break
            if same:
                return sid
        slot = (slot + 1) & mask
    if not learn:
        return -1
    sid = stats[S_SYMBOLS]
    if sid >= symbols.shape[0] or symbol_index[slot] >= 0:
        return -1
    for k in range(length):
        symbols[sid, k] = data[a + k]
    symbol_lengths[sid] = length
    symbol_index[slot] = sid
    stats[S_SYMBOLS] = sid + 1
    return sid


@hot_kernel_inline
def _session_check(
    sessions: np.ndarray,
    stats: np.ndarray,
    counts: np.ndarray,
    sender: int,
    target: int,
    seq: int,
    msg_code: int,
    reset_to: int,
    gap_fill: bool,
    logon_reset: bool,
) -> int:
    """Apply one message's MsgSeqNum to its session: _YES in order, _NO duplicate, _MORE late."""
    row = -1
    for r in range(stats[S_SESSIONS]):
        if sessions[r, SESSION_SENDER] == sender and sessions[r, SESSION_TARGET] == target:
            row = r
            break
    if row < 0:
        if stats[S_SESSIONS] >= sessions.shape[0]:
            stats[S_UNTRACKED] += 1
            return _YES
        row = stats[S_SESSIONS]
        stats[S_SESSIONS] = row + 1
        sessions[row, SESSION_SENDER] = sender
        sessions[row, SESSION_TARGET] = target
        sessions[row, SESSION_NEXT] = 0
        sessions[row, SESSION_SEEN] = 0
    if msg_code == 128 * 52 and reset_to > 0 and not gap_fill:
        # SequenceReset-Reset: its own MsgSeqNum is ignored by definition.
        sessions[row, SESSION_NEXT] = reset_to
        sessions[row, SESSION_SEEN] = _WINDOW_MASK
        return _YES
    expected = sessions[row, SESSION_NEXT]
    seen = sessions[row, SESSION_SEEN]
    result = _YES
    if expected == 0 or logon_reset or seq == expected:
        seen = ((seen << 1) | 1) & _WINDOW_MASK if seq == expected else 1
        expected = seq + 1
    elif seq > expected:
        flag(counts, _SEQUENCE_GAP, seq - expected)
        shift = seq - expected + 1
        seen = ((seen << shift) | 1) & _WINDOW_MASK if shift < SEQ_WINDOW else 1
        expected = seq + 1
    else:
        back = expected - 1 - seq
        if back < SEQ_WINDOW and (seen >> back) & 1 == 0:
            seen |= 1 << back
            flag(counts, _OUT_OF_ORDER, 1)
            result = _MORE
        else:
            flag(counts, _DUPLICATE, 1)
            return _NO
    if msg_code == 128 * 52 and reset_to > 0:
        # SequenceReset-GapFill: the numbers up to NewSeqNo will never be sent.
        expected = reset_to
        seen = _WINDOW_MASK
    sessions[row, SESSION_NEXT] = expected
    sessions[row, SESSION_SEEN] = seen
    return result


@hot_kernel
def decode(
    data: np.ndarray,
    n: int,
    final: bool,
    recv_ns: int,
    out: np.ndarray,
    symbols: np.ndarray,
    symbol_lengths: np.ndarray,
    symbol_index: np.ndarray,
    learn: bool,
    sessions: np.ndarray,
    type_counts: np.ndarray,
    stats: np.ndarray,
    counts: np.ndarray,
    samples: np.ndarray,
    meta: np.ndarray,
) -> tuple[int, int]:
    """Decode the complete messages in ``data[:n]`` into ``out``.

    Returns ``(consumed, records)``: the bytes of ``data`` dealt with (decoded, skipped or
    quarantined) and the records written to ``out[:records]``. Decoding stops early at an
    incomplete message (unless ``final``) or when ``out`` cannot take the next message's
    records; the caller keeps ``data[consumed:n]`` and calls again. A single message with
    more entries than ``out`` holds is BAD_FIELD. See the module docstring for the rest.
    """
    base = stats[S_CONSUMED]
    cap = out.shape[0]
    n_out = 0
    p = 0
    while p < n:
        c = int(data[p])
        if stats[S_IN_GARBAGE] == 0 and (c == 10 or c == 13):
            stats[S_SKIPPED_BYTES] += 1
            p += 1
            continue
        h = _header_at(data, p, n)
        if h == _MORE and not final and stats[S_IN_GARBAGE] == 0:
            break
        if h != _YES:
            q = _next_header(data, p + 1, n)
            if q < 0 and not final and n - p <= MAX_MESSAGE:
                break  # wait for the header that ends the run: one reject, whole sample
            end = q
            if q < 0:
                end = n if final else max(p, n - _HEADER_LEN + 1)
            if end == p:
                break
            if stats[S_IN_GARBAGE] == 0:
                kind = _TRUNCATED if h == _MORE else _BAD_FIELD
                reject(counts, samples, meta, kind, data, p, end - p, base + p, -1)
            stats[S_QUARANTINED_BYTES] += end - p
            stats[S_IN_GARBAGE] = 1 if q < 0 and not final else 0
            p = end
            continue
        stats[S_IN_GARBAGE] = 0

        # ---- framing: BodyLength, then CheckSum -------------------------------------
        i = p + _HEADER_LEN
        body_len = -1
        body_start = -1
        need_more = False
        if i + 2 > n:
            need_more = True
        elif int(data[i]) == 57 and int(data[i + 1]) == 61:
            j = i + 2
            while j < n and j < i + 10 and int(data[j]) != _SOH:
                j += 1
            if j >= n:
                need_more = True
            elif int(data[j]) == _SOH:
                body_len = _parse_uint(data, i + 2, j)
                body_start = j + 1
        if need_more:
            if not final:
                break
            reject(counts, samples, meta, _TRUNCATED, data, p, n - p, base + p, -1)
            stats[S_QUARANTINED_BYTES] += n - p
            p = n
            continue
        body_end = body_start + body_len
        framed = False
        if body_start > 0 and 5 <= body_len <= MAX_BODY_LENGTH:
            if body_end + 7 > n and not final:
                break
            framed = (
                body_end + 7 <= n
                and int(data[body_end - 1]) == _SOH
                and int(data[body_end]) == 49
                and int(data[body_end + 1]) == 48
                and int(data[body_end + 2]) == 61
                and int(data[body_end + 6]) == _SOH
            )
        if not framed:
            scan_from = body_start if body_start > 0 else i
            found, end = _scan_end(data, p, scan_from, n)
            if found == _MORE and not final and n - p <= MAX_MESSAGE:
                break
            kind = _BAD_BODY_LENGTH if found == _YES else _TRUNCATED
            if found == _MORE and n - p > MAX_MESSAGE:
                kind = _BAD_BODY_LENGTH
            reject(counts, samples, meta, kind, data, p, end - p, base + p, -1)
            stats[S_QUARANTINED_BYTES] += end - p
            p = end
            continue
        msg_end = body_end + 7
        total = 0
        for k in range(p, body_end):
            total += int(data[k])
        claimed = _digits(data, body_end + 3, 3)
        if claimed != total & 255:
            reject(counts, samples, meta, _BAD_CHECKSUM, data, p, msg_end - p, base + p, -1)
            stats[S_QUARANTINED_BYTES] += msg_end - p
            p = msg_end
            continue

        # ---- fields -----------------------------------------------------------------
        err = _OK
        code = -1
        market = False
        snapshot = False
        seq = -1
        sent_ns = 0
        sender = 0
        target = 0
        reset_to = 0
        gap_fill = False
        logon_reset = False
        declared = -1
        started = 0  # entries begun
        ignored = 0  # entries without book meaning
        written = 0  # records written for this message
        cur_sym = -1
        e_action = -1
        e_type = -1
        e_id = 0
        e_ref = 0
        e_has_ref = False
        e_px = 0
        e_has_px = False
        e_size = 0
        delim = -1
        q = body_start
        first = True
        while True:
            tag = -1
            v0 = body_end
            v1 = body_end
            if q < body_end:
                tag = 0
                t = q
                while t < body_end:
                    d = int(data[t]) - 48
                    if d < 0 or d > 9:
                        break
                    tag = tag * 10 + d
                    t += 1
                if t == q or t - q > 9 or int(data[t]) != 61 or int(data[q]) == 48:
                    err = _BAD_FIELD
                    break
                v0 = t + 1
                v1 = v0
                while int(data[v1]) != _SOH:
                    v1 += 1
                q = v1 + 1
                if first:
                    first = False
                    if tag != 35 or v1 == v0:
                        err = _BAD_FIELD
                        break
                    if v1 - v0 > 2:
                        err = _UNKNOWN_TYPE
                        break
                    c0 = int(data[v0])
                    c1 = int(data[v0 + 1]) if v1 - v0 == 2 else 0
                    if c0 < 33 or c0 > 126 or (v1 - v0 == 2 and (c1 < 33 or c1 > 126)):
                        err = _UNKNOWN_TYPE
                        break
                    code = 128 * c0 + c1
                    if code == 128 * 87:  # W
                        market = True
                        snapshot = True
                        delim = 269
                    elif code == 128 * 88:  # X
                        market = True
                        delim = 279
                    continue
            # finish the previous entry when the next one begins or the body ends
            if market and started > 0 and (tag == delim or tag == -1):
                kind = -1
                side = _NONE
                if e_type == 48:
                    side = _BUY
                elif e_type == 49:
                    side = _SELL
                elif e_type == 50:
                    kind = _KIND_TRADE
                elif e_type == -1:
                    if snapshot or e_action != 2:
                        err = _BAD_FIELD
                        break
                elif (51 <= e_type <= 57) or (65 <= e_type <= 67):
                    kind = -2  # valid MDEntryType without book meaning
                else:
                    err = _BAD_FIELD
                    break
                if snapshot:
                    kind = -2 if kind == _KIND_TRADE else _KIND_SNAPSHOT
                elif kind == -1:
                    if e_action == 0:
                        kind = _KIND_ADD
                    elif e_action == 1:
                        kind = _KIND_REPLACE
                    elif e_action == 2:
                        kind = _KIND_DELETE
                    else:
                        err = _BAD_FIELD
                        break
                elif e_action < 0 or e_action > 2:
                    err = _BAD_FIELD
                    break
                if kind == -2:
                    ignored += 1
                elif cur_sym < 0 or (not e_has_px and kind != _KIND_DELETE):
                    err = _BAD_FIELD
                    break
                else:
                    slot = n_out + written
                    if slot >= cap:
                        err = _OUT_FULL if n_out > 0 else _BAD_FIELD
                        break
                    replaced = e_ref if (kind == _KIND_REPLACE and e_has_ref) else e_id
                    new_id = e_id if kind == _KIND_REPLACE else 0
                    write_event(
                        out, slot, seq, recv_ns, sent_ns, replaced, e_px, e_size, new_id,
                        cur_sym, kind, side, 0,
                    )  # fmt: skip
                    written += 1
            if tag == -1:
                break
            if market and tag == delim:
                if declared < 0 or started >= declared:
                    err = _BAD_FIELD
                    break
                started += 1
                e_action = -1
                e_type = -1
                e_id = 0
                e_ref = 0
                e_has_ref = False
                e_px = 0
                e_has_px = False
                e_size = 0
            # a plain equality chain on ``tag`` (LLVM turns it into a jump table)
            if tag == 34:
                seq = _parse_uint(data, v0, v1)
                if seq < 1:
                    err = _BAD_FIELD
                    break
            elif tag == 49:
                sender = fnv1a(data, v0, v1)
            elif tag == 56:
                target = fnv1a(data, v0, v1)
            elif tag == 36:
                if code == 128 * 52:
                    reset_to = _parse_uint(data, v0, v1)
                    if reset_to < 1:
                        err = _BAD_FIELD
                        break
            elif tag == 123:
                gap_fill = v1 - v0 == 1 and int(data[v0]) == 89
            elif tag == 141:
                logon_reset = code == 128 * 65 and v1 - v0 == 1 and int(data[v0]) == 89
            elif tag == 52:
                if market:
                    sent_ns = _parse_utc_timestamp(data, v0, v1)
                    if sent_ns < 0:
                        err = _BAD_FIELD
                        break
            elif tag == 55:
                if market:
                    cur_sym = _symbol_id(
                        data, v0, v1, symbols, symbol_lengths, symbol_index, stats, learn
                    )
                    if cur_sym < 0:
                        err = _BAD_FIELD
                        break
            elif tag == 268:
                if market:
                    declared = _parse_uint(data, v0, v1)
                    if declared < 0 or started > 0:
                        err = _BAD_FIELD
                        break
            elif tag == 279:
                if market and started > 0:
                    e_action = int(data[v0]) - 48 if v1 - v0 == 1 else -1
                    if e_action < 0 or e_action > 2:
                        err = _BAD_FIELD
                        break
            elif tag == 269:
                if market and started > 0:
                    if v1 - v0 != 1:
                        err = _BAD_FIELD
                        break
                    e_type = int(data[v0])
            elif tag == 270:
                if market and started > 0:
                    e_has_px, e_px = _parse_decimal(data, v0, v1, _SCALE_DIGITS, True)
                    if not e_has_px:
                        err = _BAD_FIELD
                        break
            elif tag == 271:
                if market and started > 0:
                    ok, e_size = _parse_decimal(data, v0, v1, 0, False)
                    if not ok:
                        err = _BAD_FIELD
                        break
            elif tag == 278:
                if market and started > 0:
                    e_id = _parse_uint(data, v0, v1)
                    if e_id < 0:
                        e_id = fnv1a(data, v0, v1) if v1 > v0 else 0
            elif tag == 280:  # noqa: SIM102 - kept a plain tag test for the jump table
                if market and started > 0:
                    e_ref = _parse_uint(data, v0, v1)
                    if e_ref < 0:
                        e_ref = fnv1a(data, v0, v1) if v1 > v0 else 0
                    e_has_ref = True
        if err == _OK and market and (declared < 0 or started != declared):
            err = _BAD_FIELD
        if err == _OK and seq < 0:
            err = _BAD_FIELD  # MsgSeqNum is required in every message
        if err == _OUT_FULL:
            break
        if err != _OK:
            reject(counts, samples, meta, err, data, p, msg_end - p, base + p, seq)
            stats[S_QUARANTINED_BYTES] += msg_end - p
            p = msg_end
            continue
        if market and written == 0:
            if snapshot and declared >= 0 and cur_sym >= 0:
                # an empty snapshot still clears the book: emit one side-NONE marker
                if n_out >= cap:
                    break
                write_event(
                    out, n_out, seq, recv_ns, sent_ns, 0, 0, 0, 0, cur_sym, _KIND_SNAPSHOT, _NONE, 0
                )
                written = 1
            elif snapshot:
                reject(counts, samples, meta, _BAD_FIELD, data, p, msg_end - p, base + p, seq)
                stats[S_QUARANTINED_BYTES] += msg_end - p
                p = msg_end
                continue
        order = _session_check(
            sessions, stats, counts, sender, target, seq, code, reset_to, gap_fill, logon_reset
        )
        stats[S_MESSAGES] += 1
        type_counts[code] += 1
        if order == _NO or not market:
            stats[S_SKIPPED_BYTES] += msg_end - p
            p = msg_end
            continue
        stats[S_MARKET_MESSAGES] += 1
        stats[S_IGNORED_ENTRIES] += ignored
        stats[S_PARSED_BYTES] += msg_end - p
        if written > 0:
            late = FLAG_LATE if order == _MORE else 0
            for k in range(n_out, n_out + written):
                out[k]["flags"] = late
            if snapshot:
                out[n_out]["flags"] |= FLAG_BOOK_START
            out[n_out + written - 1]["flags"] |= FLAG_LAST_IN_MESSAGE
        n_out += written
        stats[S_ENTRIES] += written
        p = msg_end
    stats[S_CONSUMED] = base + p
    return p, n_out
