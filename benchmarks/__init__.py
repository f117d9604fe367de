"""Latency and accuracy benchmarks (pytest-benchmark suites and report scripts)."""
