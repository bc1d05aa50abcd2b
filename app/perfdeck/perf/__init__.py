"""Pure-Python perf_event_open layer: ABI (ctypes), counter groups, event catalogue, derived metrics.

Nothing here imports Qt. See docs/perf-counters.md for how counting, modes and scaling work.
"""
