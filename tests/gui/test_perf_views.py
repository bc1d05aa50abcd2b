"""CPU performance, Cache and Diagnostics tabs, and the per-process counter panel."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time

import numpy as np
import pytest
from PySide6.QtWidgets import QMainWindow

from fakes import doctor_trees as trees
from perfdeck.gui.views.base import ViewContext
from perfdeck.gui.views.cache import CacheView
from perfdeck.gui.views.diagnostics import DiagnosticsView, render_html
from perfdeck.gui.views.perfcpu import PerfCpuView, per_cpu_ids
from perfdeck.gui.views.process_counters import ProcessCountersPanel
from perfdeck.model.history import History
from perfdeck.model.series import Kind, SeriesSpec, Snapshot, Unavailable
from perfdeck.perf import abi
from perfdeck.perf.doctor import diagnose
from perfdeck.perf.system import probe

pytestmark = pytest.mark.gui

NO_PMU = Unavailable("no hardware PMU: this is a virtual machine; perf_event_open gives ENOENT",
                     "give the guest a virtual PMU")
HARDWARE = ("ipc", "ghz", "active_ghz", "branch_miss_pct", "dtlb_mpki", "itlb_mpki", "stall_frontend_pct",
            "stall_backend_pct", "l1d_miss_pct", "llc_miss_pct", "l1d_mpki", "llc_mpki", "multiplex_pct")
SOFTWARE = ("ctx_switches", "migrations", "page_faults", "minor_faults", "major_faults")


# What the collector says on AMD, where ref-cycles opens but its rate is not known.
NO_BASE_CLOCK = Unavailable("the reference-cycle rate is not known on AuthenticAMD: active GHz needs "
                            "Intel's ref-cycles at the base clock")


def vm_snapshot(cpus: int, tick: int, hardware: bool = False,
                missing: dict[str, Unavailable] | None = None) -> Snapshot:
    """Shaped like the perf collector's output on a VM (software only) or a PMU machine.

    ``missing``: metrics a PMU machine still cannot give, with the collector's reason.
    """
    specs, values, unavailable = {}, {}, {}
    for metric in SOFTWARE + HARDWARE:
        for inst in ["total"] + [f"cpu{c}" for c in range(cpus)]:
            sid = f"perf.{metric}.{inst}"
            if metric in HARDWARE and not hardware:
                unavailable[sid] = Unavailable(NO_PMU.reason + f" (needs {metric})", NO_PMU.fix)
                continue
            if missing and metric in missing:
                unavailable[sid] = missing[metric]
                continue
            specs[sid] = SeriesSpec(sid, sid, "/s", Kind.RATE, f"perf.{metric}")
            values[sid] = float((tick * 13 + len(inst)) % 50)
    return Snapshot(timestamp=1000.0 + tick, monotonic=float(tick), values=values, specs=specs,
                    unavailable=unavailable)


def _feed(view, history: History, snapshots) -> None:
    for snap in snapshots:
        history.append_snapshot(snap)
        view.context.latest = snap
    view.refresh(view.context.latest)


class FakeWindow(QMainWindow):
    """Stands in for the main window: records select_tab calls."""

    def __init__(self) -> None:
        super().__init__()
        self.selected: list[str] = []
        self.views: dict = {}

    def select_tab(self, title: str) -> bool:
        self.selected.append(title)
        return True


@pytest.fixture
def window(qtbot):
    win = FakeWindow()
    qtbot.addWidget(win)
    win.resize(1200, 900)
    return win


def test_vm_shows_software_counters_and_explains_hardware_once(qtbot, window) -> None:
    history = History(100)
    view = PerfCpuView(ViewContext(history=history))
    window.setCentralWidget(view)
    window.show()
    _feed(view, history, [vm_snapshot(2, t) for t in range(10)])
    shown = [title for title, panel in view.panels.items() if panel.isVisible()]
    assert shown == ["CPU scheduling", "Page faults"]
    assert view.summary.isVisible()
    text = view.summary.full_text()
    assert "IPC (instructions per cycle)" in text and "Stalled cycles" in text
    assert text.count("no hardware PMU") == 1  # grouped by cause, "(needs ...)" stripped
    assert "give the guest a virtual PMU" in text
    # What a person reads first: plain words, said once; the reason and fix behind Details.
    shown = view.summary.text()
    assert shown.count("Hardware counters are off in this virtual machine") == 1
    assert "give the guest" not in shown and "Details" in shown
    view.summary.linkActivated.emit("details")
    assert "give the guest a virtual PMU" in view.summary.text()
    # The heatmap moved to the first metric that works here, and the others say why not.
    assert view.current_heat_metric().name == "ctx_switches"
    assert view.heatmap.isVisible() and view.heatmap.rows == ["perf.ctx_switches.cpu0",
                                                              "perf.ctx_switches.cpu1"]
    assert view.metric_combo.itemText(0).endswith("unavailable")
    view.select_heat_metric("ipc")
    assert not view.heatmap.isVisible() and "virtual machine" in view.heat_reason.text()
    view.summary.linkActivated.emit("diagnostics")
    assert window.selected == ["Diagnostics"]


def test_pmu_machine_plots_everything_per_cpu_up_to_256(qtbot, window) -> None:
    history = History(50)
    view = PerfCpuView(ViewContext(history=history))
    window.setCentralWidget(view)
    window.show()
    _feed(view, history, [vm_snapshot(256, t, hardware=True) for t in range(5)])
    assert not view.summary.isVisible()
    assert all(panel.isVisible() for panel in view.panels.values())
    assert view.current_heat_metric().name == "ipc"
    assert len(view.heatmap.rows) == 256 and view.heatmap.rows[10] == "perf.ipc.cpu10"
    assert "Counting mode:" in view.mode_label.text()
    clock = view.panels["Clock (GHz)"].plot
    assert clock.series_ids == ["perf.active_ghz.total", "perf.ghz.total"]


def test_clock_plot_names_the_active_clock_it_cannot_show(qtbot, window) -> None:
    """AMD: unhalted GHz is plotted; the active clock is named in the box with the collector's reason."""
    history = History(50)
    view = PerfCpuView(ViewContext(history=history))
    window.setCentralWidget(view)
    window.show()
    _feed(view, history, [vm_snapshot(4, t, hardware=True, missing={"active_ghz": NO_BASE_CLOCK})
                          for t in range(5)])
    title = "Clock (GHz)"
    assert view.panels[title].isVisible()
    times, values = history.window(["perf.ghz.total", "perf.active_ghz.total"], 60)
    assert len(times) == 5 and np.isfinite(values["perf.ghz.total"]).all()
    assert np.isnan(values["perf.active_ghz.total"]).all()  # nothing invented, no zero curve
    assert view.summary.isVisible() and "Clock (active)" in view.summary.text()
    assert "reference-cycle rate is not known on AuthenticAMD" in view.summary.full_text()
    assert view.summary.full_text().count("AuthenticAMD") == 1
    index = view.metric_combo.findData("active_ghz")
    assert view.metric_combo.itemText(index) == "Active clock (GHz) — unavailable"
    view.select_heat_metric("active_ghz")
    assert not view.heatmap.isVisible() and "Active clock per CPU" in view.heat_reason.text()


