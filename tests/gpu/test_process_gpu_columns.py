"""GPU % and GPU memory in the process table: real process rows, GPU use from a fake fdinfo tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakes.gpu_trees import add_host_bridge, add_process, amdgpu_fdinfo, make_amdgpu_discrete, set_fdinfo
from perfdeck.collectors.gpu import GpuCollector
from perfdeck.collectors.processes import ProcessCollector
from perfdeck.gui.views.base import ViewContext
from perfdeck.gui.views.processes import COLUMN_INDEX, ProcessesView
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.history import History

pytestmark = pytest.mark.gui


def _view(qtbot) -> ProcessesView:
    view = ProcessesView(ViewContext(history=History(10)))
    qtbot.addWidget(view)
    view.resize(1000, 500)
    view.show()
    return view


def _cell(view: ProcessesView, pid: int, key: str) -> str:
    model = view.model
    row = next(i for i in range(model.rowCount()) if model.pid_at(i) == pid)
    return model.index(row, COLUMN_INDEX[key]).data()


def test_columns_show_our_process_gpu_use(qtbot, tmp_path: Path) -> None:
    make_amdgpu_discrete(tmp_path)
    me = os.getpid()
    render = "/dev/dri/renderD129"
    add_process(tmp_path, me, "pytest",
                fds={8: (render, amdgpu_fdinfo(5, gfx_ns=0, vram_kib=2048, gtt_kib=0))})
    engine = SamplingEngine([ProcessCollector(), GpuCollector(tmp_path)])
    engine.sample(now=0.0)
    set_fdinfo(tmp_path, me, 8, amdgpu_fdinfo(5, gfx_ns=6 * 10**8, vram_kib=2048, gtt_kib=0))
    snapshot = engine.sample(now=2.0)  # the process list is read every 2 s
    engine.close()
    view = _view(qtbot)
    view.refresh(snapshot)
    assert not view.table.isColumnHidden(COLUMN_INDEX["gpu_pct"])
    assert _cell(view, me, "gpu_pct") == "30.0"  # 0.6 s of gfx over 2 s
    assert _cell(view, me, "gpu_mem") == "2.0 MiB"
    assert _cell(view, 1, "gpu_pct") == "—"  # init holds no GPU client: unknown, not 0


def test_columns_hidden_without_a_gpu(qtbot, tmp_path: Path) -> None:
    add_host_bridge(tmp_path)
    engine = SamplingEngine([ProcessCollector(), GpuCollector(tmp_path)])
    snapshot = engine.sample(now=0.0)
    engine.close()
    view = _view(qtbot)
    view.refresh(snapshot)
    assert view.table.isColumnHidden(COLUMN_INDEX["gpu_pct"])
    assert view.table.isColumnHidden(COLUMN_INDEX["gpu_mem"])
    assert not view.table.isColumnHidden(COLUMN_INDEX["cpu_pct"])


def test_rows_merge_with_a_table_that_came_through_json() -> None:
    """``perfdeck serve`` sends tables as JSON, so a remote window sees PIDs as strings."""
    from perfdeck.gui.views.process_gpu import with_gpu
    from perfdeck.model.series import Snapshot

    rows = ({"pid": 7, "name": "a"}, {"pid": 8, "name": "b"})
    tables = {"gpus": [{"slot": "0000:03:00.0"}], "gpu_processes": {"7": {"gpu_pct": 12.5, "gpu_mem": 4096}}}
    snapshot = Snapshot(0.0, 0.0, {}, {}, tables=tables)
    merged = with_gpu(rows, snapshot)
    assert merged[0]["gpu_pct"] == 12.5 and merged[0]["gpu_mem"] == 4096
    assert "gpu_pct" not in merged[1]
