"""Benchmark scorers, each equal in result to the benchmark's official script."""