def test_missing_perf_family_is_explained(qtbot, window) -> None:
    history = History(10)
    view = CacheView(ViewContext(history=history))
    window.setCentralWidget(view)
    window.show()
    snap = Snapshot(timestamp=1.0, monotonic=1.0, values={}, specs={},
                    unavailable={"perf": Unavailable("perf_event_paranoid is 4", "sudo sysctl ...")})
    _feed(view, history, [snap])
    assert view.family_reason.isVisible() and "perf_event_paranoid is 4" in view.family_reason.full_text()
    assert "need permission" in view.family_reason.text()  # plain words first
    assert not view.grid_box.isVisible()


def test_cache_tab_on_a_vm_lists_all_four_plots(qtbot, window) -> None:
    history = History(10)
    view = CacheView(ViewContext(history=history))
    window.setCentralWidget(view)
    window.show()
    _feed(view, history, [vm_snapshot(2, t) for t in range(3)])
    assert not view.grid_box.isVisible()
    assert "L1D load miss ratio" in view.summary.text() and "LLC misses per 1000" in view.summary.text()


def test_per_cpu_ids_are_in_cpu_order() -> None:
    ids = ["perf.ipc.cpu10", "perf.ipc.cpu2", "perf.ipc.total", "perf.ghz.cpu1", "perf.ipc.cpu0"]
    assert per_cpu_ids(ids, "ipc") == ["perf.ipc.cpu0", "perf.ipc.cpu2", "perf.ipc.cpu10"]


# --- per-process panel -------------------------------------------------------------------------

