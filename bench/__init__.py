"""Parley's benchmark: see docs/performance.md."""
