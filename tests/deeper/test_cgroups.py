"""cgroup family: naming, layouts, rates from fake v2 trees, bounded series, and the real tree here."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.cgroup_trees import (
    CONTAINERD_ID,
    DOCKER_ID,
    POD_UID,
    PODMAN_ID,
    make_hybrid,
    make_legacy,
    make_many,
    make_unified,
)
from perfdeck.collectors.cgroup_tree import (
    detect_layout,
    human_name,
    parse_io_stat,
    process_cgroup,
    read_cgroup,
)
from perfdeck.collectors.cgroups import TABLE, CgroupCollector, cgroup_report, instance_name
from perfdeck.model.series import INSTANCE_LABELS, CollectorUnavailableError
from probes import opened_files

NGINX = "/system.slice/nginx.service"


def test_human_names() -> None:
    assert human_name("/") == ("whole machine (root cgroup)", "root")
    assert human_name(NGINX) == ("nginx", "service")
    assert human_name("/system.slice") == ("system services", "slice")
    assert human_name(f"/system.slice/docker-{DOCKER_ID}.scope") == (f"docker {DOCKER_ID[:12]}", "container")
    assert human_name(f"/docker/{DOCKER_ID}") == (f"docker {DOCKER_ID[:12]}", "container")  # cgroupfs driver
    assert human_name(f"/machine.slice/libpod-{PODMAN_ID}.scope") == (f"podman {PODMAN_ID[:12]}", "container")
    conmon = human_name(f"/machine.slice/libpod-conmon-{PODMAN_ID}.scope")
    assert conmon[0] == f"podman conmon {PODMAN_ID[:12]}"
    pod_slice = f"kubepods-burstable-pod{POD_UID.replace('-', '_')}.slice"
    assert human_name(f"/kubepods.slice/kubepods-burstable.slice/{pod_slice}") == (
        f"pod {POD_UID} (burstable)", "pod")
    assert human_name(f"/kubepods/besteffort/pod{POD_UID}") == (f"pod {POD_UID} (besteffort)", "pod")
    assert human_name(f"/kubepods.slice/x/{pod_slice}/cri-containerd-{CONTAINERD_ID}.scope") == (
        f"containerd {CONTAINERD_ID[:12]}", "container")
    assert human_name("/user.slice/user-0.slice") == ("user root (0)", "user")
    assert human_name("/user.slice/user-0.slice/session-3.scope") == ("session 3", "session")
    assert human_name("/user.slice/user-0.slice/user@0.service") == ("user manager of root (0)", "service")
    assert human_name("/machine.slice/machine-qemu\\x2d1\\x2dwin11.scope") == (
        "VM or container qemu-1-win11", "machine")
    assert human_name("/init.scope") == ("init (systemd)", "service")
    assert human_name("/system.slice/systemd-fsck@dev-disk-by\\x2duuid-1234.service")[0] == (
        "systemd-fsck@dev-disk-by-uuid-1234")


def test_layouts(tmp_path: Path) -> None:
    make_unified(tmp_path / "u")
    unified = detect_layout(tmp_path / "u")
    assert unified.mode == "unified" and unified.v2_mount_point == "/sys/fs/cgroup"
    assert unified.controller_reason("memory") is None
    make_hybrid(tmp_path / "h")
    hybrid = detect_layout(tmp_path / "h")
    assert hybrid.mode == "hybrid" and hybrid.v2_mount == tmp_path / "h/sys/fs/cgroup/unified"
    reason = hybrid.controller_reason("io")
    assert reason is not None
    assert "blkio controller is bound to cgroup v1 at /sys/fs/cgroup/blkio" in reason.reason
    assert "systemd.unified_cgroup_hierarchy=1" in reason.fix
    make_legacy(tmp_path / "l")
    with pytest.raises(CollectorUnavailableError) as caught:
        CgroupCollector(tmp_path / "l", counters=False).open()
    assert "cgroup v1 only" in caught.value.unavailable.reason
    (tmp_path / "n").mkdir()
    with pytest.raises(CollectorUnavailableError):
        CgroupCollector(tmp_path / "n", counters=False).open()


def test_file_formats(tmp_path: Path) -> None:
    assert parse_io_stat("8:0 rbytes=100 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n"
                         "259:0 rbytes=1000 wbytes=3000 rios=2 wios=9 dbytes=0 dios=0\n") == (1100, 3020)
    cgroups = make_unified(tmp_path)
    sample = read_cgroup(str(cgroups[NGINX].dir), NGINX)
    assert sample.memory_max == 536870912 and not sample.memory_unlimited
    assert (sample.io_read_bytes, sample.io_write_bytes) == (1_004_096, 2_000_000)
    assert sample.procs == 3 and sample.nr_throttled == 0 and sample.throttled_usec == 0
    ssh = read_cgroup(str(cgroups["/system.slice/ssh.service"].dir), "/system.slice/ssh.service")
    assert ssh.memory_unlimited and ssh.memory_max is None


def test_rates_per_cgroup_on_a_unified_tree(tmp_path: Path) -> None:
    cgroups = make_unified(tmp_path)
    collector = CgroupCollector(tmp_path, counters=False)
    collector.open()
    first = collector.read(10.0)
    table = first.tables[TABLE]
    assert table.layout == "unified" and not table.truncated and not table.missing
    rows = {row.path: row for row in table.rows}
    assert len(rows) == len(cgroups)
    assert rows[NGINX].cpu_pct is None  # first read: no rate yet, not 0
    assert rows[NGINX].parent == "/system.slice" and rows["/system.slice"].parent == "/"
    cgroups[NGINX].advance(usage_usec=3_000_000, throttled_usec=500_000, read=8192, write=1_048_576,
                           memory_some=400_000, memory_full=100_000)
    cgroups[NGINX].memory_current = 123_456_789
    cgroups[NGINX].write()
    second = collector.read(12.0)
    row = {r.path: r for r in second.tables[TABLE].rows}[NGINX]
    assert row.name == "nginx" and row.kind == "service"
    assert row.cpu_pct == pytest.approx(150.0)  # 3 CPU-seconds in 2 s: 1.5 CPUs
    assert row.throttled_pct == pytest.approx(25.0) and row.nr_throttled == 1
    assert row.memory_current == 123_456_789 and row.memory_max == 536870912
    assert row.io_read_bps == pytest.approx(4096) and row.io_write_bps == pytest.approx(524_288)
    assert row.pressure[("memory", "some")] == pytest.approx(20.0)
    assert row.pressure[("memory", "full")] == pytest.approx(5.0)
    assert row.pressure[("cpu", "some")] == 0.0
    assert row.procs == 3 and not row.missing
    root = {r.path: r for r in second.tables[TABLE].rows}["/"]
    assert "memory" in root.missing and "root cgroup" in root.missing["memory"].reason


def test_series_are_bounded_to_the_busiest(tmp_path: Path) -> None:
    cgroups = make_unified(tmp_path)
    collector = CgroupCollector(tmp_path, series_limit=3, counters=False)
    collector.open()
    collector.read(0.0)
    busy = [NGINX, "/system.slice/ssh.service", f"/system.slice/docker-{DOCKER_ID}.scope"]
    for rank, path in enumerate(busy):
        cgroups[path].advance(usage_usec=(3 - rank) * 100_000)
    # Parents include their children's usage (hierarchical), as the kernel's files do.
    cgroups["/system.slice"].advance(usage_usec=60_000)
    reading = collector.read(10.0)
    specs = collector.specs()
    instances = {dict(spec.labels)["cgroup"] for spec in specs.values()}
    assert instances == set(busy)
    cpu = specs[f"cgroup.cpu.{instance_name(NGINX)}"]
    assert cpu.label == "nginx: CPU" and cpu.metric == "cgroup.cpu" and cpu.unit == "%"
    assert {name for spec in specs.values() for name, _ in spec.labels} <= INSTANCE_LABELS
    assert reading.values[f"cgroup.cpu.{instance_name(NGINX)}"] == pytest.approx(3.0)
    assert set(reading.totals) <= set(collector.counter_specs())
    assert reading.totals[f"cgroup.cpu_seconds.{instance_name(NGINX)}"] == pytest.approx(0.3)
    assert reading.totals[f"cgroup.io_bytes.write.{instance_name(NGINX)}"] == 2_000_000
    assert len(specs) == 3 * 11
    # Within the reselection period the choice holds, so labels do not churn every tick; then the
    # busiest over the whole period (not the last tick) get the series.
    cgroups["/system.slice/systemd-journald.service"].advance(usage_usec=9_000_000)
    collector.read(11.0)
    assert {dict(s.labels)["cgroup"] for s in collector.specs().values()} == set(busy)
    collector.read(20.0)
    assert "/system.slice/systemd-journald.service" in {dict(s.labels)["cgroup"]
                                                        for s in collector.specs().values()}


def test_hybrid_host_says_what_is_missing(tmp_path: Path) -> None:
    cgroups = make_hybrid(tmp_path)
    collector = CgroupCollector(tmp_path, counters=False)
    collector.open()
    collector.read(0.0)
    cgroups["/system.slice/cron.service"].advance(usage_usec=200_000, memory_some=10_000)
    reading = collector.read(1.0)
    table = reading.tables[TABLE]
    assert table.layout == "hybrid"
    assert "memory controller is bound to cgroup v1" in table.missing["memory"].reason
    assert "blkio" in table.missing["io"].reason
    assert "cpu" not in table.missing  # cpu.stat usage_usec is there without the controller
    cron = {r.path: r for r in table.rows}["/system.slice/cron.service"]
    assert cron.cpu_pct == pytest.approx(20.0) and cron.pressure[("memory", "some")] == pytest.approx(1.0)
    assert cron.memory_current is None and "memory" in cron.missing
    inst = instance_name("/system.slice/cron.service")
    assert f"cgroup.memory.{inst}" not in reading.values  # unavailable, never 0
    assert reading.values[f"cgroup.cpu.{inst}"] == pytest.approx(20.0)
    report = cgroup_report(tmp_path)
    assert report["available"] and report["layout"] == "hybrid" and "memory" in report["missing"]


def test_cgroup_removed_between_reads(tmp_path: Path) -> None:
    import shutil

    cgroups = make_unified(tmp_path)
    collector = CgroupCollector(tmp_path, counters=False)
    collector.open()
    collector.read(0.0)
    shutil.rmtree(cgroups["/system.slice/ssh.service"].dir)
    reading = collector.read(1.0)
    assert "/system.slice/ssh.service" not in {r.path for r in reading.tables[TABLE].rows}


def test_walk_is_bounded(tmp_path: Path) -> None:
    make_many(tmp_path, 60)
    collector = CgroupCollector(tmp_path, max_cgroups=40, counters=False)
    collector.open()
    reading = collector.read(0.0)
    assert len(reading.tables[TABLE].rows) == 40 and reading.tables[TABLE].truncated
    assert "more than 40 cgroups" in reading.unavailable["cgroup.tree"].reason


def test_process_cgroup_prefers_v2_then_systemd(tmp_path: Path) -> None:
    (tmp_path / "proc/10").mkdir(parents=True)
    (tmp_path / "proc/10/cgroup").write_text("0::/system.slice/nginx.service\n")
    (tmp_path / "proc/11").mkdir(parents=True)
    (tmp_path / "proc/11/cgroup").write_text("9:name=systemd:/system.slice/cron.service\n8:pids:/\n0::/\n")
    assert process_cgroup(tmp_path, 10) == NGINX
    assert process_cgroup(tmp_path, 11) == "/system.slice/cron.service"
    assert process_cgroup(tmp_path, 12) is None  # vanished


def test_real_tree_on_this_machine() -> None:
    layout = detect_layout(Path("/"))
    if layout.v2_mount is None:
        pytest.skip(f"no cgroup v2 here ({layout.summary()})")
    collector = CgroupCollector()
    collector.open()
    collector.read(0.0)
    # Burn a little CPU in this process so the cgroup holding it has something to show.
    total = 0
    for i in range(300_000):
        total += i * i
    reading = collector.read(1.0)
    rows = {row.path: row for row in reading.tables[TABLE].rows}
    assert "/" in rows and rows["/"].cpu_pct is not None and rows["/"].cpu_pct >= 0
    assert rows["/"].procs is not None and rows["/"].procs >= 0
    if layout.mode == "hybrid":
        assert set(reading.tables[TABLE].missing) >= {"memory", "io"}


class ReplayPool:
    """A pool double that replays chosen counts (arithmetic only; the real pool is tested as root)."""

    def __init__(self, max_cgroups: int = 2, hardware: bool = True, refuse: bool = False) -> None:
        from perfdeck.perf.cgroup_counters import CgroupCounts

        self.max_cgroups, self.per_cgroup_fds, self.fd_budget = max_cgroups, 12, 12 * max_cgroups
        self.failures: dict = {}
        self.hardware_reason = None if hardware else __import__(
            "perfdeck.model.series", fromlist=["Unavailable"]).Unavailable("no hardware PMU here")
        self.refuse = refuse
        self.tma_plan = None
        self.tracked: list[str] = []
        self.counts = CgroupCounts
        self.closed = False

    def track(self, paths) -> None:
        from perfdeck.model.series import Unavailable

        self.tracked = list(paths)[:self.max_cgroups]
        if self.refuse:
            refused = Unavailable("counting per cgroup needs system-wide permission")
            self.failures = {p: refused for p in self.tracked}
            self.tracked = []

    def read(self):
        values = {"cycles": 2e9, "instructions": 3e9, "LLC-loads": 1e6, "LLC-load-misses": 2.5e5,
                  "context-switches": 500.0, "task-clock": 1e9,
                  # level-1 slot counts summed over a P-core and an E-core of a hybrid part
                  "slots": 3e9, "topdown-retiring": 1.2e9 + 0.4e9, "topdown-bad-spec": 0.3e9 + 0.1e9,
                  "topdown-fe-bound": 0.6e9 + 0.2e9, "topdown-be-bound": 0.9e9 + 0.3e9}
        return {p: self.counts(values, 2.0) for p in self.tracked}

    def close(self) -> None:
        self.closed = True


def test_counter_arithmetic_from_replayed_counts(tmp_path: Path) -> None:
    cgroups = make_unified(tmp_path)
    pool = ReplayPool()
    collector = CgroupCollector(tmp_path, series_limit=3, pool_factory=lambda layout, root: pool)
    collector.open()
    collector.read(0.0)
    cgroups[NGINX].advance(usage_usec=900_000)
    cgroups["/system.slice/ssh.service"].advance(usage_usec=500_000)
    cgroups["/init.scope"].advance(usage_usec=100_000)
    reading = collector.read(2.0)
    assert pool.tracked == [NGINX, "/system.slice/ssh.service"]  # the busiest, within the budget
    rows = {r.path: r for r in reading.tables[TABLE].rows}
    nginx = rows[NGINX]
    assert nginx.ipc == pytest.approx(1.5) and nginx.llc_miss_pct == pytest.approx(25.0)
    assert nginx.ctx_switches_ps == pytest.approx(250.0)
    assert "only the 2 busiest cgroups are counted" in rows["/init.scope"].missing["counters"].reason
    inst = instance_name(NGINX)
    assert reading.values[f"cgroup.ipc.{inst}"] == pytest.approx(1.5)
    assert f"cgroup.ipc.{instance_name('/init.scope')}" not in reading.values
    collector.read(4.0)
    assert collector.read(6.0).totals[f"cgroup.context_switches.{inst}"] == pytest.approx(1500.0)
    assert "for the 2 busiest cgroups" in reading.tables[TABLE].counters


def test_no_pmu_leaves_ipc_out(tmp_path: Path) -> None:
    cgroups = make_unified(tmp_path)
    collector = CgroupCollector(tmp_path, series_limit=1,
                                pool_factory=lambda layout, root: ReplayPool(hardware=False))
    collector.open()
    collector.read(0.0)
    cgroups[NGINX].advance(usage_usec=900_000)
    reading = collector.read(2.0)
    nginx = {r.path: r for r in reading.tables[TABLE].rows}[NGINX]
    assert "no hardware PMU" in nginx.missing["ipc"].reason
    assert f"cgroup.ipc.{instance_name(NGINX)}" not in collector.specs()
    assert reading.values[f"cgroup.ctx_switches.{instance_name(NGINX)}"] == pytest.approx(250.0)
    assert "IPC, LLC miss % and top-down unavailable: no hardware PMU" in reading.tables[TABLE].counters


def test_refused_counters_are_reported_once(tmp_path: Path) -> None:
    make_unified(tmp_path)
    pool = ReplayPool(refuse=True)
    collector = CgroupCollector(tmp_path, pool_factory=lambda layout, root: pool)
    collector.open()
    reading = collector.read(0.0)
    assert pool.closed
    assert "system-wide permission" in reading.tables[TABLE].counters
    assert all("system-wide permission" in r.missing["counters"].reason for r in reading.tables[TABLE].rows)
    assert not any(".ctx_switches." in sid for sid in collector.specs())


def test_topdown_level1_per_cgroup(tmp_path: Path) -> None:
    from fakes.topdown_trees import make_alder_lake
    from perfdeck.perf.cgroup_counters import CgroupCounterPool, specs_for_cgroups
    from perfdeck.perf.topdown import discover_topdown

    plans = discover_topdown(make_alder_lake(tmp_path / "adl")).plans
    # The real pool's sizing: a second group per CPU with each CPU type's level-1 events.
    pool = CgroupCounterPool(tmp_path, range(20), specs_for_cgroups(range(20), pmus=[], hardware=False),
                             tma_plans=plans)
    assert pool.per_cgroup_fds == 2 * 20 + 5 * 16 + 4 * 4
    assert pool.max_cgroups == 256 // 136 and not pool.tma_plan.level2
    cgroups = make_unified(tmp_path / "u")
    replay = ReplayPool()
    replay.tma_plan = pool.tma_plan
    collector = CgroupCollector(tmp_path / "u", series_limit=1, pool_factory=lambda layout, root: replay)
    collector.open()
    collector.read(0.0)
    cgroups[NGINX].advance(usage_usec=900_000)
    reading = collector.read(2.0)
    nginx = {r.path: r for r in reading.tables[TABLE].rows}[NGINX]
    assert nginx.tma == pytest.approx({"retiring": 40.0, "bad_speculation": 10.0, "frontend_bound": 20.0,
                                       "backend_bound": 30.0})
    assert reading.values[f"cgroup.tma_retiring.{instance_name(NGINX)}"] == pytest.approx(40.0)
    assert "Top-down level 1 per cgroup" in reading.tables[TABLE].counters


# --- kept interface files (pread) and presence from the directory listing -------------------------

def _readings_both_ways(tmp_path: Path, steps: int = 7) -> tuple[list, list, CgroupCollector]:
    """The same fake tree read by a collector that keeps its files open and one that opens, reads
    and closes every file (kept_files=0), while counters move, a cgroup goes away, one is made
    again under the same path (another inode) and a controller's files appear and vanish."""
    import shutil

    cgroups = make_unified(tmp_path)
    kept, plain = (CgroupCollector(tmp_path, counters=False),
                   CgroupCollector(tmp_path, counters=False, kept_files=0))
    kept.open()
    plain.open()
    ours, theirs = [], []
    for step in range(steps):
        for index, cgroup in enumerate(cgroups.values()):
            cgroup.advance(usage_usec=1000 * (index + step), read=4096 * step, write=step,
                           memory_some=step * index)
        if step == 2:
            shutil.rmtree(cgroups["/system.slice/ssh.service"].dir)
            del cgroups["/system.slice/ssh.service"]
        if step == 3:  # removed and made again: the kept files must not read the old one
            nginx = cgroups[NGINX]
            shutil.rmtree(nginx.dir)
            nginx.usage_usec = 5
            nginx.write()
        if step == 4:
            (cgroups[NGINX].dir / "io.stat").unlink()  # its controller turned off
        if step == 5:
            cgroups[NGINX].write()  # and on again
        now = 10.0 * step
        ours.append(kept.read(now))
        theirs.append(plain.read(now))
    return ours, theirs, kept


