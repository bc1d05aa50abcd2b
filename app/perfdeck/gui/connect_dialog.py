"""The window on a remote host: File → Connect to host…, recent hosts, and the host in the title.

A remote window is an ordinary ``MainWindow`` whose sampler polls a ``perfdeck serve`` agent
(``model.remote.RemoteSource``) instead of this machine's collectors: the same ``History``, the
same tabs, recording and export. What this module adds:

* ``ConnectDialog``: address, token or basic-auth file, CA file, "do not verify TLS"; checks the
  address and files before it closes, and remembers the connection in ``remote-hosts.json`` next
  to the settings file (paths and flags, never a secret).
* ``install_connect_action(window)``: File → Connect to host… and File → Recent hosts.
* ``attach_remote(window)``: the host in the title and a status-bar label (connected, lost and
  retrying), a status message on every change, and the safety fences a remote window needs: the
  process list is the remote host's, so Terminate/Kill and the per-process hardware counters
  (which act on this machine's PIDs) are switched off in it.
* ``open_remote_window(parent, options)``: one more window for a host, like Open recording….
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from perfdeck.gui.views.base import fix_label_size
from perfdeck.model.prometheus import INFO_METRIC, PrometheusClient, PrometheusHost, prometheus_history
from perfdeck.model.remote import (
    ConnectOptions,
    HistoryLoader,
    RecentHosts,
    RemoteError,
    RemoteSource,
    RemoteStatus,
    check_options,
    describe,
    recent_hosts_path,
)

log = logging.getLogger(__name__)

# The Diagnostics tab runs the doctor on this machine: in a window on another host it would
# describe the wrong computer. `perfdeck doctor` on the host (or the agent's / page) says it there.
LOCAL_ONLY_TABS = frozenset({"Diagnostics"})
LOST_COLOUR = "#c0392b"


def default_recent_hosts() -> RecentHosts:
    from perfdeck.gui.settings_store import default_path

    return RecentHosts(recent_hosts_path(default_path().parent))


class _FileField(QWidget):
    """A path with a Browse… button."""

    def __init__(self, placeholder: str, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(lambda: self._browse(caption))
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)

    def _browse(self, caption: str) -> None:
        path, _filter = QFileDialog.getOpenFileName(self, caption, self.edit.text() or str(Path.home()))
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text().strip()


class ConnectDialog(QDialog):
    """Asks for an agent address and its credentials; ``options`` holds the checked result."""

    def __init__(self, recent: list[ConnectOptions], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to host")
        self.setMinimumWidth(520)
        self.recent = list(recent)
        self.options: ConnectOptions | None = None
        layout = QVBoxLayout(self)
        intro = QLabel("Show a host that runs <code>perfdeck serve</code>, live, in a window of its own. "
                       "Use the token, user and TLS settings the agent was started with.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.url_combo = QComboBox(self)
        self.url_combo.setEditable(True)
        self.url_combo.lineEdit().setPlaceholderText("http://HOST:PORT")
        for entry in self.recent:
            self.url_combo.addItem(entry.url)
        self.url_combo.setCurrentIndex(0 if self.recent else -1)
        self.url_combo.activated.connect(self._fill_from_recent)
        form.addRow("Agent &address:", self.url_combo)
        self.token_field = _FileField("a file holding the agent's bearer token", "Token file")
        form.addRow("&Token file:", self.token_field)
        self.basic_field = _FileField("a file holding one line USER:PASSWORD", "Basic-auth file")
        form.addRow("&Basic-auth file:", self.basic_field)
        self.ca_field = _FileField("PEM file of the CA that signed the agent's certificate (https)",
                                   "CA file")
        form.addRow("TLS &CA file:", self.ca_field)
        self.insecure_box = QCheckBox("Do not verify the agent's TLS certificate (testing only)")
        form.addRow("", self.insecure_box)
        layout.addLayout(form)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {LOST_COLOUR};")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        ok, cancel = QDialogButtonBox.StandardButton.Ok, QDialogButtonBox.StandardButton.Cancel
        buttons = QDialogButtonBox(ok | cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Connect")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        if self.recent:
            self._fill_from_recent(0)

    def _fill_from_recent(self, index: int) -> None:
        if 0 <= index < len(self.recent):
            entry = self.recent[index]
            self.token_field.edit.setText(entry.token_file)
            self.basic_field.edit.setText(entry.basic_auth_file)
            self.ca_field.edit.setText(entry.tls_ca)
            self.insecure_box.setChecked(entry.insecure)

    def entered(self) -> ConnectOptions:
        return ConnectOptions(self.url_combo.currentText().strip(), self.token_field.text(),
                              self.basic_field.text(), self.ca_field.text(), self.insecure_box.isChecked())

    def accept(self) -> None:
        """Close only with an address and files that work; otherwise say what is wrong, here."""
        try:
            self.options = check_options(self.entered())
        except RemoteError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        super().accept()


class RemoteWindowController(QObject):
    """Keeps a remote window's title and status bar in step with its connection."""

    def __init__(self, window: Any, source: RemoteSource) -> None:
        super().__init__(window)
        self.window = window
        self.source = source
        self.status: RemoteStatus = source.status
        self.messages: list[str] = []  # every status message shown (tests read them)
        self.label = QLabel(self.window)
        fix_label_size(self.label, "db-7 · credentials refused · retry in 30 s")
        window.add_status_widget(self.label)
        # The agent sets the pace: a local interval would change nothing but the label.
        window.interval_menu.setEnabled(False)
        window.interval_menu.setToolTip("Set by the agent: perfdeck serve --interval")
        window.sampler.source_status.connect(self.on_status)
        window.view_created.connect(self._fence_view)
        for title, view in list(window.views.items()):
            self._fence_view(title, view)
        self.on_status(source.status)

    def on_status(self, status: RemoteStatus) -> None:
        self.status = status
        self.window.setWindowTitle(f"PerfDeck — {status.host}" + ("" if status.state == "connected" else
                                                                    f" ({status.state})"))
        text = {"connected": "connected", "connecting": "connecting…",
                "lost": "connection lost", "failed": "not connected"}.get(status.state, status.state)
        if status.problem == "auth":
            text = "credentials refused"
        if status.state == "connected" and status.interval:
            text += f" · every {status.interval:g} s"
        elif status.retry_in:
            text += f" · retry in {status.retry_in:g} s"
        self.label.setText(f"{status.host} · {text}")
        self.label.setToolTip(f"{status.url}\n{status.message}")
        bad = status.state in ("lost", "failed") or (status.state == "connecting" and status.retry_in)
        self.label.setStyleSheet(f"color: {LOST_COLOUR}; font-weight: bold;" if bad else "")
        if status.interval:
            # The sampler now reports the agent's pace; the window's interval label shows it.
            self.window._update_interval_label()
        self.messages.append(status.message)
        # A problem stays in the status bar until the next change; good news fades.
        self.window.statusBar().showMessage(status.message, 0 if bad else 10000)

    def _fence_view(self, title: str, view: QWidget) -> None:
        """Switch off what would act on this machine's processes in the remote host's tabs."""
        host = self.source.host
        if title == "Processes":
            reason = (f"This is the process list of {host}: PerfDeck cannot signal its processes from here. "
                      f"Run kill PID on {host}.")
            for button in (getattr(view, "terminate_button", None), getattr(view, "kill_button", None)):
                if button is not None:
                    button.setEnabled(False)
                    button.hide()

            def refuse(kill: bool = False) -> str:
                view.context.show_message(reason, 10000)
                return reason

            view.signal_selected = refuse  # type: ignore[method-assign]  # the context menu calls it
            view._update_buttons = lambda: None  # type: ignore[method-assign]  # keeps them off
            names = getattr(getattr(view, "model", None), "service_names", None)
            if names is not None:  # it reads this machine's /proc/PID/cgroup: another process here
                names.lookup = lambda _pid, _name="": None
            action = getattr(view, "counters_action", None)
            if action is not None:
                action.setEnabled(False)
                action.setToolTip("Hardware counter columns count processes on this machine, not on "
                                  f"{host}")
        panel = getattr(view, "process_panel", None)
        if title == "CPU performance" and panel is not None:
            panel.set_pid = lambda _pid: None  # type: ignore[method-assign]  # remote PIDs are not ours
            panel.status.setText(f"Per-process counters count processes on this machine; the process list "
                                 f"here is {host}'s.")
            for tile in panel.tiles.values():
                tile.hide()


