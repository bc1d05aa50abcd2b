"""End-to-end package checks: build the .deb and the wheel, lint, install, run, remove.

This runs ``packaging/check.sh`` (about 2.5 minutes, needs root or sudo for dpkg). It only runs
when ``PERFDECK_TEST_DEB=1`` is set, because it installs a system package; CI calls
``packaging/check.sh`` directly. The smoke test of the window (what check.sh runs on each
installed package) is also checked here from the source tree, which is quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.gui
@pytest.mark.slow
def test_smoke_test_draws_every_tab(tmp_path: Path) -> None:
    """``perfdeck --smoke-test`` through the real start-up path: exit 0 and every tab listed."""
    from perfdeck.gui.tabs import TABS

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "PERFDECK_SMOKE_SCREENSHOTS": str(tmp_path / "shots")}
    result = subprocess.run([sys.executable, "-m", "perfdeck", "--smoke-test"], capture_output=True,
                            text=True, env=env, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    line = next(line for line in result.stdout.splitlines() if "smoke test passed" in line)
    for entry in TABS:
        assert entry.title in line
    assert len(list((tmp_path / "shots").glob("*.png"))) == len(TABS)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("PERFDECK_TEST_DEB") != "1",
                    reason="installs a system package: set PERFDECK_TEST_DEB=1 (CI runs packaging/check.sh)")
def test_packages_build_install_run_and_remove() -> None:
    result = subprocess.run(["bash", str(REPO / "packaging" / "check.sh")], capture_output=True,
                            text=True, timeout=1200, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    assert "all package checks passed" in result.stdout
