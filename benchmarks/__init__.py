"""Benchmarks: `python -m benchmarks` runs them all (see `benchmarks/__main__.py`); one module per figure."""
