"""Shared test setup. Qt tests run offscreen unless a test starts its own Xvfb."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# With several bindings installed pyqtgraph could pick another one.
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