def test_process_panel_counts_a_live_process_then_reports_its_exit(qtbot) -> None:
    child = subprocess.Popen([sys.executable, "-c",
                              "import time\nwhile True:\n    time.sleep(0.001)"])
    panel = ProcessCountersPanel(reason_for=lambda metric: NO_PMU if metric in HARDWARE else None)
    qtbot.addWidget(panel)
    panel.show()
    try:
        panel.set_pid(child.pid)
        assert panel.counters is not None, panel.status.text()
        qtbot.wait(400)
        panel.poll()
        qtbot.wait(400)
        panel.poll()
        ctx = panel.tiles["Context switches"].value.text()
        assert ctx not in ("—", "n/a") and ctx.endswith("/s"), ctx  # sleeps 1000 times a second
        assert "counted" in panel.status.text()
        if not probe().core_pmus:
            ipc = panel.tiles["IPC"]
            assert ipc.value.text() == "n/a" and "no hardware PMU" in ipc.toolTip()
            assert "hardware counters" in (ipc.detail.toolTip() + ipc.detail.text()).lower()
    finally:
        child.kill()
        child.wait()
    panel.poll()
    assert panel.exited and "has exited" in panel.status.text()
    assert panel.counters is None  # fds closed
    panel.shutdown()


def test_process_panel_for_a_vanished_pid(qtbot) -> None:
    class Gone:
        def open(self) -> None:
            raise abi.PerfOpenError(3, "the process or thread no longer exists")

    panel = ProcessCountersPanel(counters_factory=lambda pid: Gone())
    qtbot.addWidget(panel)
    panel.set_pid(4_000_000)
    assert panel.exited and "has exited" in panel.status.text()
    panel.set_pid(None)
    assert "Select a process" in panel.status.text()


# --- diagnostics -------------------------------------------------------------------------------

def test_diagnostics_tab_runs_the_doctor_in_the_background(qtbot, window, tmp_path) -> None:
    history = History(10)
    view = DiagnosticsView(ViewContext(history=history))
    window.setCentralWidget(view)
    window.show()
    snap = vm_snapshot(2, 0)
    specs = {**snap.specs, "proc.count": SeriesSpec("proc.count", "Processes", "")}
    view.context.latest = Snapshot(timestamp=1.0, monotonic=1.0, values={"proc.count": 90.0},
                                   specs=specs, unavailable={"sensors": Unavailable("no sensors here")})
    view.refresh(view.context.latest)
    qtbot.waitUntil(lambda: view.report is not None, timeout=30000)
    text = view.browser.toPlainText()
    assert "Software events" in text and "Counting mode" in text
    # The psutil families come from the window's own snapshot, not from a second collector set.
    assert "Processes [available]" in text and "Sensors [unavailable]" in text
    assert "no sensors here" in text
    if not probe().core_pmus:
        assert "no hardware PMU" in text
    out = tmp_path / "report.json"
    view.save_json(str(out))
    assert '"families"' in out.read_text()
    started = view.report.generated
    time.sleep(0.01)
    view.refresh_button.click()
    qtbot.waitUntil(lambda: view.report.generated > started, timeout=30000)


def test_render_html_shows_hybrid_encodings(tmp_path) -> None:
    report = diagnose(trees.make_intel_hybrid(tmp_path), include_core=False)
    page = render_html(report)
    assert "cpu_core/cycles" in page and "0x400000000" in page and "0x800000000" in page
    assert "sudo sysctl kernel.perf_event_paranoid=0" in page


def test_diagnostics_reads_like_a_report(tmp_path) -> None:
    """No literal Markdown backticks, no path broken mid-path, commands in blocks of their own."""
    from perfdeck.gui.views.diagnostics import rich

    page = render_html(diagnose(trees.make_intel_hybrid(tmp_path), include_core=False))
    assert "`" not in page
    assert "<pre" in page and "sudo sysctl kernel.perf_event_paranoid=0</pre>" in page
    text = rich("no PMU under /sys/bus/event_source/devices. QEMU/KVM `-cpu host,pmu=on` and <b>")
    assert "<span style='white-space:nowrap'>/sys/bus/event_source/devices</span>." in text
    assert "<code style='white-space:nowrap'>-cpu host,pmu=on</code>" in text
    assert "QEMU/KVM" in text and "&lt;b&gt;" in text  # not a path; markup escaped


def test_diagnostics_shows_the_perf_stat_command_to_copy(qtbot, tmp_path) -> None:
    """The doctor's `perf stat` line is in the tab too, whole, in a block of its own."""
    from PySide6.QtWidgets import QTextBrowser

    report = diagnose(trees.make_intel_hybrid(tmp_path), include_core=False)
    assert report.perf_stat.startswith("perf stat ") and "cpu_core/ref-cycles/" in report.perf_stat
    browser = QTextBrowser()
    qtbot.addWidget(browser)
    browser.setHtml(render_html(report))
    text = browser.toPlainText()
    assert "Compare with perf stat" in text
    assert report.perf_stat in text.replace("\u2028", "\n").splitlines()  # one line, as copied
    # Nothing to compare with (no event opened): no empty block.
    assert "Compare with perf stat" not in render_html(dataclasses.replace(report, perf_stat=""))