def test_kept_files_read_what_open_read_close_reads(tmp_path: Path) -> None:
    ours, theirs, kept = _readings_both_ways(tmp_path)
    for mine, old in zip(ours, theirs, strict=True):
        assert mine.values == old.values
        assert mine.totals == old.totals
        assert mine.unavailable == old.unavailable
        assert mine.tables[TABLE] == old.tables[TABLE]
    assert kept._budget.kept == sum(len(k.files) for k in kept._kept.values()) > 0
    kept.close()
    assert kept._budget.kept == 0 and not kept._kept


def test_kept_files_open_no_file_after_the_first_read_and_respect_the_budget(tmp_path: Path) -> None:
    cgroups = make_unified(tmp_path)
    collector = CgroupCollector(tmp_path, counters=False)
    collector.open()
    collector.read(0.0)
    for step in range(1, 6):
        for cgroup in cgroups.values():
            cgroup.advance(usage_usec=100)
        with opened_files() as opened:
            collector.read(2.0 * step)
        # Only the memory.max and cgroup.procs of the 5th read (kept from then on): no other file,
        # and no failed open of a file the listing does not show.
        opened = [p for p in opened if "/sys/fs/cgroup" in p]
        assert all(p.endswith(("memory.max", "cgroup.procs")) for p in opened), opened
    collector.close()
    small = CgroupCollector(tmp_path, counters=False, kept_files=5)
    small.open()
    small.read(0.0)
    small.read(2.0)
    assert small._budget.kept == 5
    small.close()
