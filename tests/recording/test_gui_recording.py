"""The Qt side: recording controller, status button, export dialog, recording windows, wiring."""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from conftest import SPECS, T0, synthetic_value

pytest.importorskip("PySide6")
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from perfdeck.gui.export_dialog import ExportDialog
from perfdeck.gui.recording import RecordingController, install_recording
from perfdeck.gui.recording_view import default_visible, open_recording
from perfdeck.model import recorder as recorder_module
from perfdeck.model.collector import Collector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.recording_file import load_recording
from perfdeck.model.series import Reading, SeriesSpec, Snapshot

pytestmark = pytest.mark.gui


class FakeSampler(QObject):
    snapshot = Signal(object)


def _snapshot(index: int, specs: Mapping[str, SeriesSpec] = SPECS) -> Snapshot:
    return Snapshot(timestamp=T0 + index, monotonic=1000.0 + index,
                    values={sid: synthetic_value(sid, index) for sid in specs}, specs=specs)


def test_controller_records_snapshots_and_reports_state(qtbot, tmp_path: Path) -> None:
    sampler = FakeSampler()
    controller = RecordingController()
    sampler.snapshot.connect(controller.on_snapshot)
    states: list[tuple[bool, str]] = []
    controller.state_changed.connect(lambda on, message: states.append((on, message)))
    path = tmp_path / "gui.csv"
    assert controller.start(path)
    assert controller.is_recording and controller.path == path
    for index in range(6):
        sampler.snapshot.emit(_snapshot(index))
    controller.stop()
    assert not controller.is_recording
    assert states[0] == (True, f"Recording to {path}")
    assert states[-1][0] is False and states[-1][1].startswith("Recorded 6 rows to gui.csv")
    recording = load_recording(path)
    assert len(recording) == 6 and recording.warnings == []
    controller.stop()  # twice is fine


def test_controller_refuses_an_unwritable_path(qtbot, tmp_path: Path) -> None:
    controller = RecordingController()
    states: list[tuple[bool, str]] = []
    controller.state_changed.connect(lambda on, message: states.append((on, message)))
    assert not controller.start(tmp_path / "missing" / "x.csv")
    assert not controller.is_recording
    assert states == [(False, f"Cannot record: cannot create {tmp_path / 'missing' / 'x.csv'}: "
                              "No such file or directory")]


def test_disk_full_stops_the_recording_and_says_so(qtbot, tmp_path: Path, monkeypatch) -> None:
    controller = RecordingController()
    path = tmp_path / "full.csv"
    assert controller.start(path)
    controller._recorder.flush_interval = 0.0  # write each row at once
    controller.on_snapshot(_snapshot(0))
    states: list[tuple[bool, str]] = []
    controller.state_changed.connect(lambda on, message: states.append((on, message)))

    def no_space(_fd: int, _data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(recorder_module.os, "write", no_space)
    controller.on_snapshot(_snapshot(1))
    monkeypatch.undo()
    assert not controller.is_recording
    assert states and states[-1][0] is False
    assert "Recording stopped: disk full while writing" in states[-1][1]
    assert len(load_recording(path)) == 1  # the row written before the disk filled


def test_export_dialog_exports_the_selection(qtbot, tmp_path: Path, make_history) -> None:
    history = make_history(rows=300)
    dialog = ExportDialog(history, window_seconds=60)
    qtbot.addWidget(dialog)
    dialog.set_families(["cpu", "mem"])
    assert dialog.selected_series() == ["cpu.util.total", "cpu.util.core0", "mem.used"]
    dialog.range_visible.setChecked(True)
    path = tmp_path / "dialog.csv"
    dialog.path_edit.setText(str(path))
    assert "61 rows × 3 series" in dialog.summary.text()
    dialog.start_export(confirm_overwrite=False)
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=10000)
    recording = load_recording(path)
    assert len(recording) == 61  # the visible minute, both ends included
    assert [c.series_id for c in recording.columns] == ["cpu.util.total", "cpu.util.core0", "mem.used"]


