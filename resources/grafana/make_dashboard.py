"""Writes perfdeck.json, the Grafana dashboard for `perfdeck serve` (run: python make_dashboard.py).

One row per PerfDeck tab. Rates come from the exported ``_total`` counters through ``rate()``, so
they are right at any scrape interval; levels and derived ratios (IPC, miss ratios) are the agent's
gauges. Every query selects ``instance=~"$instance"``. tests/serve/test_grafana.py runs every query
against a real Prometheus scraping a real agent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

I = 'instance=~"$instance"'  # noqa: E741 - short on purpose, it is in every query


def rate(metric: str, extra: str = "") -> str:
    return f"rate({metric}{{{I}{extra}}}[$__rate_interval])"


def gauge(metric: str, extra: str = "") -> str:
    return f"{metric}{{{I}{extra}}}"


NOT_IDLE = ', mode!="idle"'
IDLE = ', mode=~"idle|iowait"'  # iowait is idle time too (the CPU waits, runnable work would run)

ROWS: list[tuple[str, list[dict[str, Any]]]] = [
    ("CPU", [
        {"title": "CPU busy by mode", "unit": "percentunit", "stack": True, "targets": [
            (f"sum by (instance, mode) ({rate('perfdeck_cpu_all_seconds_total', NOT_IDLE)}) "
             f"/ on (instance) group_left sum by (instance) ({rate('perfdeck_cpu_all_seconds_total')})",
             "{{instance}} {{mode}}")]},
        {"title": "Busy per CPU", "unit": "percentunit", "targets": [
            (f"1 - sum by (instance, cpu) ({rate('perfdeck_cpu_seconds_total', IDLE)}) "
             f"/ sum by (instance, cpu) ({rate('perfdeck_cpu_seconds_total')})",
             "{{instance}} cpu {{cpu}}")]},
        {"title": "Clock per CPU", "unit": "hertz", "targets": [
            (gauge("perfdeck_cpu_freq_core_hertz"), "{{instance}} cpu {{cpu}}")]},
        {"title": "Load average", "unit": "short", "targets": [
            (gauge("perfdeck_cpu_load_1"), "{{instance}} 1 min"),
            (gauge("perfdeck_cpu_load_5"), "{{instance}} 5 min"),
            (gauge("perfdeck_cpu_load_15"), "{{instance}} 15 min")]},
        {"title": "Context switches and interrupts", "unit": "ops", "targets": [
            (rate("perfdeck_cpu_context_switches_total"), "{{instance}} context switches"),
            (rate("perfdeck_cpu_interrupts_total"), "{{instance}} interrupts")]},
    ]),
    ("Memory", [
        {"title": "Memory", "unit": "bytes", "targets": [
            (gauge(f"perfdeck_mem_{what}_bytes"), f"{{{{instance}}}} {what}")
            for what in ("total", "used", "available", "cached", "buffers", "shared")]},
        {"title": "Swap", "unit": "bytes", "targets": [
            (gauge("perfdeck_mem_swap_used_bytes"), "{{instance}} used"),
            (gauge("perfdeck_mem_swap_total_bytes"), "{{instance}} total")]},
        {"title": "Swap in and out", "unit": "Bps", "targets": [
            (rate("perfdeck_mem_swap_in_bytes_total"), "{{instance}} in"),
            (rate("perfdeck_mem_swap_out_bytes_total"), "{{instance}} out")]},
    ]),
    ("Disks", [
        {"title": "Disk throughput", "unit": "Bps", "targets": [
            (rate("perfdeck_disk_read_bytes_total"), "{{instance}} {{device}} read"),
            (rate("perfdeck_disk_written_bytes_total"), "{{instance}} {{device}} write")]},
        {"title": "Disk IOPS", "unit": "iops", "targets": [
            (rate("perfdeck_disk_reads_completed_total"), "{{instance}} {{device}} reads"),
            (rate("perfdeck_disk_writes_completed_total"), "{{instance}} {{device}} writes")]},
        {"title": "Disk busy", "unit": "percentunit", "targets": [
            (rate("perfdeck_disk_io_time_seconds_total"), "{{instance}} {{device}}")]},
        {"title": "Filesystem used", "unit": "percentunit", "targets": [
            (gauge("perfdeck_disk_fs_used_ratio"), "{{instance}} {{mountpoint}}")]},
    ]),
    ("Network", [
        {"title": "Network throughput", "unit": "Bps", "targets": [
            (rate("perfdeck_net_receive_bytes_total"), "{{instance}} {{interface}} rx"),
            (rate("perfdeck_net_transmit_bytes_total"), "{{instance}} {{interface}} tx")]},
        {"title": "Packets", "unit": "pps", "targets": [
            (rate("perfdeck_net_receive_packets_total"), "{{instance}} {{interface}} rx"),
            (rate("perfdeck_net_transmit_packets_total"), "{{instance}} {{interface}} tx")]},
        {"title": "Errors and drops", "unit": "pps", "targets": [
            (rate(f"perfdeck_net_{direction}_{what}_total"),
             f"{{{{instance}}}} {{{{interface}}}} {direction} {what}")
            for direction in ("receive", "transmit") for what in ("errors", "drops")]},
    ]),
    ("Sensors", [
        {"title": "Temperatures", "unit": "celsius", "targets": [
            (gauge("perfdeck_sensors_temp_celsius"), "{{instance}} {{chip}} {{sensor}}")]},
        {"title": "Fans", "unit": "rotrpm", "targets": [
            (gauge("perfdeck_sensors_fan_rpm"), "{{instance}} {{chip}} {{sensor}}")]},
        {"title": "Battery", "unit": "percentunit", "targets": [
            (gauge("perfdeck_sensors_battery_ratio"), "{{instance}}")]},
    ]),
    ("CPU performance", [
        {"title": "Instructions per cycle", "unit": "none", "targets": [
            (gauge("perfdeck_perf_ipc_all"), "{{instance}} all CPUs"),
            (gauge("perfdeck_perf_ipc_cpu"), "{{instance}} cpu {{cpu}}")]},
        {"title": "Effective clock", "unit": "hertz", "targets": [
            (gauge("perfdeck_perf_ghz_total_hertz"), "{{instance}} all CPUs"),
            (gauge("perfdeck_perf_ghz_cpu_hertz"), "{{instance}} cpu {{cpu}}")]},
        {"title": "Branch mispredictions", "unit": "percentunit", "targets": [
            (gauge("perfdeck_perf_branch_miss_total_ratio"), "{{instance}}")]},
        {"title": "TLB misses per 1000 instructions", "unit": "none", "targets": [
            (gauge("perfdeck_perf_dtlb_mpki_all"), "{{instance}} dTLB"),
            (gauge("perfdeck_perf_itlb_mpki_all"), "{{instance}} iTLB")]},
        {"title": "Stalled cycles", "unit": "percentunit", "targets": [
            (gauge("perfdeck_perf_stall_frontend_total_ratio"), "{{instance}} front end"),
            (gauge("perfdeck_perf_stall_backend_total_ratio"), "{{instance}} back end")]},
        {"title": "Context switches, migrations, page faults (perf)", "unit": "ops", "targets": [
            (rate("perfdeck_perf_count_context_switches_total"), "{{instance}} context switches"),
            (rate("perfdeck_perf_count_cpu_migrations_total"), "{{instance}} migrations"),
            (rate("perfdeck_perf_count_page_faults_total"), "{{instance}} page faults")]},
        {"title": "Hardware counters running (multiplexing)", "unit": "percentunit", "targets": [
            (gauge("perfdeck_perf_multiplex_total_ratio"), "{{instance}}")]},
    ]),
    ("Cache", [
        {"title": "Load miss ratio", "unit": "percentunit", "targets": [
            (gauge("perfdeck_perf_l1d_miss_total_ratio"), "{{instance}} L1D"),
            (gauge("perfdeck_perf_llc_miss_total_ratio"), "{{instance}} LLC")]},
        {"title": "Misses per 1000 instructions", "unit": "none", "targets": [
            (gauge("perfdeck_perf_l1d_mpki_all"), "{{instance}} L1D"),
            (gauge("perfdeck_perf_llc_mpki_all"), "{{instance}} LLC")]},
        {"title": "LLC miss ratio per CPU", "unit": "percentunit", "targets": [
            (gauge("perfdeck_perf_llc_miss_cpu_ratio"), "{{instance}} cpu {{cpu}}")]},
    ]),
    ("Memory bandwidth", [
        {"title": "DRAM read and write", "unit": "Bps", "stack": True, "targets": [
            (rate("perfdeck_membw_read_bytes_total"), "{{instance}} read"),
            (rate("perfdeck_membw_write_bytes_total"), "{{instance}} write")]},
        {"title": "DRAM per socket", "unit": "Bps", "targets": [
            (rate("perfdeck_membw_read_socket_bytes_total"), "{{instance}} socket {{socket}} read"),
            (rate("perfdeck_membw_write_socket_bytes_total"), "{{instance}} socket {{socket}} write")]},
        {"title": "DRAM per channel", "unit": "Bps", "targets": [
            (rate("perfdeck_membw_read_channel_bytes_total"), "{{instance}} {{socket}} {{channel}} read"),
            (rate("perfdeck_membw_write_channel_bytes_total"), "{{instance}} {{socket}} {{channel}} write")]},
    ]),
    ("Power", [
        {"title": "Power (from RAPL energy)", "unit": "watt", "targets": [
            (rate(f"perfdeck_power_energy_{domain}_joules_total"),
             f"{{{{instance}}}} {domain} {{{{socket}}}}")
            for domain in ("package", "cores", "dram", "psys")]},
    ]),
]

WHY_EMPTY = {
    "title": "Why panels are empty on this host", "type": "table",
    "description": "perfdeck serve exports no sample for what it cannot read, and says why here.",
    "targets": [
        {"expr": 'perfdeck_family_unavailable_info{instance=~"$instance"}', "format": "table",
         "instant": True, "refId": "A"},
        {"expr": 'perfdeck_metric_unavailable_info{instance=~"$instance"}', "format": "table",
         "instant": True, "refId": "B"},
    ],
    "transformations": [{"id": "merge", "options": {}},
                        {"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True,
                                                                         "__name__": True, "job": True}}}],
}

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def panel(spec: dict[str, Any], panel_id: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id, "type": "timeseries", "title": spec["title"], "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": spec["unit"], "custom": {
            "fillOpacity": 20 if spec.get("stack") else 5, "lineWidth": 1, "showPoints": "never",
            "stacking": {"mode": "normal" if spec.get("stack") else "none"}}}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [{"expr": expr, "legendFormat": legend, "refId": chr(ord("A") + n),
                     "datasource": DATASOURCE}
                    for n, (expr, legend) in enumerate(spec["targets"])],
    }


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    panel_id, y = 1, 0
    why = dict(WHY_EMPTY, id=panel_id, datasource=DATASOURCE, gridPos={"h": 6, "w": 24, "x": 0, "y": y})
    why["targets"] = [dict(t, datasource=DATASOURCE) for t in WHY_EMPTY["targets"]]
    panels.append(why)
    panel_id, y = panel_id + 1, y + 6
    for title, specs in ROWS:
        panels.append({"id": panel_id, "type": "row", "title": title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        panel_id, y = panel_id + 1, y + 1
        for index, spec in enumerate(specs):
            panels.append(panel(spec, panel_id, 12 * (index % 2), y + 8 * (index // 2)))
            panel_id += 1
        y += 8 * ((len(specs) + 1) // 2)
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource",
                      "pluginId": "prometheus", "pluginName": "Prometheus"}],
        "title": "PerfDeck", "uid": "perfdeck-hosts", "editable": True, "schemaVersion": 39,
        "tags": ["perfdeck", "hardware counters"], "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s", "timezone": "", "graphTooltip": 1,
        "description": "Hosts running perfdeck serve: CPU, memory, disks, network, sensors, hardware "
                       "counters (IPC, caches, TLB), DRAM bandwidth and power. See docs/prometheus.md.",
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0},
            {"name": "instance", "label": "Host", "type": "query", "datasource": DATASOURCE,
             "query": {"query": "label_values(perfdeck_build_info, instance)", "refId": "instance"},
             "definition": "label_values(perfdeck_build_info, instance)", "refresh": 2, "sort": 1,
             "multi": True, "includeAll": False, "current": {}, "hide": 0},
        ]},
        "panels": panels,
    }


if __name__ == "__main__":
    target = Path(__file__).with_name("perfdeck.json")
    target.write_text(json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {target}")
