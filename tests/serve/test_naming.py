"""The generic mapping from PerfDeck specs to Prometheus names: base units, suffixes, one ratio rule."""

from __future__ import annotations

import pytest

from perfdeck.exporter.naming import metric_name


@pytest.mark.parametrize(("metric", "unit", "name", "factor"), [
    ("cpu.util.core", "%", "perfdeck_cpu_util_core_ratio", 0.01),  # every percentage becomes a 0..1 ratio
    ("cpu.freq.core", "MHz", "perfdeck_cpu_freq_core_hertz", 1e6),
    ("perf.ghz", "GHz", "perfdeck_perf_ghz_hertz", 1e9),
    ("membw.read", "GB/s", "perfdeck_membw_read_bytes_per_second", 1e9),
    ("mem.used", "B", "perfdeck_mem_used_bytes", 1.0),
    ("sensors.temp", "°C", "perfdeck_sensors_temp_celsius", 1.0),
    ("power.package", "W", "perfdeck_power_package_watts", 1.0),
    ("net.rx_packets", "pkt/s", "perfdeck_net_rx_packets_per_second", 1.0),
    ("perf.ipc", "IPC", "perfdeck_perf_ipc", 1.0),
    ("perf.llc_mpki", "MPKI", "perfdeck_perf_llc_mpki", 1.0),
    ("cpu.util.total", "%", "perfdeck_cpu_util_total_ratio", 0.01),  # _total only matters at the end
    ("perf.ipc.total", "IPC", "perfdeck_perf_ipc_all", 1.0),  # _total at the end is reserved for counters
    ("mem.used_pct", "%", "perfdeck_mem_used_ratio", 0.01),  # no "pct_ratio"
    ("perf.l1d_miss_pct.cpu", "%", "perfdeck_perf_l1d_miss_cpu_ratio", 0.01),
    ("proc.count", "", "perfdeck_proc_number", 1.0),  # _count is reserved for histograms and summaries
    # an unknown unit is kept, sanitised
    ("gpu.odd unit", "widgets/s", "perfdeck_gpu_odd_unit_widgets_per_s", 1.0),
])
def test_gauge_names(metric: str, unit: str, name: str, factor: float) -> None:
    naming = metric_name(metric, unit)
    assert (naming.name, naming.factor) == (name, factor)


@pytest.mark.parametrize(("metric", "unit", "name"), [
    ("cpu.seconds", "s", "perfdeck_cpu_seconds"),  # exposed as perfdeck_cpu_seconds_total
    ("net.rx", "B", "perfdeck_net_rx_bytes"),
    ("power.energy", "J", "perfdeck_power_energy_joules"),
    ("perf.instructions", "", "perfdeck_perf_instructions"),
    ("net.rx_packets.total", "", "perfdeck_net_rx_packets"),  # no "_total_total"
    ("membw.bytes.read.socket", "B", "perfdeck_membw_read_socket_bytes"),  # the unit goes last, once
    ("power.energy.package", "J", "perfdeck_power_energy_package_joules"),
    ("perf.count.task-clock.cpu", "s", "perfdeck_perf_count_task_clock_cpu_seconds"),
])
def test_counter_names(metric: str, unit: str, name: str) -> None:
    assert metric_name(metric, unit, counter=True).name == name


def test_a_unit_already_in_the_name_is_not_repeated() -> None:
    assert metric_name("cpu.busy_seconds", "s").name == "perfdeck_cpu_busy_seconds"