def test_export_dialog_averages_and_custom_range(qtbot, tmp_path: Path, make_history) -> None:
    history = make_history(rows=600)
    dialog = ExportDialog(history)
    qtbot.addWidget(dialog)
    dialog.average_button.setChecked(True)
    dialog.average_seconds.setValue(60)
    from perfdeck.gui.export_dialog import _qdatetime

    dialog.start_edit.setDateTime(_qdatetime(T0 + 120))
    dialog.end_edit.setDateTime(_qdatetime(T0 + 299))
    assert dialog.range_custom.isChecked()
    request = dialog.request()
    assert request.average_seconds == 60 and request.start == T0 + 120
    dialog.path_edit.setText(str(tmp_path / "avg.csv"))
    dialog.start_export(confirm_overwrite=False)
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=10000)
    assert dialog.result.rows == 4  # 180 s starting 40 s into a minute: parts of 4 minutes


def test_export_dialog_reports_an_unwritable_folder(qtbot, tmp_path: Path, make_history) -> None:
    dialog = ExportDialog(make_history(rows=10))
    qtbot.addWidget(dialog)
    dialog.path_edit.setText(str(tmp_path / "nope" / "x.csv"))
    dialog.start_export(confirm_overwrite=False)
    qtbot.waitUntil(lambda: bool(dialog.last_error), timeout=10000)
    assert "the folder" in dialog.last_error and "does not exist" in dialog.last_error
    assert dialog.result is None
    assert dialog.findChild(QMessageBox, "exportError") is not None
    assert list(tmp_path.iterdir()) == []


def _write_recording(path: Path, rows: int = 30, torn: bool = False) -> None:
    recorder = recorder_module.CsvRecorder(path)
    recorder.open()
    for index in range(rows):
        recorder.append(_snapshot(index))
    recorder.close()
    if torn:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("2026-11-18T11:08:00.000+00:00,99.0,1")


