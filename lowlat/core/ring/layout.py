"""Memory layout of a ring: one int64 header, one int64 stamp per slot, the slots.

The header is split into 64-byte cache lines by writer, so that the producer, each
consumer and the control plane never write the same line (no false sharing):

========  ==========================================================  ==============
line      words                                                       written by
========  ==========================================================  ==============
0         magic, version, capacity, mask, slot words, max consumers   create (once)
1         publish cursor, gate cache, back-pressured, isolations      producer
2         stop flag                                                   control plane
2+2c      cursor, consumed, lost, loss events, last loss, empty, torn consumer c
3+2c      state, policy, lag limit, isolate, slow flag, max lag seen  control plane
========  ==========================================================  ==============

Sequences start at 0. The publish cursor is the next sequence to publish (so it also
counts what was published); a consumer cursor is the next sequence it will read.
"""

from __future__ import annotations

from enum import IntEnum

WORDS_PER_LINE = 8
MAGIC = 0x4C4F574C41545231  # "LOWLATR1"
LAYOUT_VERSION = 1

# line 0: geometry, immutable after creation
H_MAGIC = 0
H_VERSION = 1
H_CAPACITY = 2
H_MASK = 3
H_SLOT_WORDS = 4
H_MAX_CONSUMERS = 5

# line 1: producer-owned
H_PUBLISH_CURSOR = 8
H_GATE_CACHE = 9  # lowest cursor among gating consumers, as last computed
H_BACK_PRESSURED = 10  # publishes refused because a lossless consumer was a lap behind
H_ISOLATIONS = 11  # consumers the producer detached for lagging past their limit

# line 2: control-owned
H_STOP = 16

CONSUMER_BASE = 24
CONSUMER_STRIDE = 16

# consumer-owned line, relative to the consumer's base
C_CURSOR = 0
C_CONSUMED = 1
C_LOST = 2
C_LOSS_EVENTS = 3
C_LAST_LOST_FIRST = 4
C_LAST_LOST_COUNT = 5
C_EMPTY_POLLS = 6
C_TORN_READS = 7

# control-owned line, relative to the consumer's base
C_STATE = 8
C_POLICY = 9
C_LAG_LIMIT = 10
C_ISOLATE = 11
C_SLOW = 12
C_MAX_LAG = 13

STAMP_EMPTY = -1  # slot never written; an in-progress write of seq s is stamped -(s + 2)


class ConsumerState(IntEnum):
    """Registration state of a consumer slot in the header."""

    FREE = 0
    ACTIVE = 1  # reads; a lossless one gates the producer
    DETACHED = 2  # isolated: reads with overwrite semantics, gates nobody


class Policy(IntEnum):
    """What happens when the producer laps a consumer."""

    OVERWRITE = 0  # producer overwrites; the consumer counts and reports what it lost
    LOSSLESS = 1  # producer gets BACK_PRESSURED instead of overwriting unread events


class WaitStrategy(IntEnum):
    """How a consumer idles on an empty ring."""

    BUSY_SPIN = 0  # poll again at once (no pause hint: see kernels.idle): burns a core
    YIELD = 1  # sched_yield between polls: shares the core
    SLEEP_BACKOFF = 2  # nanosleep, doubling from 1 µs up to a cap: idle-friendly


# return codes
BACK_PRESSURED = -1  # publish refused: a lossless consumer has not read the slot
EMPTY = -1  # poll found nothing new


def header_words(max_consumers: int) -> int:
    """Number of int64 words in a header with room for ``max_consumers`` consumers."""
    return CONSUMER_BASE + CONSUMER_STRIDE * max_consumers


def consumer_base(consumer: int) -> int:
    """Index of consumer ``consumer``'s first header word."""
    return CONSUMER_BASE + CONSUMER_STRIDE * consumer
