"""Per-client GPU use from fdinfo: parsing every driver's keys, de-duplication, counters going back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakes.gpu_trees import (
    AMD_DISCRETE,
    INTEL_IGPU,
    INTEL_XE,
    add_process,
    amdgpu_fdinfo,
    i915_fdinfo,
    make_amdgpu_discrete,
    make_i915,
    set_fdinfo,
    usual_fds,
    xe_fdinfo,
)
from perfdeck.collectors.gpu import GpuCollector
from perfdeck.gpu.fdinfo import FdinfoTracker, FdinfoWalker, parse_fdinfo, scan_fdinfo

RENDER = "/dev/dri/renderD129"
KiB = 1024


def test_parse_amdgpu_new_and_legacy_memory_keys() -> None:
    new = parse_fdinfo(amdgpu_fdinfo(7, gfx_ns=123, compute_ns=45, vram_kib=100, gtt_kib=20))
    assert new is not None
    assert (new.driver, new.pdev, new.client_id) == ("amdgpu", AMD_DISCRETE, "7")
    assert new.engines_ns == {"gfx": 123, "compute": 45, "dma": 0, "dec": 0}
    assert new.resident == {"cpu": 0, "gtt": 20 * KiB, "vram": 100 * KiB}
    legacy = parse_fdinfo(amdgpu_fdinfo(8, vram_kib=100, gtt_kib=20, legacy=True))
    assert legacy is not None and legacy.resident == {"vram": 100 * KiB, "gtt": 20 * KiB, "cpu": 0}


def test_parse_i915_capacity_and_xe_cycles() -> None:
    i915 = parse_fdinfo(i915_fdinfo(12, render_ns=5, video_ns=6))
    assert i915 is not None
    assert i915.engines_ns == {"render": 5, "copy": 0, "video": 6, "video-enhance": 0}
    assert i915.capacity == {"video": 2}
    assert i915.resident == {"system0": 8192 * KiB, "stolen-system0": 0}
    xe = parse_fdinfo(xe_fdinfo(4, rcs_cycles=28257900, total_cycles=7655183225))
    assert xe is not None and xe.engines_ns == {}  # xe has no drm-engine-* lines
    assert xe.cycles["rcs"] == 28257900 and xe.total_cycles["rcs"] == 7655183225
    assert xe.capacity == {"vcs": 2, "vecs": 2, "ccs": 4}


def test_not_a_drm_client() -> None:
    assert parse_fdinfo("pos:\t0\nflags:\t02\nmnt_id:\t26\nino:\t5\n") is None
    # A driver too old to print drm-client-id cannot be de-duplicated: left out, not guessed.
    assert parse_fdinfo("drm-driver:\tamdgpu\ndrm-engine-gfx:\t5 ns\n") is None


def _shared_clients(root: Path, gfx7: int, gfx8: int) -> None:
    """pid 100 holds client 7 through fds 5 and 6 (dup); pid 101 (a fork) holds it too; 102 has client 8."""
    seven = amdgpu_fdinfo(7, gfx_ns=gfx7, vram_kib=1000, gtt_kib=24)
    eight = amdgpu_fdinfo(8, gfx_ns=gfx8, vram_kib=500, gtt_kib=0)
    add_process(root, 100, "game", fds={**usual_fds(), 5: (RENDER, seven), 6: (RENDER, seven)})
    add_process(root, 101, "game-helper", fds={**usual_fds(), 5: (RENDER, seven)})
    add_process(root, 102, "blender", fds={**usual_fds(), 9: (RENDER, eight)})
    add_process(root, 103, "bash", fds=usual_fds())


def test_scan_counts_each_client_once(tmp_path: Path) -> None:
    _shared_clients(tmp_path, 10**9, 10**9)
    scan = scan_fdinfo(tmp_path / "proc")
    assert set(scan.clients) == {(AMD_DISCRETE, "7"), (AMD_DISCRETE, "8")}
    assert scan.pids[(AMD_DISCRETE, "7")] == {100, 101}
    assert scan.drm_fds == 4 and scan.processes_seen == 4


def test_busy_per_gpu_and_per_process_with_shared_clients(tmp_path: Path) -> None:
    _shared_clients(tmp_path, 1 * 10**9, 2 * 10**9)
    tracker = FdinfoTracker(tmp_path / "proc")
    first = tracker.update(10.0)
    assert first.engines[AMD_DISCRETE] == {}  # first sighting: no interval yet, no value
    assert first.processes[100].gpu_pct is None
    # Over 2 s, client 7 ran 1 s of gfx (50 %), client 8 0.5 s (25 %).
    for pid in (100, 101):
        set_fdinfo(tmp_path, pid, 5, amdgpu_fdinfo(7, gfx_ns=2 * 10**9, vram_kib=1000, gtt_kib=24))
    set_fdinfo(tmp_path, 100, 6, amdgpu_fdinfo(7, gfx_ns=2 * 10**9, vram_kib=1000, gtt_kib=24))
    set_fdinfo(tmp_path, 102, 9, amdgpu_fdinfo(8, gfx_ns=int(2.5 * 10**9), vram_kib=500, gtt_kib=0))
    use = tracker.update(12.0)
    # The shared client is counted once for the card (75 %, not 50+50+50+25).
    assert use.engines[AMD_DISCRETE]["gfx"] == pytest.approx(75.0)
    assert use.processes[100].gpu_pct == pytest.approx(50.0)  # two fds, one client: once
    assert use.processes[101].gpu_pct == pytest.approx(50.0)  # the fork holds the same client
    assert use.processes[102].gpu_pct == pytest.approx(25.0)
    assert 103 not in use.processes
    # Memory: vram + gtt, amdgpu's "cpu" region is not GPU memory; the card sums each client once.
    assert use.processes[100].gpu_mem == (1000 + 24) * KiB
    assert use.client_memory[AMD_DISCRETE] == (1000 + 24 + 500) * KiB
    assert use.clients[AMD_DISCRETE] == 2
    # The exported counter: busy time observed since tracking began (1 s + 0.5 s), not the
    # clients' earlier history (that would be a burst in an exporter's rate()).
    assert use.engine_ns[AMD_DISCRETE]["gfx"] == int(1.5 * 10**9)


def test_counter_going_backwards_keeps_the_larger_value(tmp_path: Path) -> None:
    add_process(tmp_path, 200, "mpv", fds={3: (RENDER, amdgpu_fdinfo(9, gfx_ns=5 * 10**9))})
    tracker = FdinfoTracker(tmp_path / "proc")
    tracker.update(0.0)
    set_fdinfo(tmp_path, 200, 3, amdgpu_fdinfo(9, gfx_ns=6 * 10**9))
    assert tracker.update(2.0).engines[AMD_DISCRETE]["gfx"] == pytest.approx(50.0)
    set_fdinfo(tmp_path, 200, 3, amdgpu_fdinfo(9, gfx_ns=int(5.9 * 10**9)))  # went back by 0.1 s
    back = tracker.update(4.0)
    assert back.engines[AMD_DISCRETE]["gfx"] == 0.0  # not negative
    assert back.engine_ns[AMD_DISCRETE]["gfx"] == 1 * 10**9  # the exported counter never decreases
    set_fdinfo(tmp_path, 200, 3, amdgpu_fdinfo(9, gfx_ns=7 * 10**9))
    after = tracker.update(6.0)
    # Measured from the kept 6 s, not from 5.9 s: 1 s over 2 s.
    assert after.engines[AMD_DISCRETE]["gfx"] == pytest.approx(50.0)


def test_i915_capacity_divides_engine_time(tmp_path: Path) -> None:
    add_process(tmp_path, 300, "ffmpeg", fds={4: ("/dev/dri/renderD128", i915_fdinfo(12, video_ns=0))})
    tracker = FdinfoTracker(tmp_path / "proc")
    tracker.update(0.0)
    set_fdinfo(tmp_path, 300, 4, i915_fdinfo(12, video_ns=10**9, render_ns=25 * 10**7))
    use = tracker.update(1.0)
    assert use.engines[INTEL_IGPU]["video"] == pytest.approx(50.0)  # 1 s busy of 2 engines x 1 s
    assert use.engines[INTEL_IGPU]["render"] == pytest.approx(25.0)
    assert use.processes[300].gpu_pct == pytest.approx(50.0)


def test_xe_busy_from_cycles(tmp_path: Path) -> None:
    add_process(tmp_path, 400, "llama", fds={4: (RENDER, xe_fdinfo(4, rcs_cycles=1000, total_cycles=10_000))})
    tracker = FdinfoTracker(tmp_path / "proc")
    tracker.update(0.0)
    set_fdinfo(tmp_path, 400, 4, xe_fdinfo(4, rcs_cycles=1500, total_cycles=12_000, ccs_cycles=4000))
    use = tracker.update(1.0)
    assert use.engines[INTEL_XE]["rcs"] == pytest.approx(25.0)  # 500 of 2000 cycles
    assert use.engines[INTEL_XE]["ccs"] == pytest.approx(50.0)  # 4000 of 2000 cycles x 4 engines
    assert use.engines[INTEL_XE]["bcs"] == 0.0


def test_process_exiting_between_walks(tmp_path: Path) -> None:
    add_process(tmp_path, 500, "short", fds={3: (RENDER, amdgpu_fdinfo(11, gfx_ns=10**9))})
    tracker = FdinfoTracker(tmp_path / "proc")
    tracker.update(0.0)
    set_fdinfo(tmp_path, 500, 3, amdgpu_fdinfo(11, gfx_ns=int(1.5 * 10**9)))
    tracker.update(1.0)
    for path in sorted((tmp_path / "proc/500").rglob("*"), reverse=True):
        path.unlink() if path.is_symlink() or path.is_file() else path.rmdir()
    (tmp_path / "proc/500").rmdir()
    use = tracker.update(2.0)
    assert use.processes == {}
    assert use.engine_ns[AMD_DISCRETE]["gfx"] == 5 * 10**8  # its observed busy time stays in the counter


def test_collector_engines_processes_and_counters(tmp_path: Path) -> None:
    make_amdgpu_discrete(tmp_path)
    make_i915(tmp_path)
    add_process(tmp_path, 600, "gnome-shell", fds={**usual_fds(),
                                                   7: ("/dev/dri/renderD128", i915_fdinfo(3, render_ns=0))})
    collector = GpuCollector(tmp_path)
    collector.open()
    collector.read(0.0)
    set_fdinfo(tmp_path, 600, 7, i915_fdinfo(3, render_ns=4 * 10**8))
    reading = collector.read(1.0)
    inst = "0000_00_02_0"
    assert reading.values[f"gpu.engine.render.{inst}"] == pytest.approx(40.0)
    assert reading.values[f"gpu.busy.{inst}"] == pytest.approx(40.0)  # busiest engine on i915
    spec = collector.specs()[f"gpu.engine.render.{inst}"]
    assert spec.labels == (("gpu", INTEL_IGPU), ("engine", "render")) and spec.metric == "gpu.engine"
    assert collector.specs()[f"gpu.busy.{inst}"].label == "GPU 0000:00:02.0 busy (busiest engine)"
    assert reading.values[f"gpu.client_mem.{inst}"] == 8192 * KiB
    counter = collector.counter_specs()[f"gpu.engine_busy.render.{inst}"]
    assert counter.unit == "s" and reading.totals[counter.id] == pytest.approx(0.4)
    row = reading.tables["gpu_processes"][600]
    assert row["gpu_pct"] == pytest.approx(40.0) and row["gpu_mem"] == 8192 * KiB
    assert row["gpus"] == (INTEL_IGPU,)


def test_walk_on_this_machine() -> None:
    """The real /proc: every process we may inspect is walked; with no /dev/dri there is no client."""
    listable = sum(1 for name in os.listdir("/proc")
                   if name.isdigit() and os.access(f"/proc/{name}/fd", os.R_OK))
    scan = scan_fdinfo(Path("/proc"))
    # Processes come and go while we walk; a machine's worth must have been seen, ourselves included.
    assert scan.processes_seen >= max(1, listable // 2)
    if not os.path.exists("/dev/dri"):
        assert scan.clients == {} and scan.drm_fds == 0


def test_walker_skips_known_fds_and_rechecks_in_turn(tmp_path: Path) -> None:
    for pid in (100, 101, 102):
        add_process(tmp_path, pid, "app", fds={**usual_fds(), 5: (RENDER, amdgpu_fdinfo(pid, gfx_ns=1))})
    for pid in (200, 201, 202):
        add_process(tmp_path, pid, "bash", fds=usual_fds())
    walker = FdinfoWalker(tmp_path / "proc")
    first = walker.scan()
    assert (walker.listings, walker.readlinks) == (6, 33) and len(first.clients) == 3
    walker.listings = walker.readlinks = 0
    second = walker.scan()  # scan 2: pids 102 and 202 (pid % 5 == 2) are fully re-checked
    assert len(second.clients) == 3 and second.processes_seen == 6
    # Listed: the 3 clients (re-read every scan) and 202 in turn; looked at: 102's and 202's fds.
    assert (walker.listings, walker.readlinks) == (4, 11)
    # A new fd number in a process that holds a client is looked at at once.
    add_process(tmp_path, 101, "app", fds={9: (RENDER, amdgpu_fdinfo(900, gfx_ns=1))})
    assert (AMD_DISCRETE, "900") in walker.scan().clients
    # A process that had no client opens a render node: seen on its turn, within RECHECK_EVERY scans.
    add_process(tmp_path, 200, "bash", fds={7: (RENDER, amdgpu_fdinfo(700, gfx_ns=1))})
    waited = next(n for n in range(1, FdinfoWalker.RECHECK_EVERY + 1)
                  if (AMD_DISCRETE, "700") in walker.scan().clients)
    assert 1 < waited <= FdinfoWalker.RECHECK_EVERY  # not at once: the skip is real, and bounded
    # fd 3 of pid 100 (a plain file so far) is reused for a render node: seen on pid 100's turn.
    os.unlink(tmp_path / "proc/100/fd/3")
    add_process(tmp_path, 100, "app", fds={3: (RENDER, amdgpu_fdinfo(300, gfx_ns=1))})
    assert any((AMD_DISCRETE, "300") in walker.scan().clients for _ in range(FdinfoWalker.RECHECK_EVERY))
    # A DRM fd, re-read every scan, is dropped as soon as it stops being a client.
    os.unlink(tmp_path / "proc/102/fd/5")
    add_process(tmp_path, 102, "app", fds={5: ("/dev/null", None)})
    assert (AMD_DISCRETE, "102") not in walker.scan().clients


def test_corrupt_fdinfo_values_are_ignored_not_guessed() -> None:
    text = ("drm-driver:\tamdgpu\ndrm-client-id:\t9\ndrm-pdev:\t0000:03:00.0\n"
            "drm-engine-gfx:\tlots ns\ndrm-engine-compute:\t\ndrm-engine-dma:\t77 ns\n"
            "drm-resident-vram:\t12 parsecs\ndrm-memory-gtt:\t4 KiB\ndrm-engine-capacity-gfx:\tmany\n")
    client = parse_fdinfo(text)
    assert client is not None
    assert client.engines_ns == {"dma": 77}
    assert client.capacity == {}
    assert client.resident == {"gtt": 4 * KiB}  # "12 parsecs" is not a size: left out
