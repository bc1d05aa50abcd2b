"""First-run papercuts (issue 13 items 12, 13, 17): the setup script's venv stamps, the wheel test
without `build`, and packaging/build.sh without a usable venv. The scripts run for real, with
stand-ins for apt and pip so nothing is installed."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _fake_checkout(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A copy of tools/perfdeck.sh next to a pyproject.toml, a .venv whose python logs every pip
    call, and a PATH where dpkg-query says every package is installed."""
    checkout = tmp_path / "checkout"
    (checkout / "tools").mkdir(parents=True)
    shutil.copy(REPO / "tools" / "perfdeck.sh", checkout / "tools" / "perfdeck.sh")
    shutil.copy(REPO / "pyproject.toml", checkout / "pyproject.toml")
    log = tmp_path / "pip.log"
    _executable(checkout / ".venv" / "bin" / "python",
                f'#!/bin/sh\nif [ "$2" = pip ]; then echo "$*" >> {log}; exit 0; fi\n'
                'if [ "$2" = pytest ]; then exit 0; fi\nexit 0\n')
    _executable(checkout / ".venv" / "bin" / "perfdeck", "#!/bin/sh\necho perfdeck-ran \"$@\"\n")
    bin_dir = tmp_path / "bin"
    _executable(bin_dir / "dpkg-query", "#!/bin/sh\necho 'install ok installed'\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return checkout, log, env


def _pip_installs(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [line for line in log.read_text().splitlines() if " install -q -e " in line]


def test_run_after_test_does_not_reinstall_the_venv(tmp_path: Path) -> None:
    checkout, log, env = _fake_checkout(tmp_path)
    script = checkout / "tools" / "perfdeck.sh"
    test = subprocess.run(["bash", str(script), "test", "-q"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert test.returncode == 0, test.stderr
    assert _pip_installs(log) == ["-m pip install -q -e .[test,package]"]
    run = subprocess.run(["bash", str(script), "run", "--version"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert "perfdeck-ran --version" in run.stdout
    assert len(_pip_installs(log)) == 1  # `run` found the test extra already installed
    # A newer pyproject.toml makes the stamps stale again.
    os.utime(checkout / "pyproject.toml", (os.path.getmtime(script) + 100,) * 2)
    subprocess.run(["bash", str(script), "run"], capture_output=True, text=True, env=env, timeout=60,
                   check=True)
    assert len(_pip_installs(log)) == 2


def test_the_wheel_test_is_skipped_with_a_reason_without_build() -> None:
    code = ("import sys, pytest\n"
            "sys.modules['build'] = None  # as after pip install -e '.[test]': no build module\n"
            "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-rs', sys.argv[1]]))\n")
    target = "tests/packaging/test_resources.py::test_wheel_ships_the_resources_and_finds_them_installed"
    result = subprocess.run([sys.executable, "-c", code, target], capture_output=True, text=True, cwd=REPO,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 skipped" in result.stdout and "'build' module is not installed" in result.stdout


def test_build_sh_with_an_unusable_python_says_what_to_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": str(tmp_path / "no-such-venv" / "bin" / "python")}
    result = subprocess.run(["bash", str(REPO / "packaging" / "build.sh")], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 2
    assert "No such file or directory" not in result.stderr
    assert "cannot import build and PyInstaller" in result.stderr and ".[package]" in result.stderr