def attach_remote(window: Any) -> RemoteWindowController | None:
    """Make ``window`` show its host, if its sampler polls an agent (else None)."""
    source = getattr(window.sampler, "source", None)
    if not isinstance(source, RemoteSource):
        return None
    controller = RemoteWindowController(window, source)
    window.remote = controller
    # Older history (from Prometheus) only as far back as this window's History holds.
    source.history_seconds = window.history.capacity * window.sampler.interval
    return controller


def remote_source(options: ConnectOptions, interval: float = 1.0,
                  history: HistoryLoader | None = None) -> RemoteSource:
    """The sampler source for an agent; ``interval`` paces polls until the agent has said its own;
    ``history`` loads what came before the agent's first snapshot (from Prometheus)."""
    return RemoteSource(options, fallback_interval=interval, history=history)


def remote_tabs() -> list[Any]:
    from perfdeck.gui.tabs import TABS

    return [entry for entry in TABS if entry.title not in LOCAL_ONLY_TABS]


def open_remote_window(parent: Any, options: ConnectOptions, history: HistoryLoader | None = None,
                       history_seconds: float | None = None) -> Any:
    """A new window on the agent at ``options.url``, started and shown; ``parent`` keeps it alive."""
    from perfdeck.gui.app import build_window
    from perfdeck.gui.recording import install_recording

    settings = getattr(getattr(parent, "desktop", None), "settings", None)
    length = settings.history_seconds if settings is not None else 3600.0
    interval = parent.sampler.interval if parent is not None else 1.0
    source = remote_source(options, interval, history)
    window_seconds = getattr(getattr(parent, "context", None), "window_seconds", 300.0)
    window = build_window(interval=interval, history_seconds=length, source=source, tabs=remote_tabs(),
                          window_seconds=window_seconds)
    install_recording(window)
    install_connect_action(window)
    attach_remote(window)
    if history_seconds is not None:
        source.history_seconds = history_seconds
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if parent is not None:
        children = parent.__dict__.setdefault("remote_windows", [])
        children.append(window)
        window.destroyed.connect(lambda *_: children.remove(window) if window in children else None)
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(window.shutdown)
    window.show()
    window.sampler.start()
    return window


