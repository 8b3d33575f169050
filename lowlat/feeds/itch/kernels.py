"""Compiled ITCH 5.0 decoders: framed bytes in, ``MARKET_EVENT_DTYPE`` records out.

Two framing loops share one per-message decoder (:func:`decode_message`, inlined into each;
as a call it cost a third of the decoder's time):

* :func:`decode_length_prefixed` — every message is preceded by its 2-byte big-endian
  length (NASDAQ's BinaryFILE, SoupBinTCP payloads). The prefix is trusted to skip a
  message whose type is unknown or whose length disagrees with its type.
* :func:`decode_type_framed` — the 2-byte prefix is present but unusable (zero, as in
  NASDAQ's published test vector), so the message is framed by its type's fixed length.
  After an unknown type byte the loop resyncs on the next position that looks like a zero
  prefix followed by a known type.

Both loops decode ``buf[pos:end]`` into ``out[n:]`` and stop when ``out`` is full or the
bytes run out, returning the new ``(pos, n)``; the caller keeps the undecoded tail and
calls again with more bytes (``final=False``) or at the end of the stream (``final=True``:
a partial message is then quarantined as TRUNCATED). Every byte is either decoded or
quarantined; ``state`` keeps the stream offset, the message sequence and both byte counts
so that the caller can prove it. Field layout and record mapping: :mod:`.spec`.
"""

from __future__ import annotations

import numpy as np

from lowlat.core.byteorder import load_be16, load_be32, load_be48, load_be64
from lowlat.core.jit import hot_kernel, hot_kernel_inline
from lowlat.core.records import EventKind, Side
from lowlat.feeds.itch.spec import FLAG_PRINTABLE, MSG_LEN
from lowlat.feeds.kernels import write_event
from lowlat.feeds.quarantine import ErrorKind
from lowlat.feeds.quarantine_kernels import reject

__all__ = [
    "N_STATE",
    "ST_BASE",
    "ST_DECODED_BYTES",
    "ST_QUARANTINED_BYTES",
    "ST_SEQ",
    "decode_length_prefixed",
    "decode_message",
    "decode_type_framed",
]

# columns of the int64 ``state`` array the framing loops keep between calls
ST_BASE = 0  # stream offset of buf[0]
ST_SEQ = 1  # messages decoded so far (= seq of the last record)
ST_DECODED_BYTES = 2  # bytes (prefixes included) turned into records
ST_QUARANTINED_BYTES = 3  # bytes handed to the quarantine
N_STATE = 4

_LEN_TABLE = MSG_LEN  # compiled in as a constant array

_ADD = np.uint8(EventKind.ADD)
_EXECUTE = np.uint8(EventKind.EXECUTE)
_CANCEL = np.uint8(EventKind.CANCEL)
_DELETE = np.uint8(EventKind.DELETE)
_REPLACE = np.uint8(EventKind.REPLACE)
_TRADE = np.uint8(EventKind.TRADE)
_STATUS = np.uint8(EventKind.STATUS)
_BROKEN = np.uint8(EventKind.BROKEN_TRADE)
_IMBALANCE = np.uint8(EventKind.IMBALANCE)
_REFERENCE = np.uint8(EventKind.REFERENCE)
_NO_SIDE = np.uint8(Side.NONE)
_BUY = np.uint8(Side.BUY)
_SELL = np.uint8(Side.SELL)
_BAD_SIDE = np.uint8(255)

_TRUNCATED = int(ErrorKind.TRUNCATED)
_UNKNOWN_TYPE = int(ErrorKind.UNKNOWN_TYPE)
_BAD_LENGTH = int(ErrorKind.BAD_LENGTH)
_BAD_FIELD = int(ErrorKind.BAD_FIELD)

_P8_TO_TICKS = 10_000  # Price(8) has 8 implied decimals, ticks have 4


# short names: each message's field list fits on a line or two (offsets as in the spec)
_u16 = load_be16
_u32 = load_be32
_u48 = load_be48
_u64 = load_be64


@hot_kernel_inline
def _u8(buf: np.ndarray, p: int) -> np.int64:
    return np.int64(buf[p])


@hot_kernel_inline
def _side(byte: np.uint8) -> np.uint8:
    if byte == 66:  # "B"
        return _BUY
    if byte == 83:  # "S"
        return _SELL
    return _BAD_SIDE


