import numpy as np

from lowlat.feeds import ErrorKind, Quarantine
from lowlat.feeds.quarantine import SAMPLE_BYTES, SAMPLES_PER_KIND
from lowlat.feeds.quarantine_kernels import flag, reject


def test_rejects_are_counted_exactly_and_the_first_ones_sampled():
    q = Quarantine.empty()
    data = np.frombuffer(bytes(range(200)), np.uint8)
    for i in range(SAMPLES_PER_KIND + 3):
        reject(*q.arrays, ErrorKind.TRUNCATED, data, i, 5, 1000 + i, 7 + i)
    assert q.counts[ErrorKind.TRUNCATED] == SAMPLES_PER_KIND + 3
    report = q.to_dict()
    assert report["counts"] == {"truncated": SAMPLES_PER_KIND + 3}
    kept = report["samples"]["truncated"]
    assert len(kept) == SAMPLES_PER_KIND
    assert kept[1] == {"offset": 1001, "length": 5, "sequence": 8, "hex": "0102030405"}


def test_samples_are_clipped_to_the_buffer_and_the_sample_size():
    q = Quarantine.empty()
    data = np.zeros(300, np.uint8)
    reject(*q.arrays, ErrorKind.BAD_LENGTH, data, 290, 50, 290, -1)  # runs off the end
    reject(*q.arrays, ErrorKind.BAD_LENGTH, data, 0, 500, 0, -1)  # longer than a sample
    kept = q.to_dict()["samples"]["bad_length"]
    assert kept[0]["length"] == 50 and len(bytes.fromhex(kept[0]["hex"])) == 10
    assert len(bytes.fromhex(kept[1]["hex"])) == SAMPLE_BYTES


def test_flagged_anomalies_are_counted_without_samples():
    q = Quarantine.empty()
    flag(q.counts, ErrorKind.SEQUENCE_GAP, 12)
    assert q.total == 12
    assert q.to_dict()["counts"] == {"sequence_gap": 12}
