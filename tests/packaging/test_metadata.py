"""The desktop entry, AppStream metainfo and man page are valid, and agree with the code."""

from __future__ import annotations

import argparse
import configparser
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from xml.etree import ElementTree

import pytest

import perfdeck
from perfdeck import cli
from perfdeck.resources import APP_ID, DESKTOP_FILE, ICON_SVG, METAINFO_FILE

REPO = Path(__file__).resolve().parents[2]
RESOURCES = REPO / "resources"
MAN_PAGE = RESOURCES / "perfdeck.1"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (tools/perfdeck.sh test installs it)")
    return path


def test_desktop_entry_validates() -> None:
    result = subprocess.run([_tool("desktop-file-validate"), str(RESOURCES / DESKTOP_FILE)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_metainfo_validates() -> None:
    result = subprocess.run([_tool("appstreamcli"), "validate", "--no-net", str(RESOURCES / METAINFO_FILE)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # Only the pedantic note about the upper-case letters of the reverse-DNS id is accepted.
    issues = [line for line in result.stdout.splitlines() if re.match(r"^[EWI]: ", line)]
    assert issues == []


def test_desktop_entry_names_the_icon_and_command() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(RESOURCES / DESKTOP_FILE, encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Icon"] == APP_ID and (RESOURCES / ICON_SVG).is_file()
    assert section["Exec"] == "perfdeck" and section["TryExec"] == "perfdeck"
    assert section["Type"] == "Application" and section["Terminal"] == "false"


def _metainfo() -> ElementTree.Element:
    return ElementTree.parse(RESOURCES / METAINFO_FILE).getroot()


def test_metainfo_release_is_the_package_version() -> None:
    root = _metainfo()
    releases = root.findall("./releases/release")
    assert releases, "the metainfo has no <release>"
    assert releases[0].get("version") == perfdeck.__version__
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", releases[0].get("date", ""))


def test_metainfo_matches_the_desktop_entry_and_binary() -> None:
    root = _metainfo()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == DESKTOP_FILE
    assert root.find("./provides/binary").text == "perfdeck"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert root.findtext("project_license") == pyproject["project"]["license"]


def test_version_lives_in_one_place() -> None:
    """pyproject reads perfdeck.__version__; the .deb templates and the man page carry none."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "perfdeck.__version__"}
    assert "Version: @VERSION@" in (REPO / "packaging/debian/control.in").read_text()
    assert perfdeck.__version__ not in MAN_PAGE.read_text()
    result = subprocess.run([sys.executable, "-m", "perfdeck", "--version"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"perfdeck {perfdeck.__version__}"


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings
            if option.startswith("--") and option not in ("--help",)}


def test_man_page_covers_every_command_and_option() -> None:
    text = MAN_PAGE.read_text(encoding="utf-8").replace("\\-", "-")
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, sub in subparsers.choices.items():
        if f"perfdeck {name}" not in text:
            missing.append(f"command {name}")
        missing += [f"{name} {option}" for option in sorted(_long_options(sub)) if option not in text]
    assert missing == [], f"resources/perfdeck.1 does not mention: {', '.join(missing)}"


def test_man_page_renders_without_warnings() -> None:
    man = _tool("man")
    result = subprocess.run([man, "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", str(MAN_PAGE)],
                            capture_output=True, text=True, check=False,
                            env={**os.environ, "MANWIDTH": "80", "LC_ALL": "C.UTF-8"})
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
