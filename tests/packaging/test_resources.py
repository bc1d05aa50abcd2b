"""perfdeck.resources finds the icon and desktop entry in a checkout, a frozen bundle and a wheel."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

import perfdeck.resources as resources
from perfdeck.resources import APP_ID, DESKTOP_FILE, ICON_SVG, METAINFO_FILE

REPO = Path(__file__).resolve().parents[2]


def _fake_data_dir(base: Path, with_pngs: tuple[int, ...] = ()) -> Path:
    data = base / "perfdeck" / "data"
    data.mkdir(parents=True)
    for name in (DESKTOP_FILE, ICON_SVG, METAINFO_FILE):
        (data / name).write_bytes((REPO / "resources" / name).read_bytes())
    for size in with_pngs:
        png = data / "icons" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        png.parent.mkdir(parents=True)
        png.write_bytes(b"\x89PNG\r\n\x1a\n")
    return data


def test_checkout_layout_is_the_top_level_resources_dir() -> None:
    assert resources.resource_dir() == REPO / "resources"
    svg = resources.icon_svg()
    root = ElementTree.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 256 256"
    # A checkout has no rendered PNGs (they are generated at build time, never committed).
    assert resources.icon_pngs() == {}


def test_frozen_bundle_wins_over_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _fake_data_dir(tmp_path, with_pngs=(16, 256))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.resource_dir() == data
    assert resources.resource_path(DESKTOP_FILE) == data / DESKTOP_FILE
    assert sorted(resources.icon_pngs()) == [16, 256]
    assert resources.icon_pngs()[16].parent.parent.name == "16x16"


def test_meipass_is_ignored_when_not_frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_data_dir(tmp_path)
    monkeypatch.delattr(sys, "frozen", raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.resource_dir() == REPO / "resources"


def test_missing_everywhere_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package_dir = tmp_path / "site-packages" / "perfdeck"
    package_dir.mkdir(parents=True)
    monkeypatch.setattr(resources, "_PACKAGE_DIR", package_dir)
    monkeypatch.delattr(sys, "frozen", raising=False)
    with pytest.raises(resources.ResourceNotFoundError, match="reinstall PerfDeck"):
        resources.resource_dir()
    assert resources.icon_pngs() == {}


def test_a_missing_single_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _fake_data_dir(tmp_path)
    (data / ICON_SVG).unlink()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    with pytest.raises(resources.ResourceNotFoundError, match=ICON_SVG):
        resources.icon_svg()


@pytest.mark.gui
def test_render_icons_writes_every_hicolor_size(tmp_path: Path, qapp) -> None:
    # qapp: a full QApplication first, so the script does not create a bare QGuiApplication that
    # would make every later QWidget in this test session abort.
    sys.path.insert(0, str(REPO / "packaging"))
    try:
        import render_icons
    finally:
        sys.path.remove(str(REPO / "packaging"))
    written = render_icons.render(REPO / "resources" / ICON_SVG, tmp_path)
    assert [p.relative_to(tmp_path).parts[0] for p in written] == [
        f"{s}x{s}" for s in resources.ICON_SIZES]
    for size, path in zip(resources.ICON_SIZES, written, strict=True):
        header = path.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n"
        # IHDR: width and height, big-endian, right after the chunk header.
        assert int.from_bytes(header[16:20], "big") == size
        assert int.from_bytes(header[20:24], "big") == size


@pytest.mark.slow
def test_wheel_ships_the_resources_and_finds_them_installed(tmp_path: Path) -> None:
    """Build the real sdist and wheel (setup.py copies resources/ into perfdeck/data), unpack the
    wheel like pip does, and ask the installed perfdeck.resources where its files are."""
    # `build` is in the package extra, not the test extra: after `pip install -e '.[test]'` alone
    # this test cannot build anything, which is a missing tool, not a failure of PerfDeck.
    if importlib.util.find_spec("build") is None:
        pytest.skip("the 'build' module is not installed (pip install -e '.[package]', or "
                    "bash tools/perfdeck.sh setup)")
    # sdist first, then the wheel from the sdist (as build.sh does): proves MANIFEST.in carries
    # resources/, and leaves no build/ directory in the checkout.
    build = subprocess.run([sys.executable, "-m", "build", "--outdir", str(tmp_path / "dist"), str(REPO)],
                           capture_output=True, text=True, check=False)
    if build.returncode != 0 and "Could not find a version" in build.stdout + build.stderr:
        pytest.skip("no package index reachable to set up the isolated build environment")
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("perfdeck-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    for name in (DESKTOP_FILE, ICON_SVG, METAINFO_FILE):
        assert f"perfdeck/data/{name}" in names
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    code = "import perfdeck.resources as r; print(r.resource_dir()); print(r.icon_svg())"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env=env, cwd=tmp_path)
    data_dir, svg = found.stdout.split()
    assert Path(data_dir) == tmp_path / "site" / "perfdeck" / "data"
    assert Path(svg).read_bytes() == (REPO / "resources" / ICON_SVG).read_bytes()