def install_connect_action(window: Any, recent: RecentHosts | None = None) -> QAction:
    """File → Connect to host… and File → Recent hosts on ``window``."""
    hosts = recent or default_recent_hosts()
    action = QAction("&Connect to host…", window)
    action.setToolTip("Show a host that runs perfdeck serve, in a window of its own")
    recent_menu = QMenu("Recent &hosts", window)

    def connect(options: ConnectOptions) -> Any:
        try:
            options = check_options(options)
        except RemoteError as exc:
            window.statusBar().showMessage(f"cannot connect: {exc}", 15000)
            return None
        problem = hosts.remember(options)
        if problem:
            window.statusBar().showMessage(problem, 10000)
        return open_remote_window(window, options)

    def ask() -> None:
        dialog = ConnectDialog(hosts.load(), window)
        if hosts.note:
            window.statusBar().showMessage(hosts.note, 10000)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.options is not None:
            connect(dialog.options)

    def fill_recent() -> None:
        recent_menu.clear()
        entries = hosts.load()
        for entry in entries:
            item = recent_menu.addAction(describe(entry))
            item.triggered.connect(lambda _checked=False, e=entry: connect(e))
        if not entries:
            none = recent_menu.addAction("(none yet)")
            none.setEnabled(False)

    action.triggered.connect(ask)
    recent_menu.aboutToShow.connect(fill_recent)
    window.add_file_action(action)
    window.file_menu.insertMenu(window.quit_action, recent_menu)
    window.file_menu.insertSeparator(window.quit_action)
    window.connect_action = action
    window.connect_to = connect  # for tests
    window.recent_hosts_menu = recent_menu
    return action


# --- hosts a Prometheus server scrapes (perfdeck --prometheus URL) ------------------------------------


class _Listing(QObject):
    """Carries a host listing from its worker thread to the GUI thread."""

    done = Signal(object)
    failed = Signal(str)