@hot_kernel_inline
def decode_message(
    buf: np.ndarray, p: int, out: np.ndarray, n: int, seq: int, symbols: np.ndarray
) -> bool:
    """Decode the message whose type byte is ``buf[p]`` into ``out[n]``.

    The caller has checked that the message's full fixed length is in ``buf``. Returns
    False, writing nothing, if a field holds an impossible value (a side that is neither
    B nor S); a stock directory message also fills ``symbols[locate]``.
    """
    t = buf[p]
    flags = np.int64(t)
    locate = _u16(buf, p + 1)
    ts = _u48(buf, p + 5)
    zero = np.int64(0)
    if t == 65 or t == 70:  # A, F: add order (F adds the attribution MPID)
        side = _side(buf[p + 19])
        if side == _BAD_SIDE:
            return False
        aux = _u32(buf, p + 36) if t == 70 else zero
        write_event(
            out, n, seq, 0, ts, _u64(buf, p + 11), _u32(buf, p + 32), _u32(buf, p + 20), aux,
            locate, _ADD, side, flags,
        )  # fmt: skip
    elif t == 68:  # D: order delete
        write_event(
            out,
            n,
            seq,
            0,
            ts,
            _u64(buf, p + 11),
            zero,
            zero,
            zero,
            locate,
            _DELETE,
            _NO_SIDE,
            flags,
        )
    elif t == 85:  # U: order replace
        write_event(
            out, n, seq, 0, ts, _u64(buf, p + 11), _u32(buf, p + 31), _u32(buf, p + 27),
            _u64(buf, p + 19), locate, _REPLACE, _NO_SIDE, flags,
        )  # fmt: skip
    elif t == 69:  # E: order executed
        write_event(
            out, n, seq, 0, ts, _u64(buf, p + 11), zero, _u32(buf, p + 19), _u64(buf, p + 23),
            locate, _EXECUTE, _NO_SIDE, flags,
        )  # fmt: skip
    elif t == 88:  # X: order cancel
        write_event(
            out, n, seq, 0, ts, _u64(buf, p + 11), zero, _u32(buf, p + 19), zero, locate, _CANCEL,
            _NO_SIDE, flags,
        )  # fmt: skip
    elif t == 80:  # P: trade (non-cross)
        side = _side(buf[p + 19])
        if side == _BAD_SIDE:
            return False
        write_event(
            out, n, seq, 0, ts, _u64(buf, p + 11), _u32(buf, p + 32), _u32(buf, p + 20),
            _u64(buf, p + 36), locate, _TRADE, side, flags,
        )  # fmt: skip
    elif t == 67:  # C: order executed with price
        if buf[p + 31] == 89:  # printable "Y"
            flags |= FLAG_PRINTABLE
        write_event(
            out, n, seq, 0, ts, _u64(buf, p + 11), _u32(buf, p + 32), _u32(buf, p + 19),
            _u64(buf, p + 23), locate, _EXECUTE, _NO_SIDE, flags,
        )  # fmt: skip
    elif t == 81:  # Q: cross trade
        write_event(
            out, n, seq, 0, ts, _u8(buf, p + 39), _u32(buf, p + 27), _u64(buf, p + 11),
            _u64(buf, p + 31), locate, _TRADE, _NO_SIDE, flags,
        )  # fmt: skip
    elif t == 66:  # B: broken trade
        write_event(
            out,
            n,
            seq,
            0,
            ts,
            zero,
            zero,
            zero,
            _u64(buf, p + 11),
            locate,
            _BROKEN,
            _NO_SIDE,
            flags,
        )
    elif t == 73:  # I: net order imbalance indicator
        direction = _side(buf[p + 27])
        if direction == _BAD_SIDE:  # N (none) and O (insufficient orders) have no side
            direction = _NO_SIDE
        write_event(
            out, n, seq, 0, ts, _u64(buf, p + 11), _u32(buf, p + 44), _u64(buf, p + 19),
            _u32(buf, p + 40), locate, _IMBALANCE, direction, flags,
        )  # fmt: skip
    elif t == 78:  # N: retail price improvement indicator
        write_event(
            out, n, seq, 0, ts, zero, zero, zero, _u8(buf, p + 19), locate, _IMBALANCE, _NO_SIDE,
            flags,
        )  # fmt: skip
    elif t == 83:  # S: system event
        write_event(
            out, n, seq, 0, ts, zero, zero, zero, _u8(buf, p + 11), locate, _STATUS, _NO_SIDE, flags
        )
    elif t == 82:  # R: stock directory
        for i in range(8):
            symbols[locate, i] = buf[p + 11 + i]
        codes = (
            (_u16(buf, p + 19) << 48)  # market category, financial status
            | (_u32(buf, p + 25) << 16)  # round lots only, issue class, issue sub-type
            | _u16(buf, p + 29)  # authenticity, short-sale threshold
        )
        write_event(
            out, n, seq, 0, ts, codes, zero, _u32(buf, p + 21), _u64(buf, p + 11), locate,
            _REFERENCE, _NO_SIDE, flags,
        )  # fmt: skip
    elif t == 72:  # H: stock trading action
        write_event(
            out, n, seq, 0, ts, _u32(buf, p + 21), zero, zero, _u8(buf, p + 19), locate, _STATUS,
            _NO_SIDE, flags,
        )  # fmt: skip
    elif t == 89:  # Y: Reg SHO short sale price test restriction
        write_event(
            out, n, seq, 0, ts, zero, zero, zero, _u8(buf, p + 19), locate, _STATUS, _NO_SIDE, flags
        )
    elif t == 76:  # L: market participant position
        codes = (_u16(buf, p + 23) << 8) | _u8(buf, p + 25)
        write_event(
            out, n, seq, 0, ts, codes, zero, zero, _u32(buf, p + 11), locate, _REFERENCE,
            _NO_SIDE, flags,
        )  # fmt: skip
    elif t == 86:  # V: MWCB decline levels, Price(8)
        write_event(
            out, n, seq, 0, ts, zero, _u64(buf, p + 11) // _P8_TO_TICKS,
            _u64(buf, p + 19) // _P8_TO_TICKS, _u64(buf, p + 27) // _P8_TO_TICKS, locate,
            _STATUS, _NO_SIDE, flags,
        )  # fmt: skip
    elif t == 87:  # W: MWCB status
        write_event(
            out, n, seq, 0, ts, zero, zero, zero, _u8(buf, p + 11), locate, _STATUS, _NO_SIDE, flags
        )
    elif t == 75:  # K: IPO quoting period update
        write_event(
            out, n, seq, 0, ts, _u8(buf, p + 23), _u32(buf, p + 24), zero, _u32(buf, p + 19),
            locate, _REFERENCE, _NO_SIDE, flags,
        )  # fmt: skip
    elif t == 74:  # J: LULD auction collar
        write_event(
            out, n, seq, 0, ts, _u32(buf, p + 23), _u32(buf, p + 19), _u32(buf, p + 31),
            _u32(buf, p + 27), locate, _REFERENCE, _NO_SIDE, flags,
        )  # fmt: skip
    elif t == 104:  # h: operational halt
        write_event(
            out, n, seq, 0, ts, _u8(buf, p + 19), zero, zero, _u8(buf, p + 20), locate, _STATUS,
            _NO_SIDE, flags,
        )  # fmt: skip
    elif t == 79:  # O: DLCR price discovery
        write_event(
            out, n, seq, 0, ts, _u8(buf, p + 19), _u32(buf, p + 28), zero, _u64(buf, p + 32),
            locate, _REFERENCE, _NO_SIDE, flags,
        )  # fmt: skip
    else:
        return False  # unreachable: the framing loops only pass known types
    return True


