"""Benchmarks behind `make bench`: dataset presets, a production-shaped server, wrk load."""
