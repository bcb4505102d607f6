"""Benchmark harness: `python -m bench [WORKLOAD] [--json] [--quick]`. Prints figures; asserts nothing timed."""
