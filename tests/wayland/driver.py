"""Runs the real PerfDeck window (``run_gui``, the normal start-up path) under whatever platform the
environment names, then closes it as a person would, and reports what happened on stdout.

    python driver.py close     # show the window, close it once it has drawn; print what followed

Prints ``PLATFORM=<name>``, ``TRAY=<True|False>`` (Qt's isSystemTrayAvailable), then either
``QUIT`` (closing the window ended the event loop) or ``HIDDEN`` (the window hid and PerfDeck kept
running, as it should with a tray; the driver then quits it itself), and ``EXIT=<status>``.
"""

from __future__ import annotations

import argparse
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from perfdeck.gui import app as gui_app
from perfdeck.gui.mainwindow import MainWindow

CLOSE_AFTER_MS = 3000  # the window has shown and drawn at least one snapshot by then
JUDGE_AFTER_MS = 3000  # time for a quit to happen after the close


def main() -> int:
    application = gui_app.ensure_application()
    outcome: list[str] = []

    def close_window() -> None:
        windows = [w for w in application.topLevelWidgets() if isinstance(w, MainWindow)]
        print(f"PLATFORM={application.platformName()}", flush=True)
        print(f"TRAY={QSystemTrayIcon.isSystemTrayAvailable()}", flush=True)
        print(f"VISIBLE={bool(windows) and windows[0].isVisible()}", flush=True)
        for window in windows:
            window.close()
        QTimer.singleShot(JUDGE_AFTER_MS, judge)

    def judge() -> None:
        # Still running after the close: the window must have gone to the tray.
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        outcome.append("HIDDEN" if windows and not windows[0].isVisible() else "STILL-SHOWN")
        print(outcome[-1], flush=True)
        application.exit(3 if outcome[-1] != "HIDDEN" else 0)

    QTimer.singleShot(CLOSE_AFTER_MS, close_window)
    args = argparse.Namespace(interval=0.5, tab=None, minimized=False, open_recordings=[], smoke_test=False)
    status = gui_app.run_gui(args)
    if not outcome:
        print("QUIT", flush=True)
    print(f"EXIT={status}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
