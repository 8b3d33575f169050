"""Repository-root entry point for the deterministic demo: ``python -m demo <scenario>``."""
