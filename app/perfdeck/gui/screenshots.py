"""``python -m perfdeck.gui.screenshots``: render every tab and dialog of the real window to PNGs.

Used by ``tools/screenshots.sh`` (which starts Xvfb and a load) to look at PerfDeck as a person
would, at several window sizes, in light and dark. The window is the one ``perfdeck`` opens
(``run_gui``'s wiring: recording, settings, tray when there is one), with live data from this
machine: nothing in the pictures is invented. Settings go to a throw-away config folder.

    python -m perfdeck.gui.screenshots --out shots --theme dark --sizes 1000x700,1920x1080 --warmup 60
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QWidget


def _safe(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


def _pump(_app: QApplication, milliseconds: int) -> None:
    """Run a local event loop for ``milliseconds`` (the sampler keeps sampling meanwhile).

    Not ``app.exec()``/``quit()``: each quit would emit ``aboutToQuit`` and stop the recording
    controller and whatever else listens for the end of the application.
    """
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--sizes", default="1000x700,1920x1080", help="window sizes, WxH, comma separated")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds of data before the first picture")
    parser.add_argument("--interval", type=float, default=1.0, help="sampling interval in seconds")
    parser.add_argument("--tabs", default="", help="only these tabs (comma separated titles)")
    args = parser.parse_args(argv)
    sizes = [tuple(int(n) for n in size.split("x")) for size in args.sizes.split(",") if size]
    os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="perfdeck-shots-"))

    from perfdeck.gui.app import build_window, ensure_application
    from perfdeck.gui.integration import install_desktop, load_settings
    from perfdeck.gui.recording import install_recording
    from perfdeck.gui.theme import apply_theme

    app = ensure_application()
    apply_theme(app, args.theme)
    store, stored = load_settings()
    window = build_window(interval=args.interval, window_seconds=60.0)
    install_recording(window)
    desktop = install_desktop(window, stored, store)
    app.setQuitOnLastWindowClosed(False)  # closing dialogs must not end the run
    width, height = sizes[0]
    window.resize(width, height)
    window.show()
    window.sampler.start()
    _pump(app, int(args.warmup * 1000))

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    wanted = {t.strip().lower() for t in args.tabs.split(",") if t.strip()}
    tabs = window.tab_widget
    for width, height in sizes:
        window.resize(width, height)
        _pump(app, 400)
        for index in range(tabs.count()):
            title = tabs.tabText(index)
            if wanted and title.lower() not in wanted:
                continue
            tabs.setCurrentIndex(index)
            _pump(app, 1500)  # a sample or two arrives and the tab redraws
            size = window.size()
            name = f"{args.theme}-{width}x{height}-{index:02d}-{_safe(title)}.png"
            window.grab().save(str(out / name))
            if (size.width(), size.height()) != (width, height):
                print(f"window resized itself on {title}: {width}x{height} -> "
                      f"{size.width()}x{size.height()}", file=sys.stderr)
        dialogs: list[tuple[str, QWidget]] = []
        settings = desktop.open_settings()
        dialogs.append(("settings", settings))
        for tab_index in range(1, settings.tabs.count()):
            settings.tabs.setCurrentIndex(tab_index)
            _pump(app, 300)
            label = _safe(settings.tabs.tabText(tab_index).replace("&", ""))
            settings.grab().save(str(out / f"{args.theme}-{width}x{height}-dialog-settings-{label}.png"))
        settings.tabs.setCurrentIndex(0)
        from perfdeck.gui.export_dialog import show_export_dialog

        dialogs.append(("export", show_export_dialog(window)))
        for name, dialog in dialogs:
            _pump(app, 400)
            dialog.grab().save(str(out / f"{args.theme}-{width}x{height}-dialog-{name}.png"))
            if isinstance(dialog, QDialog):
                dialog.reject()
        _pump(app, 200)
    window.quit_app()
    window.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
