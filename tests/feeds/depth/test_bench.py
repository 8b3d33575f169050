"""The depth benchmark cases run and verify their own output."""

from bench.feeds_depth import CASES, DECODE, STDLIB


def test_cases_run_without_errors():
    (decode,) = CASES[DECODE][0](1, 3_000)
    (stdlib,) = CASES[STDLIB][0](1, 1_000)
    assert decode["errors"] == 0 and stdlib["errors"] == 0
    assert decode["unit"] == "msg/s" and decode["target"] == 5e5
    assert stdlib["baseline_of"] == DECODE and stdlib["median"] > 0
