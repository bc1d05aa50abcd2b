"""Render the PNG sizes of the application icon from its SVG (build time, not committed).

    python packaging/render_icons.py OUT_DIR [SVG]

writes ``OUT_DIR/<size>x<size>/apps/io.github.perfdeck.PerfDeck.png`` for every hicolor size in
``SIZES`` (the layout of ``/usr/share/icons/hicolor``). Qt's SVG renderer (QtSvg, part of
PySide6-Essentials, which PerfDeck needs anyway) draws them, so the build needs no extra tool;
that is why the PNGs are generated rather than committed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_ID = "io.github.perfdeck.PerfDeck"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
REPO = Path(__file__).resolve().parent.parent


def render(svg: Path, out_dir: Path, sizes: tuple[int, ...] = SIZES) -> list[Path]:
    """Render ``svg`` at each size; returns the PNG paths written."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"render_icons: {svg} is not a valid SVG for QtSvg")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        target = out_dir / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(target), "PNG"):
            raise SystemExit(f"render_icons: could not write {target}")
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    svg = Path(argv[1]) if len(argv) == 2 else REPO / "resources" / f"{APP_ID}.svg"
    for path in render(svg, Path(argv[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
