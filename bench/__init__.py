"""Benchmark suites for lowlat (kept beside the package, outside the wheel)."""