class PrometheusHostsDialog(QDialog):
    """Lists the PerfDeck agents a Prometheus server scrapes; Open shows one with its history.

    The listing runs on a worker thread (HTTP with a timeout); the dialog stays responsive.
    """

    def __init__(self, window: Any, url: str = "", agent_options: ConnectOptions | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Hosts on Prometheus")
        self.setMinimumSize(640, 360)
        self.agent_options = agent_options or ConnectOptions("")
        self.history_seconds: float | None = None  # older history to load; None: what the window holds
        self.client: PrometheusClient | None = None
        self.hosts: list[PrometheusHost] = []
        self.opened: list[Any] = []  # windows opened from here (tests read them)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.url_edit = QLineEdit(url, self)
        self.url_edit.setPlaceholderText("http://PROMETHEUS:9090")
        self.list_button = QPushButton("&List hosts", self)
        self.list_button.clicked.connect(self.refresh)
        row.addWidget(QLabel("Prometheus:"))
        row.addWidget(self.url_edit, 1)
        row.addWidget(self.list_button)
        layout.addLayout(row)
        self.table = QTableWidget(0, 5, self)
        self.table.setHorizontalHeaderLabels(["Instance", "Job", "Scrape", "Agent", "Version"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(lambda _index: self.open_selected())
        layout.addWidget(self.table, 1)
        self.state_label = QLabel("")
        self.state_label.setWordWrap(True)
        layout.addWidget(self.state_label)
        self.token_field = _FileField("the agents' bearer token, if they need one", "Token file")
        self.token_field.edit.setText(self.agent_options.token_file)
        form = QFormLayout()
        form.addRow("Agent &token file:", self.token_field)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = buttons.addButton("&Open", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_selected)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._listing = _Listing(self)
        self._listing.done.connect(self._show_hosts)
        self._listing.failed.connect(self._show_failure)
        self.table.itemSelectionChanged.connect(
            lambda: self.open_button.setEnabled(bool(self.table.selectionModel().selectedRows())))

    def refresh(self) -> None:
        """List the hosts, in the background."""
        try:
            client = PrometheusClient(self.url_edit.text())
        except RemoteError as exc:
            self._show_failure(str(exc))
            return
        self.client = client
        self.list_button.setEnabled(False)
        self.state_label.setText(f"Asking {client.url}…")
        listing = self._listing

        def work() -> None:
            try:
                hosts = client.hosts()
            except RemoteError as exc:
                listing.failed.emit(str(exc))
                return
            except Exception as exc:  # a bug must not leave the dialog waiting forever
                log.exception("listing the hosts on Prometheus failed")
                listing.failed.emit(f"{type(exc).__name__}: {exc}")
                return
            listing.done.emit(hosts)

        threading.Thread(target=work, name="perfdeck-prometheus-hosts", daemon=True).start()

    def _show_hosts(self, hosts: list[PrometheusHost]) -> None:
        self.list_button.setEnabled(True)
        self.hosts = list(hosts)
        self.table.setRowCount(len(self.hosts))
        for row, host in enumerate(self.hosts):
            state = host.health or "no longer scraped"
            if host.scrape_interval:
                state += f", every {host.scrape_interval:g} s"
            cells = (host.instance, host.job, state, host.agent_url, host.version)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if host.last_error:
                    item.setToolTip(host.last_error)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        if self.hosts:
            self.table.selectRow(0)
            where = self.client.url if self.client else ""
            agents = "1 PerfDeck agent" if len(self.hosts) == 1 else f"{len(self.hosts)} PerfDeck agents"
            self.state_label.setText(f"{agents} on {where}. Open shows one: its history from Prometheus, "
                                     "then live from its agent.")
        else:
            self.state_label.setText("This Prometheus scraped no PerfDeck agent in the last hour "
                                     f"(no {INFO_METRIC} series).")

    def _show_failure(self, message: str) -> None:
        self.list_button.setEnabled(True)
        self.state_label.setText(f"Cannot list hosts: {message}")

    def open_selected(self) -> Any:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.client is None:
            return None
        host = self.hosts[rows[0].row()]
        base = self.agent_options
        try:
            options = check_options(ConnectOptions(host.agent_url, self.token_field.text(),
                                                   base.basic_auth_file, base.tls_ca, base.insecure))
        except RemoteError as exc:
            self._show_failure(str(exc))
            return None
        window = open_remote_window(self.window, options, prometheus_history(self.client, host),
                                    self.history_seconds)
        self.opened.append(window)
        return window


def install_prometheus_action(window: Any, url: str = "", agent_options: ConnectOptions | None = None,
                              show_at_start: bool = False) -> QAction:
    """File → Hosts on Prometheus…; returns the action (its dialog is ``window.prometheus_dialog``).

    ``show_at_start`` opens the dialog once the event loop runs (``perfdeck --prometheus URL``)."""
    action = QAction("Hosts on &Prometheus…", window)
    action.setToolTip("List the PerfDeck agents a Prometheus server scrapes and open one with its history")

    def show() -> PrometheusHostsDialog:
        dialog = getattr(window, "prometheus_dialog", None)
        if dialog is None:
            dialog = PrometheusHostsDialog(window, url, agent_options)
            window.prometheus_dialog = dialog
        dialog.show()
        dialog.raise_()
        if dialog.url_edit.text() and not dialog.hosts:
            dialog.refresh()
        return dialog

    action.triggered.connect(show)
    window.add_file_action(action)
    window.show_prometheus_hosts = show
    if show_at_start:
        QTimer.singleShot(0, show)
    return action
