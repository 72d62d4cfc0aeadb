"""Benchmarks: they print timings and quality figures (`bash tests/run.sh bench-…`); they assert nothing."""
