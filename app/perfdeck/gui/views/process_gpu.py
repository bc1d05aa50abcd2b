"""The GPU % and GPU memory columns of the process table, kept apart so the table stays simple.

The values come from the ``gpu`` family's ``tables["gpu_processes"]`` (pid -> ``gpu_pct``,
``gpu_mem``), merged into the process rows by PID. Both columns are hidden on a machine with no
GPU. A process with no GPU client shows "—" (it has no GPU use to measure), never 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtWidgets import QTableView

from perfdeck.model.series import Snapshot

GPU_KEYS = ("gpu_pct", "gpu_mem")


class GpuRow:
    """A process row (a ProcessRow or any object) with its GPU use added as attributes."""

    __slots__ = ("_row", "gpu_mem", "gpu_pct")

    def __init__(self, row: Any, use: Mapping[str, Any]) -> None:
        self._row = row
        self.gpu_pct = use.get("gpu_pct")
        self.gpu_mem = use.get("gpu_mem")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


def with_gpu(rows: Sequence[Any], snapshot: Snapshot) -> Sequence[Any]:
    """``rows`` with GPU % and GPU memory for the processes that use a GPU (others unchanged)."""
    table: Mapping[int, Mapping[str, Any]] | None = snapshot.tables.get("gpu_processes")
    if not table:
        return rows
    merged = []
    for row in rows:
        pid = row.get("pid") if isinstance(row, Mapping) else getattr(row, "pid", None)
        # A remote window gets the table through JSON, where the PIDs became strings.
        use = (table.get(pid) or table.get(str(pid))) if pid is not None else None
        if use is None:
            merged.append(row)
        elif isinstance(row, Mapping):
            merged.append({**row, "gpu_pct": use.get("gpu_pct"), "gpu_mem": use.get("gpu_mem")})
        else:
            merged.append(GpuRow(row, use))
    return merged


def show_gpu_columns(table: QTableView, columns: Mapping[str, int], snapshot: Snapshot) -> None:
    """Hide both GPU columns when the machine has no GPU (changes the view only when needed)."""
    hidden = not snapshot.tables.get("gpus")
    for key in GPU_KEYS:
        index = columns.get(key)
        if index is not None and table.isColumnHidden(index) != hidden:
            table.setColumnHidden(index, hidden)