@hot_kernel
def decode_length_prefixed(
    buf: np.ndarray,
    pos: int,
    end: int,
    final: bool,
    out: np.ndarray,
    n: int,
    type_counts: np.ndarray,
    symbols: np.ndarray,
    q_counts: np.ndarray,
    q_samples: np.ndarray,
    q_meta: np.ndarray,
    state: np.ndarray,
) -> tuple[int, int]:
    """Decode length-prefixed messages from ``buf[pos:end]`` into ``out[n:]``.

    Returns ``(pos, n)``: where decoding stopped and how many records ``out`` now holds.
    A prefix of 0 is quarantined as BAD_LENGTH (2 bytes); an unknown type as UNKNOWN_TYPE
    and a prefix that disagrees with the type's length as BAD_LENGTH, both skipped by the
    prefix; an impossible field as BAD_FIELD.
    """
    cap = out.shape[0]
    base = state[ST_BASE]
    seq = state[ST_SEQ]
    good = 0
    bad = 0
    while n < cap:
        avail = end - pos
        if avail < 2:
            if final and avail > 0:
                reject(
                    q_counts, q_samples, q_meta, _TRUNCATED, buf, pos, avail, base + pos, seq + 1
                )
                bad += avail
                pos = end
            break
        length = _u16(buf, pos)
        total = length + 2
        if total > avail:
            if final:
                reject(
                    q_counts, q_samples, q_meta, _TRUNCATED, buf, pos, avail, base + pos, seq + 1
                )
                bad += avail
                pos = end
            break
        if length == 0:
            reject(q_counts, q_samples, q_meta, _BAD_LENGTH, buf, pos, 2, base + pos, seq + 1)
            bad += 2
            pos += 2
            continue
        t = buf[pos + 2]
        expected = _LEN_TABLE[t]
        if expected == 0:
            reject(q_counts, q_samples, q_meta, _UNKNOWN_TYPE, buf, pos, total, base + pos, seq + 1)
            bad += total
        elif expected != length:
            reject(q_counts, q_samples, q_meta, _BAD_LENGTH, buf, pos, total, base + pos, seq + 1)
            bad += total
        elif decode_message(buf, pos + 2, out, n, seq + 1, symbols):
            seq += 1
            n += 1
            type_counts[t] += 1
            good += total
        else:
            reject(q_counts, q_samples, q_meta, _BAD_FIELD, buf, pos, total, base + pos, seq + 1)
            bad += total
        pos += total
    state[ST_SEQ] = seq
    state[ST_DECODED_BYTES] += good
    state[ST_QUARANTINED_BYTES] += bad
    return pos, n


