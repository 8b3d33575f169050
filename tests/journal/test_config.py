"""Journal configuration: defaults, validation naming the bad key, TOML loading, round trip."""

import pytest

from lowlat.journal import FsyncPolicy, JournalConfig


def test_defaults_are_valid_and_use_the_interval_policy():
    config = JournalConfig()
    assert config.fsync is FsyncPolicy.INTERVAL
    assert config.ring_capacity & (config.ring_capacity - 1) == 0


@pytest.mark.parametrize("name", ["none", "interval", "every_batch", "EVERY_BATCH"])
def test_the_policy_may_be_given_by_name(name):
    assert JournalConfig(fsync=name).fsync is FsyncPolicy(name.lower())


def test_from_toml_reads_the_journal_table():
    text = """
    [journal]
    segment_bytes = 1_048_576
    batch_records = 512
    ring_capacity = 4096
    fsync = "every_batch"
    fsync_interval_ms = 5
    producers = 2
    keep_snapshots = 4
    writer_cpu = 0
    """
    config = JournalConfig.from_toml(text)
    assert config == JournalConfig(
        segment_bytes=1 << 20,
        batch_records=512,
        ring_capacity=4096,
        fsync=FsyncPolicy.EVERY_BATCH,
        fsync_interval_ms=5,
        producers=2,
        keep_snapshots=4,
        writer_cpu=0,
    )
    assert JournalConfig.from_dict(config.to_dict()) == config


def test_from_toml_accepts_keys_at_top_level():
    assert JournalConfig.from_toml('fsync = "none"').fsync is FsyncPolicy.NONE


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[journal]\nsegmnt_bytes = 1", "segmnt_bytes"),
        ('[journal]\nfsync = "always"', "fsync"),
        ("[journal]\nring_capacity = 1000", "ring_capacity"),
        ("[journal]\nring_capacity = 1", "ring_capacity"),
        ("[journal]\nsegment_bytes = 4096", "segment_bytes"),
        ('[journal]\nbatch_records = "8"', "batch_records"),
        ("[journal]\nproducers = true", "producers"),
        ("[journal]\nfsync_interval_ms = 0", "fsync_interval_ms"),
        ("[journal]\nwriter_cpu = -2", "writer_cpu"),
        ("[journal]\nwriter_cpu = 4096", "writer_cpu: CPU 4096 is not one this process"),
        ("journal = 3", "table"),
    ],
)
def test_a_bad_value_or_key_is_refused_by_name(text, named):
    with pytest.raises(ValueError, match=named):
        JournalConfig.from_toml(text)


def test_a_config_is_frozen():
    with pytest.raises(AttributeError):
        JournalConfig().batch_records = 3
