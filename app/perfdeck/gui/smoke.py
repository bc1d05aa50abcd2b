"""``perfdeck --smoke-test``: start the real window, draw every tab once with live data, then exit.

Packaging checks (``packaging/check.sh``) run it on an installed package: exit status 0 means the
window opened through the normal start-up path (``run_gui``), the sampler produced data, and every
tab was built and drew a snapshot without an exception. Status 1 says which tab failed and why.

Set ``PERFDECK_SMOKE_SCREENSHOTS=DIR`` to save a PNG of the window per tab (to look at).
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

DEFAULT_TIMEOUT_S = 60.0


class SmokeTest(QObject):
    """Visits the tabs of the running MainWindow one after the other, then ends the event loop."""

    def __init__(self, app: QApplication, timeout_s: float, screenshot_dir: Path | None) -> None:
        super().__init__(app)
        self._app = app
        self._screenshot_dir = screenshot_dir
        self._window = None
        self._index = -1
        self._drawn: list[str] = []
        self._errors: list[str] = []
        self._finished = False
        self._previous_hook = sys.excepthook
        sys.excepthook = self._on_exception  # Qt slots report exceptions here, then carry on
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self._on_timeout)
        self._deadline.start(int(timeout_s * 1000))

    def _on_exception(self, kind: type[BaseException], value: BaseException,
                      tb: TracebackType | None) -> None:
        self._errors.append("".join(traceback.format_exception(kind, value, tb)).rstrip())
        self._previous_hook(kind, value, tb)

    def start(self) -> None:
        from perfdeck.gui.mainwindow import MainWindow

        windows = [w for w in self._app.topLevelWidgets() if isinstance(w, MainWindow)]
        if not windows:
            self._finish(["no PerfDeck main window exists once the event loop runs"])
            return
        self._window = windows[0]
        self._window.view_refreshed.connect(self._on_refreshed)
        self._next_tab()

    def _title(self, index: int) -> str:
        return self._window.tab_widget.tabText(index)

    def _next_tab(self) -> None:
        self._index += 1
        tabs = self._window.tab_widget
        if self._index >= tabs.count():
            self._finish([])
            return
        # The tab already showing (the first one) draws with the next snapshot; switching to
        # another one draws it at once.
        if tabs.currentIndex() != self._index:
            tabs.setCurrentIndex(self._index)

    def _on_refreshed(self, title: str) -> None:
        if self._finished or self._index < 0 or title != self._title(self._index):
            return
        if title in self._drawn:
            return
        self._drawn.append(title)
        # Let the tab lay itself out and paint before the screenshot and the next tab.
        QTimer.singleShot(300, self._shoot_then_next)

    def _shoot_then_next(self) -> None:
        if self._finished:
            return
        if self._screenshot_dir is not None:
            self._screenshot_dir.mkdir(parents=True, exist_ok=True)
            title = self._title(self._index)
            safe = "".join(c if c.isalnum() else "-" for c in title.lower())
            self._window.grab().save(str(self._screenshot_dir / f"{self._index:02d}-{safe}.png"))
        self._next_tab()

    def _on_timeout(self) -> None:
        titles = [self._title(i) for i in range(self._window.tab_widget.count())] if self._window else []
        missing = [t for t in titles if t not in self._drawn]
        self._finish([f"timed out: these tabs never drew a snapshot: {', '.join(missing) or '(none)'}"])

    def _finish(self, problems: list[str]) -> None:
        if self._finished:
            return
        self._finished = True
        self._deadline.stop()
        problems = list(problems)
        if self._window is not None:
            problems += [f"refresh failed: {error}" for error in self._window.refresh_errors]
            problems += [f"tab {title} did not load (it shows the 'failed to load' stand-in)"
                         for title, view in self._window.views.items()
                         if type(view).__name__ == "_BrokenTab"]
        problems += [f"uncaught exception:\n{error}" for error in self._errors]
        sys.excepthook = self._previous_hook
        if problems:
            print("perfdeck smoke test FAILED:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        else:
            print(f"perfdeck smoke test passed: {len(self._drawn)} tabs drew live data: "
                  f"{', '.join(self._drawn)}", flush=True)
        self._app.exit(1 if problems else 0)


def install_smoke_test(timeout_s: float = DEFAULT_TIMEOUT_S) -> SmokeTest:
    """Arm the smoke test; ``run_gui`` then starts normally and the test ends its event loop."""
    from perfdeck.gui.app import ensure_application

    app = ensure_application()
    shots = os.environ.get("PERFDECK_SMOKE_SCREENSHOTS")
    test = SmokeTest(app, timeout_s, Path(shots) if shots else None)
    QTimer.singleShot(0, test.start)
    return test
