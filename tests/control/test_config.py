"""ControlConfig: TOML sections and keys, and errors that name the bad key."""

from __future__ import annotations

import numpy as np
import pytest

from lowlat.control import (
    ControlConfig,
    ControlConfigError,
    MetricsConfig,
    ReadinessConfig,
    Stage,
    StageBudgets,
)

FULL = """
[metrics]
samples = 1024
breach_samples = 16
counters = ["feed_gaps", "quarantined"]

[budgets]
decode = 800
decision = 1500

[sidecar]
interval_ns = 2000000
window_ns = 5000000000

[readiness]
stages = ["decode", "DECISION"]
window_events = 256
percentile = 99
good_windows = 3

[server]
port = 0

[system_breaker]
breach_rate_per_s = 50.0
max_lag = 100
"""


def test_a_full_toml_file_loads_every_section(tmp_path):
    path = tmp_path / "control.toml"
    path.write_text(FULL, encoding="utf-8")
    config = ControlConfig.load(path)
    assert config.metrics.counter_names[-2:] == ("feed_gaps", "quarantined")
    assert len(config.metrics.counter_names) == len(Stage) + 2
    assert config.budgets.of("decode") == 800 and config.budgets.of(Stage.BOOK) == 1_000
    assert config.budgets.as_tuple()[Stage.DECISION] == 1_500
    assert config.sidecar.interval_ns == 2_000_000
    assert config.readiness.stages == (Stage.DECODE, Stage.DECISION)
    assert config.readiness.percentile == 99.0
    assert (config.server.host, config.server.port) == ("127.0.0.1", 0)
    assert config.system_breaker.max_lag == 100


def test_an_empty_file_gives_the_defaults():
    assert ControlConfig.from_toml("") == ControlConfig()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[budgets]\ndecod = 5", r"budgets\.decod"),
        ("[budgets]\ndecode = 0", r"budgets\.decode must be at least 1, got 0"),
        ("[budgets]\ndecode = 1.5", r"budgets\.decode must be an integer"),
        ("[metrics]\nsamples = 1000", r"metrics\.samples must be a power of two"),
        ("[metrics]\nbreach_samples = 4", r"metrics\.breach_samples must be at least 8"),
        ('[metrics]\ncounters = ["Bad Name"]', r"metrics\.counters: 'Bad Name'"),
        ('[metrics]\ncounters = ["decode"]', r"metrics\.counters: 'decode' .* stage"),
        ('[metrics]\ncounters = "gaps"', r"metrics\.counters must be a list"),
        ("[sidecar]\ninterval_ns = 10\nwindow_ns = 5", r"sidecar\.window_ns must be at least 10"),
        ('[readiness]\nstages = ["deco"]', r"readiness\.stages: unknown stage 'deco'"),
        ("[readiness]\nstages = []", r"readiness\.stages must list at least one"),
        ('[readiness]\nstages = "decode"', r"readiness\.stages must be a list"),
        ("[readiness]\npercentile = 0", r"readiness\.percentile"),
        ("[readiness]\ngood_windows = 0", r"readiness\.good_windows"),
        ("[server]\nport = 70000", r"server\.port must be in 0\.\.65535"),
        ('[server]\nhost = ""', r"server\.host"),
        ("[system_breaker]\nmax_lagg = 1", r"\[system_breaker\] unknown .*max_lagg"),
        ("[sidecars]\ninterval_ns = 1", r"unknown control config sections \['sidecars'\]"),
        ("metrics = 3", r"\[metrics\] must be a table"),
        ("[budgets\n", "not valid TOML"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_key(toml, message):
    with pytest.raises(ControlConfigError, match=message):
        ControlConfig.from_toml(toml)


def test_direct_construction_is_validated_too():
    with pytest.raises(ControlConfigError, match=r"budgets\.ack"):
        StageBudgets(ack=-1)
    with pytest.raises(ControlConfigError, match=r"metrics\.samples"):
        MetricsConfig(samples=True)
    with pytest.raises(ControlConfigError, match=r"readiness\.stages"):
        ReadinessConfig(stages=("decode", "decode"))


def test_stages_parse_from_members_labels_and_numbers():
    assert Stage.parse(Stage.ACK) is Stage.ACK
    assert Stage.parse("Book") is Stage.BOOK
    assert Stage.parse(3) is Stage.SIGNAL
    assert Stage.parse(np.int64(7)) is Stage.ACK
    for bad in (8, -1, True, 2.0, "dekode"):
        with pytest.raises(ValueError, match="unknown stage"):
            Stage.parse(bad)
