"""Benchmarks shipped with the project: `python -m marl_alloc.bench {replay,...}`."""
