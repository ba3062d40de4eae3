"""Reproducible benchmarks for rosey (see bench/README.md)."""
