"""VenueConfig: defaults, TOML, and errors that name the bad key or value."""

from __future__ import annotations

import pytest

from lowlat.venue import FaultModel, LatencyModel, StpMode, VenueConfig

TOML = """
[venue]
instruments = [3, 1]
levels = 16
orders = 64
stp = "cancel_incoming"

[venue.latency]
fixed_ns = 5000
distribution = "exponential"
scale_ns = 2000
spike_ns = 100000
spike_probability = 0.25
seed = 9

[venue.faults]
reject_rate = 0.01
drop_ack_rate = 0.02
delay_rate = 0.5
delay_ns = 7000
disconnect_after = 100
service_ns = 300
seed = 4
"""


def test_toml_sets_every_field_and_round_trips_through_plain_data():
    config = VenueConfig.from_toml(TOML)
    assert config.instruments == (3, 1)
    assert config.stp_mode == StpMode.CANCEL_INCOMING
    assert config.latency == LatencyModel(5000, "exponential", 2000, 100_000, 0.25, 9)
    assert config.faults == FaultModel(0.01, 0.02, 0.5, 7000, 100, 300, 4)
    assert VenueConfig.from_dict(config.to_dict()) == config


def test_top_level_keys_work_without_a_venue_table():
    assert VenueConfig.from_toml("levels = 4").levels == 4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"level": 4}, r"unknown venue config keys \['level'\]"),
        ({"latency": {"fixed": 1}}, r"unknown venue latency keys \['fixed'\]"),
        ({"faults": {"drop_rate": 0.1}}, r"unknown venue faults keys \['drop_rate'\]"),
        ({"faults": 3}, "venue faults must be a table"),
        ({"levels": "8"}, "venue levels must be an integer, got '8'"),
        ({"levels": 0}, "venue levels must be at least 1, got 0"),
        ({"orders": True}, "venue orders must be an integer"),
        ({"instruments": []}, "venue instruments must be a non-empty list"),
        ({"instruments": [1, 1]}, "venue instruments must be distinct"),
        ({"instruments": [-2]}, "venue instruments entry must be in"),
        ({"stp": "cancel_both"}, "venue stp must be one of"),
        ({"latency": {"distribution": "normal"}}, "venue latency distribution must be one of"),
        ({"latency": {"fixed_ns": -1}}, "venue latency fixed_ns must be at least 0"),
        ({"latency": {"spike_probability": 2}}, "spike_probability must be a probability"),
        ({"faults": {"reject_rate": "often"}}, "venue faults reject_rate must be a number"),
        ({"faults": {"delay_rate": -0.1}}, "venue faults delay_rate must be a probability"),
        ({"faults": {"disconnect_after": 1.5}}, "venue faults disconnect_after must be an integer"),
    ],
)
def test_bad_config_names_the_key_and_the_value(data, message):
    with pytest.raises(ValueError, match=message):
        VenueConfig.from_dict(data)


def test_models_must_be_model_objects():
    with pytest.raises(ValueError, match="venue latency must be a LatencyModel"):
        VenueConfig(latency={"fixed_ns": 1})
    with pytest.raises(ValueError, match="venue faults must be a FaultModel"):
        VenueConfig(faults=None)
    with pytest.raises(ValueError, match="venue config must be a table"):
        VenueConfig.from_dict([1])
