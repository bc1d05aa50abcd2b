"""Diagnostics: the ``perfdeck doctor`` report inside the window, refreshable.

The report is built by ``perfdeck.perf.doctor.diagnose`` (the same code and content as the
command), in a background thread so the window never stalls while each event is test-opened.
It runs when the tab is first shown and on Refresh, never while hidden. The report can be copied
as text (for a bug report) or saved as JSON. Nothing here changes any system setting.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from perfdeck.gui.views.base import View, ViewContext
from perfdeck.model.series import Snapshot
from perfdeck.perf.doctor import (
    STATUS_NO,
    STATUS_OK,
    STATUS_PARTIAL,
    DoctorReport,
    FamilyVerdict,
    Fix,
    core_families_from_snapshot,
    diagnose,
    render_text,
)

_MARKS = {STATUS_OK: ("✓", "#2e7d32"), STATUS_PARTIAL: ("~", "#b26a00"), STATUS_NO: ("✗", "#c62828")}


def _mark(ok: bool | None, status: str | None = None) -> str:
    if status is not None:
        symbol, color = _MARKS.get(status, ("?", "#666666"))
    else:
        symbol, color = ("✓", "#2e7d32") if ok else ("✗", "#c62828")
    return f'<b style="color:{color}">{symbol}</b>'


_CODE = re.compile(r"`([^`]+)`")
_PATH = re.compile(r"(?<![\w`])(/(?:[\w.@:+-]+/?)+)")
# A command on a tinted block of its own, so it reads as something to copy (select, Ctrl+C).
_COMMAND_BLOCK = ('<table cellpadding="6" style="margin-left:18px; background-color:rgba(128,128,128,40)">'
                  '<tr><td><pre style="margin:0">{}</pre></td></tr></table>')


def rich(text: str) -> str:
    """Plain report text as HTML: `quoted` spans become code, and paths never break mid-path.

    The doctor's text marks commands and values with Markdown backticks (the terminal shows them
    as they are); a window shows them as code instead of literal backticks.
    """
    parts = []
    for index, piece in enumerate(_CODE.split(text)):
        if index % 2:  # inside backticks
            parts.append(f"<code style='white-space:nowrap'>{html.escape(piece)}</code>")
        else:
            parts.append(_PATH.sub(_nowrap_path, html.escape(piece)))
    return "".join(parts)


def _nowrap_path(match: re.Match[str]) -> str:
    path = match.group(1)
    tail = path[len(path.rstrip(".,:;")):]  # the sentence's full stop is not part of the path
    return f"<span style='white-space:nowrap'>{path[:len(path) - len(tail)]}</span>{tail}"


def _fixes_html(fixes: tuple[Fix, ...]) -> str:
    parts = []
    for fix in fixes:
        note = rich(fix.note)
        if fix.command:
            parts.append(f'<div style="margin-left:18px"><b>Fix:</b> {note}</div>'
                         + _COMMAND_BLOCK.format(html.escape(fix.command)))
        else:
            parts.append(f'<div style="margin-left:18px"><b>Fix:</b> {note}</div>')
    return "".join(parts)


def render_html(report: DoctorReport, core: list[FamilyVerdict] | None = None) -> str:
    """The report as HTML for a QTextBrowser: same sections and wording as ``render_text``.

    ``core`` replaces the report's psutil families (the window's own sampler knows them).
    """
    e = html.escape
    s = report.system
    out = [f"<h3>Environment of {'this machine' if report.live else e(report.root)}</h3>",
           f"<p>{e(s['cpu_model'] or '?')} ({e(s['cpu_vendor'] or '?')}), {len(s['online_cpus'])} "
           f"online CPUs, kernel {e(s['kernel'] or '?')}<br/>Checked by: {e(report.checked_by)}</p>",
           f"<p><b>Counting mode:</b> {e(report.mode.summary)}<br/>"
           f"<b>Multiplexing:</b> {e(str(report.multiplexing.get('note', '')))}</p>"]
    if report.perf_stat:  # the same events, groups and CPUs, for checking PerfDeck's numbers with perf
        out.append("<div><b>Compare with perf stat</b> (same events, groups and CPUs):</div>"
                   + _COMMAND_BLOCK.format(e(report.perf_stat)))
    for finding in report.findings:
        out.append(f"<div>{_mark(finding.ok)} <b>{e(finding.title)}</b>: {rich(finding.detail)}</div>")
        out.append(_fixes_html(finding.fixes))
    families = list(core or []) + [f for f in report.families if not core or f.key not in
                                   {c.key for c in core}]
    for fam in families:
        out.append(f"<h4>{_mark(None, fam.status)} {e(fam.title)} <small>[{e(fam.status)}]</small></h4>")
        out.append(f"<div>{rich(fam.reason)}</div>")
        if fam.details.get("lines"):  # per-device lines (the GPU section)
            out.append("<pre>" + e("\n".join(fam.details["lines"]).strip("\n")) + "</pre>")
        if fam.events:
            shared = {ev.reason for ev in fam.events}
            shared_reason = next(iter(shared)) if len(shared) == 1 and len(fam.events) > 1 else ""
            rows = []
            for ev in fam.events:
                where = f"{ev.pmu}, type {ev.pmu_type}" if ev.pmu else "no PMU"
                reason = "" if ev.reason == shared_reason else rich(ev.reason)
                rows.append(f"<tr><td>{_mark(ev.available)}</td><td>{e(ev.label)}</td>"
                            f"<td><code>{ev.config:#x}</code></td><td>{e(where)}</td>"
                            f"<td>{reason}</td></tr>")
            out.append('<table cellspacing="2" cellpadding="2">' + "".join(rows) + "</table>")
            if shared_reason and shared_reason != fam.reason:
                out.append(f"<div>reason (every event): {rich(shared_reason)}</div>")
        out.append(_fixes_html(fam.fixes))
    out.append("<p><i>PerfDeck never changes these settings itself; every fix is for you to run.</i></p>")
    return "\n".join(out)


class _Bridge(QObject):
    """Carries a finished report from the worker thread to the GUI thread (queued signal)."""

    done = Signal(object, float)
    failed = Signal(str)


class DiagnosticsView(View):
    """The doctor report, run on first show and on Refresh."""

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Probe again: re-read /proc and /sys and test-open every event")
        self.copy_button = QPushButton("Copy as text")
        self.save_button = QPushButton("Save JSON…")
        self.state_label = QLabel("Not run yet.")
        for widget in (self.refresh_button, self.copy_button, self.save_button):
            bar.addWidget(widget)
        bar.addWidget(self.state_label, 1)
        layout.addLayout(bar)
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(False)
        layout.addWidget(self.browser, 1)
        self.report: DoctorReport | None = None
        self._running = False
        self._bridge = _Bridge(self)
        self._bridge.done.connect(self._show_report)
        self._bridge.failed.connect(self._show_failure)
        self.refresh_button.clicked.connect(self.run_doctor)
        self.copy_button.clicked.connect(self.copy_text)
        self.save_button.clicked.connect(self.save_json)
        self.copy_button.setEnabled(False)
        self.save_button.setEnabled(False)

    def run_doctor(self) -> None:
        """Start a doctor run in the background (ignored while one is running)."""
        if self._running:
            return
        self._running = True
        self.refresh_button.setEnabled(False)
        self.state_label.setText("Checking…")
        bridge = self._bridge

        def work() -> None:
            started = time.monotonic()
            try:
                # The psutil families are already sampled by the window: skip re-opening them.
                report = diagnose(include_core=False)
            except Exception as exc:  # shown in the tab, never raised into Qt
                bridge.failed.emit(f"{type(exc).__name__}: {exc}")
                return
            bridge.done.emit(report, time.monotonic() - started)

        threading.Thread(target=work, name="perfdeck-doctor", daemon=True).start()

    def _show_report(self, report: DoctorReport, seconds: float) -> None:
        self._running = False
        self.report = report
        self.refresh_button.setEnabled(True)
        self.copy_button.setEnabled(True)
        self.save_button.setEnabled(True)
        scroll = self.browser.verticalScrollBar().value()
        latest = self.context.latest
        core = core_families_from_snapshot(latest) if latest is not None else None
        self.browser.setHtml(render_html(report, core))
        self.browser.verticalScrollBar().setValue(scroll)
        self.state_label.setText(f"Checked at {time.strftime('%H:%M:%S')} in {seconds:.2f} s.")

    def _show_failure(self, message: str) -> None:
        self._running = False
        self.refresh_button.setEnabled(True)
        self.state_label.setText(f"The check failed: {message}")

    def copy_text(self) -> None:
        if self.report is not None:
            QGuiApplication.clipboard().setText(render_text(self.report))
            self.context.show_message("Doctor report copied to the clipboard")

    def save_json(self, path: str | None = None) -> None:
        if self.report is None:
            return
        if path is None:
            path, _filter = QFileDialog.getSaveFileName(self, "Save doctor report", "perfdeck-doctor.json",
                                                        "JSON (*.json)")
            if not path:
                return
        try:
            Path(path).write_text(json.dumps(self.report.to_dict(), indent=2, default=str))
        except OSError as exc:
            self.context.show_message(f"Could not save {path}: {exc}", 10000)
            return
        self.context.show_message(f"Saved {path}")

    def refresh(self, snapshot: Snapshot) -> None:
        # The first time the tab is shown: run once. Later runs only on Refresh.
        if self.report is None and not self._running:
            self.run_doctor()
