"""Benchmarks run by scripts/bench.sh (results in BENCHMARKS.md) and the fleet helper they share."""
