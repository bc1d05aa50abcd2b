"""Cache: L1D and LLC load miss ratios and misses per 1000 instructions, per CPU and total.

Same layout and unavailable handling as the CPU performance tab (``CounterTab``): a per-CPU
heatmap for the chosen metric, total plots, the counting mode and multiplexing ratio on top, and
each unavailable plot's reason inline with a link to the Diagnostics tab. On AMD Zen the LLC
generic events do not exist (the kernel maps none), so the LLC plots say so.
"""

from __future__ import annotations

from perfdeck.gui.views.perfcpu import CounterTab, HeatMetric, TotalPlot


class CacheView(CounterTab):
    """L1D/LLC miss % and MPKI over time, per CPU and total."""

    HEAT_METRICS = (
        HeatMetric("l1d_miss_pct", "L1D load misses", "%", 0.0, (0.0, 100.0)),
        HeatMetric("llc_miss_pct", "LLC load misses", "%", 0.0, (0.0, 100.0)),
        HeatMetric("l1d_mpki", "L1D misses per kilo-instruction", "MPKI", 5.0),
        HeatMetric("llc_mpki", "LLC misses per kilo-instruction", "MPKI", 1.0),
    )
    TOTAL_PLOTS = (
        TotalPlot("L1D load miss ratio", "%", (("l1d_miss_pct", "L1D"),), (0.0, 100.0)),
        TotalPlot("LLC load miss ratio", "%", (("llc_miss_pct", "LLC"),), (0.0, 100.0)),
        TotalPlot("L1D misses per 1000 instructions", "MPKI", (("l1d_mpki", "L1D"),)),
        TotalPlot("LLC misses per 1000 instructions", "MPKI", (("llc_mpki", "LLC"),)),
    )
    COLUMNS = 2
