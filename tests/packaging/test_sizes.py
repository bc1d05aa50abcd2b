"""packaging/sizes.py (issue 13 item 18): the sizes the README quotes are checked against the built
files in CI, and rewritten by one command, instead of going stale."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sizes(tmp_path: Path, monkeypatch):
    spec = importlib.util.spec_from_file_location("perfdeck_sizes", REPO / "packaging" / "sizes.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "perfdeck_sizes", module)  # dataclasses look the module up
    assert spec.loader is not None
    spec.loader.exec_module(module)
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    shutil.copy(REPO / "docs" / "packaging.md", tmp_path / "docs" / "packaging.md")
    monkeypatch.setattr(module, "REPO", tmp_path)
    return module


def _dist(tmp_path: Path, wheel_bytes: int, sdist_bytes: int) -> Path:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "perfdeck-0.1.0-py3-none-any.whl").write_bytes(b"\0" * wheel_bytes)
    (dist / "perfdeck-0.1.0.tar.gz").write_bytes(b"\0" * sdist_bytes)
    return dist


def test_every_quoted_size_is_found_in_the_documents(sizes) -> None:
    import re

    for quotes in sizes.QUOTES.values():
        for quote in quotes:
            text = (sizes.REPO / quote.document).read_text()
            assert re.search(quote.pattern, text, re.MULTILINE), (quote.document, quote.label)


def test_a_stale_wheel_size_fails_the_check_and_write_fixes_it(sizes, tmp_path: Path, capsys) -> None:
    import re

    readme_before = (tmp_path / "README.md").read_text()
    quoted = int(re.search(r"^\| wheel \| ([0-9]+) KiB", readme_before, re.M).group(1))
    built = quoted + max(8, quoted // 12)  # 8 % bigger: the case (254 KiB quoted, 275 built)
    dist = _dist(tmp_path, built * 1024, 230 * 1024)
    assert sizes.main(["--check", "--dist", str(dist)]) == 1
    err = capsys.readouterr().err
    assert "README.md quotes the wheel as" in err and f"built file is {built}" in err
    assert "python3 packaging/sizes.py --write" in err
    assert sizes.main(["--write", "--dist", str(dist)]) == 0
    readme = (tmp_path / "README.md").read_text()
    assert f"| wheel | {built} KiB" in readme
    assert f"| wheel · sdist | {built} KiB · 230 KiB |" in (tmp_path / "docs" / "packaging.md").read_text()
    # Only the numbers changed.
    assert len(readme.splitlines()) == len(readme_before.splitlines())
    assert sizes.main(["--check", "--dist", str(dist)]) == 0


def test_sizes_within_the_tolerance_pass(sizes, tmp_path: Path) -> None:
    import re

    quoted = int(re.search(r"^\| wheel \| ([0-9]+) KiB", (tmp_path / "README.md").read_text(), re.M).group(1))
    docs = (tmp_path / "docs" / "packaging.md").read_text()
    sdist = int(re.search(r"^\| wheel · sdist \| [0-9]+ KiB · ([0-9]+) KiB", docs, re.M).group(1))
    # The README and docs must quote the same wheel; then 1 % off passes.
    (tmp_path / "docs" / "packaging.md").write_text(
        re.sub(r"^\| wheel · sdist \| [0-9]+ KiB", f"| wheel · sdist | {quoted} KiB", docs, flags=re.M))
    dist = _dist(tmp_path, int(quoted * 1024 * 1.01), sdist * 1024)
    assert sizes.main(["--check", "--dist", str(dist)]) == 0


def test_nothing_built_is_a_clear_error(sizes, tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert sizes.main(["--check", "--dist", str(tmp_path / "empty")]) == 2
    assert "nothing built" in capsys.readouterr().err