@hot_kernel
def decode_type_framed(
    buf: np.ndarray,
    pos: int,
    end: int,
    final: bool,
    out: np.ndarray,
    n: int,
    type_counts: np.ndarray,
    symbols: np.ndarray,
    q_counts: np.ndarray,
    q_samples: np.ndarray,
    q_meta: np.ndarray,
    state: np.ndarray,
) -> tuple[int, int]:
    """Decode messages framed by their type's length (2-byte prefix ignored).

    Returns ``(pos, n)`` like :func:`decode_length_prefixed`. An unknown type byte starts
    a run of garbage: the bytes up to the next zero prefix followed by a known type are
    quarantined as one UNKNOWN_TYPE. A run still open at the end of ``buf`` is quarantined
    except for trailing zero bytes that may begin the next prefix, and a run crossing a
    chunk boundary is counted once per chunk.
    """
    cap = out.shape[0]
    base = state[ST_BASE]
    seq = state[ST_SEQ]
    good = 0
    bad = 0
    while n < cap:
        avail = end - pos
        if avail < 3:
            if final and avail > 0:
                reject(
                    q_counts, q_samples, q_meta, _TRUNCATED, buf, pos, avail, base + pos, seq + 1
                )
                bad += avail
                pos = end
            break
        t = buf[pos + 2]
        length = _LEN_TABLE[t]
        if length == 0:
            q = pos + 1
            while q + 3 <= end and not (
                buf[q] == 0 and buf[q + 1] == 0 and _LEN_TABLE[buf[q + 2]] != 0
            ):
                q += 1
            if q + 3 > end:  # no resync point in this buffer: keep what may start one
                q = end
                if not final and buf[end - 1] == 0:
                    q = end - 2 if buf[end - 2] == 0 else end - 1
            skipped = q - pos
            reject(q_counts, q_samples, q_meta, _UNKNOWN_TYPE, buf, pos, skipped, base + pos, -1)
            bad += skipped
            pos = q
            continue
        total = length + 2
        if total > avail:
            if final:
                reject(
                    q_counts, q_samples, q_meta, _TRUNCATED, buf, pos, avail, base + pos, seq + 1
                )
                bad += avail
                pos = end
            break
        if decode_message(buf, pos + 2, out, n, seq + 1, symbols):
            seq += 1
            n += 1
            type_counts[t] += 1
            good += total
        else:
            reject(q_counts, q_samples, q_meta, _BAD_FIELD, buf, pos, total, base + pos, seq + 1)
            bad += total
        pos += total
    state[ST_SEQ] = seq
    state[ST_DECODED_BYTES] += good
    state[ST_QUARANTINED_BYTES] += bad
    return pos, n