def test_recording_window_shows_the_timeline_and_reads_values(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    _write_recording(path)
    window = open_recording(path)
    assert window is not None
    qtbot.addWidget(window)
    assert set(window.plots) == {("cpu", "%"), ("mem", "B"), ("net", "B/s"), ("sensors", "°C")}
    assert window.visible_series() == list(SPECS)
    left, right = window.x_range()
    assert left <= T0 and right >= T0 + 29  # the whole recording is in view
    text = window.readout_text(T0 + 10.2, window.plots[("cpu", "%")])
    assert "(+0:00:10.000)" in text
    assert f"CPU busy {synthetic_value('cpu.util.total', 10):.1f} %" in text  # human names
    assert "CPU 0 busy —" in window.readout_text(T0 + 3, window.plots[("cpu", "%")])  # a gap
    window.set_series_visible("mem.used", False)
    assert not window.plots[("mem", "B")].isVisibleTo(window)
    window.set_series_visible("mem.used", True)
    assert "mem.used" in window.visible_series()
    assert window.warning.isHidden()


def test_a_torn_recording_opens_and_says_so(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "torn.csv"
    _write_recording(path, rows=5, torn=True)
    window = open_recording(path)
    assert window is not None
    qtbot.addWidget(window)
    assert len(window.recording) == 5
    assert not window.warning.isHidden()
    assert "line 7 is incomplete" in window.warning.text()


def test_a_bad_file_is_refused_with_a_message(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("date,value\n2026-01-01,3\n")
    assert open_recording(path) is None
    boxes = [w for w in QApplication.topLevelWidgets() if w.objectName() == "openRecordingError"]
    assert boxes
    assert "not a PerfDeck recording" in boxes[-1].text() and "line 1" in boxes[-1].text()
    for box in boxes:
        box.close()


def _open_error_text(path: Path) -> str:
    """Open ``path`` (which must fail) and return the one message box's text."""
    assert open_recording(path) is None
    boxes = [w for w in QApplication.topLevelWidgets()
             if w.objectName() == "openRecordingError" and w.isVisible()]  # earlier ones are closed
    assert len(boxes) == 1
    boxes[0].close()
    return boxes[0].text()


def test_a_missing_file_is_one_plain_sentence_naming_it_once(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "gone.csv"
    text = _open_error_text(path)
    assert text == f"Cannot open {path}: No such file or directory."
    assert "Errno" not in text and "FileNotFoundError" not in text


def test_a_bad_file_names_its_path_once_and_the_line(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("date,value\n2026-01-01,3\n")
    text = _open_error_text(path)
    assert text.startswith(f"Cannot open {path}: line 1: ") and text.count(str(path)) == 1
    assert "\n" not in text and not text.endswith("..")


def test_a_bad_part_file_is_named(qtbot, tmp_path: Path) -> None:
    """The user opened the base file; when its continuation is at fault, the message says which."""
    path = tmp_path / "run.csv"
    _write_recording(path, rows=3)
    part = tmp_path / "run.part2.csv"
    part.write_text("date,value\n2026-01-01,3\n")
    text = _open_error_text(path)
    assert text.startswith(f"Cannot open {path}: {part}") and text.count(str(path)) == 1


def test_default_visible_prefers_aggregates() -> None:
    ids = ["cpu.util.total"] + [f"cpu.util.core{i}" for i in range(16)]
    assert default_visible(ids) == ["cpu.util.total"]
    assert default_visible(["a.b", "a.c"]) == ["a.b", "a.c"]


class _Counter(Collector):
    family = "cpu"
    title = "CPU"

    def __init__(self) -> None:
        self.reads = 0

    def specs(self) -> Mapping[str, SeriesSpec]:
        return {"cpu.util.total": SPECS["cpu.util.total"]}

    def read(self, now: float) -> Reading:
        self.reads += 1
        return Reading(values={"cpu.util.total": float(self.reads)})


def test_install_recording_on_the_main_window(qtbot, tmp_path: Path) -> None:
    from perfdeck.gui.app import build_window

    window = build_window(interval=0.1, engine=SamplingEngine([_Counter()]), tabs=())
    qtbot.addWidget(window)
    controller = install_recording(window)
    assert window.recording is controller
    texts = [a.text() for a in window.file_menu.actions()]
    assert "&Open recording…" in texts and "&Export CSV…" in texts and "Start &recording…" in texts
    assert texts.index("Start &recording…") < texts.index(window.quit_action.text())
    path = tmp_path / "live.csv"
    window.sampler.start()
    try:
        assert controller.start(path)
        assert controller.record_action.text() == "Stop &recording"
        assert "REC" in controller.indicator.text() and "live.csv" in controller.indicator.text()
        qtbot.waitUntil(lambda: controller.rows >= 3, timeout=10000)
    finally:
        window.shutdown()  # emits about_to_shut_down: the recording is finished on the way out
    assert not controller.is_recording
    assert controller.indicator.text() == "Record" and not controller.indicator.icon().isNull()
    recording = load_recording(path)
    assert len(recording) >= 3 and recording.warnings == []
    assert list(recording.values["cpu.util.total"][:3]) == sorted(recording.values["cpu.util.total"][:3])
    assert os.path.getsize(path) > 0


def test_a_large_export_runs_in_slices_and_the_event_loop_keeps_turning(qtbot, tmp_path: Path,
                                                                      make_history) -> None:
    from PySide6.QtCore import QTimer

    from perfdeck.gui.export_dialog import ExportRunner
    from perfdeck.model.export import CsvExport, ExportRequest

    # 300,000 cells: several 30 ms slices on any machine (a slice formats a few 10,000 cells).
    history = make_history(rows=60_000)
    export = CsvExport(history, tmp_path / "big.csv", ExportRequest(tuple(SPECS)))
    runner = ExportRunner(export)
    ticks = {"before_done": 0}
    done: list[object] = []
    progress: list[int] = []
    runner.finished.connect(done.append)
    runner.progress.connect(lambda rows, _total: progress.append(rows))
    other = QTimer()
    other.setInterval(0)
    other.timeout.connect(lambda: ticks.__setitem__("before_done", ticks["before_done"] + (0 if done else 1)))
    other.start()
    runner.start()
    qtbot.waitUntil(lambda: bool(done), timeout=60000)
    other.stop()
    assert len(progress) >= 3 and progress == sorted(progress)  # several slices, not one block
    assert ticks["before_done"] >= 2  # other events ran between the slices
    assert len(load_recording(tmp_path / "big.csv")) == 60_000


def test_cancelling_an_export_leaves_no_file(qtbot, tmp_path: Path, make_history) -> None:
    from perfdeck.gui.export_dialog import ExportRunner
    from perfdeck.model.export import CsvExport, ExportRequest

    export = CsvExport(make_history(rows=20_000), tmp_path / "c.csv", ExportRequest(tuple(SPECS)))
    runner = ExportRunner(export)
    failed: list[str] = []
    runner.failed.connect(failed.append)
    runner.progress.connect(lambda *_: runner.cancel())
    runner.start()
    qtbot.waitUntil(lambda: bool(failed), timeout=30000)
    assert failed == ["Export cancelled; no file was written."]
    assert list(tmp_path.iterdir()) == []


def test_hovering_a_plot_moves_the_cursor_and_fills_the_readout(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    _write_recording(path)
    window = open_recording(path)
    assert window is not None
    qtbot.addWidget(window)
    window.resize(1000, 700)
    qtbot.waitExposed(window)
    plot = window.plots[("mem", "B")]
    view_box = plot.getPlotItem().vb
    scene_pos = view_box.mapViewToScene(pg_point(T0 + 12, 0))
    plot.scene().sigMouseMoved.emit(scene_pos)
    assert "(+0:00:12.000)" in window.readout.text()
    assert "Memory used 3.7 GiB" in window.readout.text()
    for each in window.plots.values():  # the cursor line follows in every plot
        assert each.cursor.isVisible() and abs(each.cursor.value() - (T0 + 12)) < 0.5


def pg_point(x: float, y: float):
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


def test_disk_full_sends_a_desktop_notification_when_the_window_has_a_notifier(qtbot, tmp_path: Path,
                                                                               monkeypatch) -> None:
    from PySide6.QtWidgets import QWidget

    class FakeNotifier:
        def __init__(self) -> None:
            self.sent: list[tuple[object, str, str]] = []

        def notify(self, key: object, summary: str, body: str = "") -> None:
            self.sent.append((key, summary, body))

    window = QWidget()
    qtbot.addWidget(window)
    integration = QObject(window)  # stands in for gui.integration.DesktopIntegration
    integration.notifier = FakeNotifier()
    controller = RecordingController(window)
    assert controller.start(tmp_path / "n.csv")

    def no_space(_fd: int, _data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(recorder_module.os, "write", no_space)
    controller.on_snapshot(_snapshot(0))  # the header write fails
    monkeypatch.undo()
    assert not controller.is_recording
    (_key, summary, body), = integration.notifier.sent
    assert summary == "PerfDeck recording stopped: disk full"
    assert body.startswith(f"disk full while writing {tmp_path / 'n.csv'}")


def test_export_dialog_takes_its_defaults_from_the_settings(qtbot, tmp_path: Path, make_history) -> None:
    from types import SimpleNamespace

    from perfdeck.gui.export_dialog import show_export_dialog
    from perfdeck.model.settings import Settings

    host = QWidget()
    qtbot.addWidget(host)
    host.history = make_history(rows=10)
    host.desktop = SimpleNamespace(settings=Settings(export_directory=str(tmp_path),
                                                     export_average_seconds=30.0))
    dialog = show_export_dialog(host)
    qtbot.addWidget(dialog)
    assert Path(dialog.path_edit.text()).parent == tmp_path
    assert dialog.average_button.isChecked() and dialog.average_seconds.value() == 30.0


def test_controller_refuses_a_name_too_long_for_its_parts_without_a_traceback(qtbot, tmp_path: Path) -> None:
    controller = RecordingController()
    states: list[tuple[bool, str]] = []
    controller.state_changed.connect(lambda on, message: states.append((on, message)))
    assert not controller.start(tmp_path / ("y" * 248 + ".csv"))
    assert not controller.is_recording
    assert states[-1][0] is False and states[-1][1].startswith("Cannot record: the file name is too long")


def test_controller_turns_any_os_error_into_a_message(qtbot, tmp_path: Path, monkeypatch) -> None:
    controller = RecordingController()
    states: list[tuple[bool, str]] = []
    controller.state_changed.connect(lambda on, message: states.append((on, message)))

    def broken_open(self) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(recorder_module.CsvRecorder, "open", broken_open)
    assert not controller.start(tmp_path / "x.csv")
    assert states[-1] == (False, f"Cannot record to {tmp_path / 'x.csv'}: Input/output error")


def test_opening_a_fifo_shows_a_message_instead_of_hanging(qtbot, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    assert open_recording(fifo) is None
    boxes = [w for w in QApplication.topLevelWidgets() if w.objectName() == "openRecordingError"]
    assert any("named pipe (FIFO)" in box.text() for box in boxes)
    for box in boxes:
        box.close()
def test_recording_wheel_scrolls_the_page_and_zoom_stays_within_the_recording(qtbot, tmp_path: Path) -> None:
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent

    path = tmp_path / "r.csv"
    _write_recording(path)
    window = open_recording(path)
    qtbot.addWidget(window)
    plot = window.plots[("cpu", "%")]
    before = window.x_range()

    def wheel(modifiers: Qt.KeyboardModifier) -> QWheelEvent:
        center = QPointF(plot.width() / 2, plot.height() / 2)
        return QWheelEvent(center, QPointF(plot.mapToGlobal(center.toPoint())), QPoint(0, 0), QPoint(0, -120),
                           Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)

    event = wheel(Qt.KeyboardModifier.NoModifier)
    plot.wheelEvent(event)
    assert not event.isAccepted() and window.x_range() == before  # left to the scroll area
    # Zooming out as far as it goes stays within the recording (it used to reach 1980-2080).
    view_box = plot.getPlotItem().getViewBox()
    view_box.scaleBy(x=1000.0)
    left, right = window.x_range()
    assert left >= T0 - 1 and right <= T0 + 31
    view_box.scaleBy(x=1e-6)
    left, right = window.x_range()
    assert right - left >= 5 * 0.99  # at least five samples of a 1 s recording


def test_a_recording_opens_in_the_live_tabs_with_a_time_navigator(qtbot, tmp_path: Path) -> None:
    """One visual language: the recording feeds the same tab views as the live window."""
    import time as time_module

    import numpy as np

    from perfdeck.gui.views.cpu import CpuView
    from perfdeck.gui.views.overview import OverviewView

    path = tmp_path / "r.csv"
    _write_recording(path, rows=60)
    window = open_recording(path)
    qtbot.addWidget(window)
    titles = [window.pages.tabText(i) for i in range(window.pages.count())]
    assert titles == ["Overview", "CPU", "Memory", "Network", "Sensors", "All series"]  # no disk data
    qtbot.waitUntil(lambda: "Overview" in window.tab_views.views, timeout=2000)  # drawn on opening
    overview = window.tab_views.views["Overview"]
    assert isinstance(overview, OverviewView)
    # Not recorded: nothing drawn (strip curves leave out leading and trailing gaps), never a 0.
    x, y = overview.cpu.plot.drawn_data("cpu.util.user")
    assert x is None or len(x) == 0 or np.isnan(y).all()
    _x, net = overview.net.plot.drawn_data("net.rx.total")
    assert net is None or len(net) == 0 or np.isnan(net).all()  # the total was not recorded either
    # The navigator picks a stretch: the tabs show it, with clock times on the axis.
    window.navigator.set_range(T0 + 10, T0 + 29)
    window.navigator._emit()
    window.pages.setCurrentIndex(1)
    cpu = window.tab_views.views["CPU"]
    assert isinstance(cpu, CpuView)
    times, _values = window.tab_views.history.window(["cpu.util.total"], cpu.context.window_seconds)
    assert times[0] >= T0 + 10 - 1e-6 and times[-1] <= T0 + 29 + 1e-6
    axis = cpu.util.plot._ago_axis
    assert axis.clock_origin == pytest.approx(T0 + 29)
    clock = time_module.strftime("%H:%M:%S", time_module.localtime(T0 + 29))
    assert axis.tickStrings([0.0], 1.0, 5.0) == [clock]
    # The series plots follow the same range; Show all returns to the whole recording.
    left, right = window.x_range()
    assert left == pytest.approx(T0 + 10, abs=0.5) and right == pytest.approx(T0 + 29, abs=0.5)
    window.show_all()
    assert window.navigator.current() == (T0, T0 + 59)


def test_a_series_without_values_is_named_not_drawn_as_an_empty_plot(qtbot, tmp_path: Path) -> None:
    specs = {**SPECS, "cpu.freq.avg": SeriesSpec("cpu.freq.avg", "average", "MHz", group="cpu.freq")}
    path = tmp_path / "vm.csv"
    recorder = recorder_module.CsvRecorder(path)
    recorder.open()
    for index in range(10):
        values = {sid: synthetic_value(sid, index) for sid in SPECS} | {"cpu.freq.avg": None}
        recorder.append(Snapshot(timestamp=T0 + index, monotonic=float(index), values=values, specs=specs))
    recorder.close()
    window = open_recording(path)
    qtbot.addWidget(window)
    assert window.plots[("cpu", "MHz")].isHidden()  # no "0.5 MHz" axis over nothing
    assert "No values recorded (unavailable while recording): CPU [MHz]" in window.info.text()
    assert not window.plots[("cpu", "%")].isHidden()
