"""lowlat: low-latency trading infrastructure on a compiled, lifecycle-gated hot path."""

__version__ = "0.1.0"
