"""Signals computed from market events: microstructure signals, patterns, priority lanes."""
