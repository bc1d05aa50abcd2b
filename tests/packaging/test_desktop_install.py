"""``perfdeck install-desktop [--uninstall]`` against a temporary $XDG_DATA_HOME."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from perfdeck import cli
from perfdeck.commands import desktop
from perfdeck.resources import APP_ID, DESKTOP_FILE

DESKTOP_VALIDATE = shutil.which("desktop-file-validate")


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _validate(entry: Path) -> None:
    if DESKTOP_VALIDATE is None:
        pytest.skip("desktop-file-validate (desktop-file-utils) is not installed")
    result = subprocess.run([DESKTOP_VALIDATE, str(entry)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize(("value", "expected"), [
    ("/abs/data", Path("/abs/data")),
    ("", None),
    ("relative/data", None),  # the XDG spec: a relative path is invalid and ignored
])
def test_xdg_data_home(value: str, expected: Path | None, monkeypatch: pytest.MonkeyPatch,
                       tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", value)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert desktop.xdg_data_home() == (expected or tmp_path / ".local" / "share")


def test_install_then_uninstall_leaves_nothing(data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["install-desktop"]) == 0
    entry = data_home / "applications" / DESKTOP_FILE
    svg = data_home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    assert entry.is_file() and svg.is_file()
    assert f"installed {entry}" in capsys.readouterr().out
    # Exec points at this installation's launcher, absolute, so a venv need not be on PATH.
    exec_line = next(line for line in entry.read_text().splitlines() if line.startswith("Exec="))
    launcher = desktop.launcher_command()
    assert Path(launcher[0]).is_absolute()
    assert exec_line == "Exec=" + " ".join(desktop.exec_quote(part) for part in launcher)
    _validate(entry)

    manifest = json.loads((data_home / "perfdeck" / "install-desktop.json").read_text())
    assert set(manifest["files"]) == {str(entry), str(svg)}

    assert cli.main(["install-desktop", "--uninstall"]) == 0
    assert _tree(data_home) == []  # every directory it created is gone too, data_home included


def test_install_is_idempotent_and_keeps_foreign_files(data_home: Path) -> None:
    other = data_home / "applications" / "other.desktop"
    other.parent.mkdir(parents=True)
    other.write_text("[Desktop Entry]\n")
    assert desktop.install(data_home)[0] == 0
    first = _tree(data_home)
    assert desktop.install(data_home)[0] == 0
    assert _tree(data_home) == first
    assert desktop.uninstall(data_home)[0] == 0
    # The pre-existing directory and the other application's entry stay.
    assert _tree(data_home) == ["applications", "applications/other.desktop"]


def test_uninstall_keeps_a_file_changed_after_install(data_home: Path) -> None:
    desktop.install(data_home)
    entry = data_home / "applications" / DESKTOP_FILE
    entry.write_text(entry.read_text() + "NoDisplay=true\n")
    status, messages = desktop.uninstall(data_home)
    assert status == 0
    assert any("left in place" in m and str(entry) in m for m in messages)
    assert entry.exists()
    assert not (data_home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").exists()
    # The record of what is left stays, so it can still be cleaned up later.
    manifest = json.loads((data_home / "perfdeck" / "install-desktop.json").read_text())
    assert list(manifest["files"]) == [str(entry)]


def test_reinstall_removes_files_the_new_install_no_longer_writes(data_home: Path) -> None:
    stale = data_home / "icons" / "hicolor" / "16x16" / "apps" / f"{APP_ID}.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old png")
    manifest = desktop.Manifest(files={str(stale): desktop._sha256(b"old png")})
    manifest.save(desktop.manifest_path(data_home))
    assert desktop.install(data_home)[0] == 0
    assert not stale.exists()
    saved = json.loads(desktop.manifest_path(data_home).read_text())
    assert str(stale) not in saved["files"]


def test_uninstall_without_install_is_a_no_op(data_home: Path) -> None:
    status, messages = desktop.uninstall(data_home)
    assert status == 0 and "nothing to remove" in messages[0]
    assert _tree(data_home) == []


def test_a_corrupt_manifest_is_reported_and_nothing_is_deleted(data_home: Path) -> None:
    desktop.install(data_home)
    before = _tree(data_home)
    desktop.manifest_path(data_home).write_text("{not json")
    status, messages = desktop.uninstall(data_home)
    assert status == 1 and "cannot be read" in messages[0]
    assert _tree(data_home) == before


def test_an_unwritable_target_fails_cleanly(data_home: Path) -> None:
    (data_home / "applications").mkdir(parents=True)
    (data_home / "applications" / DESKTOP_FILE).mkdir()  # a directory where the file must go
    status, messages = desktop.install(data_home)
    assert status == 1
    assert any("could not write" in m for m in messages)


@pytest.mark.parametrize(("argument", "quoted"), [
    ("/usr/bin/perfdeck", "/usr/bin/perfdeck"),
    ("/home/a b/venv/bin/perfdeck", '"/home/a b/venv/bin/perfdeck"'),
    ("/opt/100%/perfdeck", "/opt/100%%/perfdeck"),
    ('/x/$HOME"q`/p', '"/x/\\$HOME\\"q\\`/p"'),
])
def test_exec_quote(argument: str, quoted: str) -> None:
    assert desktop.exec_quote(argument) == quoted


def test_entry_with_awkward_launcher_path_still_validates(tmp_path: Path) -> None:
    template = (Path(desktop.__file__).resolve().parents[3] / "resources" / DESKTOP_FILE).read_text()
    text = desktop.desktop_entry_text(template, ["/home/a b/100%/py$thon", "-m", "perfdeck"])
    assert 'Exec="/home/a b/100%%/py\\\\$thon" -m perfdeck' in text
    entry = tmp_path / DESKTOP_FILE
    entry.write_text(text)
    _validate(entry)


def test_exec_quote_escapes_percent_and_reserved_characters() -> None:
    from perfdeck.commands.desktop import escape_string, exec_quote

    assert exec_quote("/opt/Perf Deck/bin/python") == '"/opt/Perf Deck/bin/python"'
    assert exec_quote("/home/a%b/perfdeck") == "/home/a%%b/perfdeck"
    assert escape_string(exec_quote('C:\\odd "dir"')) == '"C:\\\\\\\\odd \\\\"dir\\\\""'
