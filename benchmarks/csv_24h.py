"""Export and open a 24-hour, 1 Hz recording of every series the real collectors produce here.

    .venv/bin/python benchmarks/csv_24h.py [--hours 24] [--keep DIR]

1. Asks the real collectors (``model.registry.create_collectors``) for their series specs, so the
   column set is exactly what this machine records (ids, units).
2. Builds a ``History`` holding ``hours`` x 3600 samples of those series (synthetic values: a
   random walk per series, 1 % of cells missing) through the public ``History.append``.
3. Exports it with ``model.export.export_history`` (what File > Export CSV… runs) and loads the
   file with ``model.recording_file.load_recording`` (what File > Open recording… runs), and,
   when Qt is available, builds the ``RecordingWindow`` offscreen.

Each phase runs in a fresh interpreter, and the peak RSS (VmHWM, reset through
/proc/self/clear_refs just before the measured step) is that step's own; the report gives wall
time, the peak RSS growth during the step, and the file size. Results are
quoted in docs/performance.md ("CSV export and recordings").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_kib() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    """Start a new peak-RSS measurement (Linux: writing 5 to clear_refs resets VmHWM)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _peak_kib() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def real_specs() -> dict:
    from perfdeck.model.engine import SamplingEngine
    from perfdeck.model.registry import create_collectors

    engine = SamplingEngine(create_collectors())
    engine.open()
    try:
        engine.sample()
        time.sleep(0.5)
        snapshot = engine.sample()
    finally:
        engine.close()
    return dict(snapshot.specs)


def phase_export(hours: float, path: str) -> dict:
    import numpy as np

    from perfdeck.model.export import ExportRequest, export_history
    from perfdeck.model.history import History

    specs = real_specs()
    ids = list(specs)
    rows = int(hours * 3600)
    rng = np.random.default_rng(42)
    walk = np.cumsum(rng.normal(0, 1, size=(rows, len(ids))), axis=0) + 50.0
    walk[rng.random(walk.shape) < 0.01] = np.nan
    history = History(rows)
    start = time.time() - rows
    build_started = time.perf_counter()
    for index in range(rows):
        values = {sid: (None if v != v else v) for sid, v in zip(ids, walk[index].tolist(), strict=True)}
        history.append(start + index, values, specs if index == 0 else None)
    build_s = time.perf_counter() - build_started
    del walk
    _reset_peak()
    before = _rss_kib()
    started = time.perf_counter()
    result = export_history(history, path, ExportRequest(tuple(ids)))
    export_s = time.perf_counter() - started
    return {"series": len(ids), "rows": result.rows, "bytes": result.bytes, "history_build_s": build_s,
            "history_mib": history.nbytes / 2**20, "export_s": export_s,
            "export_peak_growth_mib": max(0, _peak_kib() - before) / 1024}


def phase_open(path: str) -> dict:
    from perfdeck.model.recording_file import load_recording

    _reset_peak()
    before = _rss_kib()
    started = time.perf_counter()
    recording = load_recording(path)
    open_s = time.perf_counter() - started
    arrays = sum(v.nbytes for v in recording.values.values()) / 2**20
    return {"rows": len(recording), "series": len(recording.columns), "open_s": open_s,
            "open_peak_growth_mib": max(0, _peak_kib() - before) / 1024, "arrays_mib": arrays,
            "warnings": recording.warnings}


def phase_window(path: str) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from perfdeck.gui.recording_view import RecordingWindow
    from perfdeck.model.recording_file import load_recording

    app = QApplication.instance() or QApplication([])
    recording = load_recording(path)
    _reset_peak()
    before = _rss_kib()
    started = time.perf_counter()
    window = RecordingWindow(recording)
    window.resize(1200, 800)
    window.show()
    app.processEvents()
    window.grab()  # one full paint of every visible plot
    window_s = time.perf_counter() - started
    curves = len(window.visible_series())
    window.close()
    return {"window_s": window_s, "window_peak_growth_mib": max(0, _peak_kib() - before) / 1024,
            "curves_drawn": curves}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--keep", default=None, help="folder to keep the CSV in (default: a temp dir)")
    parser.add_argument("--phase", choices=("export", "open", "window"), help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phases = {"export": lambda: phase_export(args.hours, args.path),
                  "open": lambda: phase_open(args.path), "window": lambda: phase_window(args.path)}
        result = phases[args.phase]()
        print(json.dumps(result))
        return 0
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="perfdeck-csv24h-"))
    path = folder / "day.csv"
    report: dict = {"hours": args.hours, "python": sys.version.split()[0], "cpus": os.cpu_count()}
    for phase in ("export", "open", "window"):
        out = subprocess.run([sys.executable, __file__, "--phase", phase, "--hours", str(args.hours),
                              "--path", str(path)], capture_output=True, text=True)
        if out.returncode != 0:
            report[phase] = {"error": out.stderr.strip().splitlines()[-1:]}
            continue
        report[phase] = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=2))
    if not args.keep:
        path.unlink(missing_ok=True)
        folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
