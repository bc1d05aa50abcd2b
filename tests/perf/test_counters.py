"""Counter groups (real software events), scaling arithmetic, group sizing, fd budget and hotplug."""

from __future__ import annotations

import errno
import mmap
import os
import resource
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from perfdeck.perf import abi
from perfdeck.perf.abi import PerfOpenError
from perfdeck.perf.counters import (
    CounterGroup,
    CounterSet,
    EventSpec,
    GroupSample,
    counter_budget,
    ensure_fd_budget,
    online_cpus,
    parse_cpulist,
    scale_delta,
    split_into_groups,
)
from probes import system_wide_perf_allowed

SW = abi.PERF_TYPE_SOFTWARE
TASK_CLOCK = EventSpec("task-clock", SW, abi.PERF_COUNT_SW_TASK_CLOCK)
PAGE_FAULTS = EventSpec("page-faults", SW, abi.PERF_COUNT_SW_PAGE_FAULTS)
MINOR = EventSpec("minor-faults", SW, abi.PERF_COUNT_SW_PAGE_FAULTS_MIN)
CTX = EventSpec("context-switches", SW, abi.PERF_COUNT_SW_CONTEXT_SWITCHES)
BOGUS = EventSpec("bogus", SW, 99)  # unknown software id -> ENOENT
CYCLES = EventSpec("cycles", abi.PERF_TYPE_HARDWARE, abi.PERF_COUNT_HW_CPU_CYCLES)
PAGE = mmap.PAGESIZE


def touch_pages(count: int) -> mmap.mmap:
    """Fault in ``count`` fresh anonymous pages (one write each) and return the mapping."""
    area = mmap.mmap(-1, count * PAGE)
    for offset in range(0, count * PAGE, PAGE):
        area[offset] = 1
    return area


def _has_cpu_pmu() -> bool:
    devices = Path("/sys/bus/event_source/devices")
    return any((devices / n).exists() for n in ("cpu", "cpu_core", "cpu_atom"))


# --- real groups ------------------------------------------------------------------------------

def test_page_faults_counted_after_touching_pages() -> None:
    pages = 300
    with CounterGroup([TASK_CLOCK, PAGE_FAULTS, MINOR], pid=0, cpu=-1, exclude_kernel=True) as group:
        before = group.read()
        area = touch_pages(pages)
        after = group.read()
        area.close()
    delta = scale_delta(before, after)
    assert delta.values["page-faults"] is not None and delta.values["page-faults"] >= pages
    assert delta.values["minor-faults"] is not None and delta.values["minor-faults"] >= pages
    assert delta.ratio == 1.0  # software events never multiplex
    assert group.fds == ()  # closed by the context manager


def test_failed_event_dropped_rest_kept() -> None:
    group = CounterGroup([TASK_CLOCK, BOGUS, PAGE_FAULTS], pid=0, cpu=-1, exclude_kernel=True)
    errors = group.open()
    try:
        assert set(errors) == {"bogus"}
        assert errors["bogus"].errno == errno.ENOENT
        assert [e.name for e in group.events] == ["task-clock", "page-faults"]
        group.enable()
        sample = group.read()
        assert set(sample.values) == {"task-clock", "page-faults"}
    finally:
        group.close()


def test_failed_leader_next_event_leads() -> None:
    group = CounterGroup([BOGUS, TASK_CLOCK, CTX], pid=0, cpu=-1)
    group.open()
    try:
        assert [e.name for e in group.events] == ["task-clock", "context-switches"]
        group.enable()
        assert set(group.read().values) == {"task-clock", "context-switches"}
    finally:
        group.close()


@pytest.mark.skipif(_has_cpu_pmu(), reason="this machine has a hardware PMU; cycles would open")
def test_hardware_event_enoent_without_pmu() -> None:
    group = CounterGroup([CYCLES, TASK_CLOCK], pid=0, cpu=-1, exclude_kernel=True)
    errors = group.open()
    group.close()
    assert errors["cycles"].errno == errno.ENOENT


def test_vanished_thread_is_esrch_and_stops_trying() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    group = CounterGroup([TASK_CLOCK, PAGE_FAULTS], pid=child.pid, cpu=-1, exclude_kernel=True)
    errors = group.open()
    assert list(errors) == ["task-clock"] and errors["task-clock"].errno == errno.ESRCH
    assert not group.is_open


def test_duplicate_names_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        CounterGroup([TASK_CLOCK, TASK_CLOCK])


def test_read_closed_group_raises() -> None:
    with pytest.raises(PerfOpenError):
        CounterGroup([TASK_CLOCK]).read()


# --- scaling arithmetic (replayed samples) ----------------------------------------------------

def s(enabled: int, running: int, wall: float = 0.0, **values: int) -> GroupSample:
    return GroupSample(enabled, running, dict(values), wall)


def test_scale_full_running() -> None:
    d = scale_delta(s(100, 100, 0.0, a=10), s(1100, 1100, 1.0, a=510))
    assert d.values == {"a": 500.0} and d.ratio == 1.0 and d.elapsed_s == 1.0


def test_scale_multiplexed() -> None:
    d = scale_delta(s(0, 0, a=0, b=0), s(1000, 250, a=100, b=40))
    assert d.values == {"a": 400.0, "b": 160.0}
    assert d.ratio == 0.25
    assert d.raw == {"a": 100, "b": 40}


def test_scale_not_counted_is_none_not_zero() -> None:
    d = scale_delta(s(1000, 500, a=7), s(2000, 500, a=7))
    assert d.values == {"a": None}
    assert d.ratio == 0.0


def test_scale_wrap_and_reset() -> None:
    top = (1 << 64) - 10
    wrapped = scale_delta(s(0, 0, a=top), s(10, 10, a=5))
    assert wrapped.values["a"] == 15.0
    backwards = scale_delta(s(0, 0, a=1000), s(10, 10, a=10))
    assert backwards.values["a"] is None


def test_scale_new_event_is_none() -> None:
    d = scale_delta(s(0, 0, a=1), s(10, 10, a=2, b=3))
    assert d.values == {"a": 1.0, "b": None}


def test_scale_nothing_enabled() -> None:
    d = scale_delta(s(10, 10, a=1), s(10, 10, a=1))
    assert d.ratio is None and d.values == {"a": None}


# --- group sizing -----------------------------------------------------------------------------

def fake_root(tmp_path: Path, vendor: str, smt: str | None, nmi: str) -> Path:
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/cpuinfo").write_text(f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: 6\n")
    (tmp_path / "proc/sys/kernel/nmi_watchdog").write_text(nmi + "\n")
    if smt is not None:
        (tmp_path / "sys/devices/system/cpu/smt").mkdir(parents=True)
        (tmp_path / "sys/devices/system/cpu/smt/active").write_text(smt + "\n")
    return tmp_path


@pytest.mark.parametrize(("vendor", "smt", "nmi", "expected"), [
    # Intel's watchdog sits on fixed counter 1 (cycles), not on a general-purpose counter.
    ("GenuineIntel", "1", "0", 4), ("GenuineIntel", "0", "0", 8), ("GenuineIntel", "1", "1", 4),
    ("AuthenticAMD", "1", "0", 6), ("AuthenticAMD", "1", "1", 5), ("HygonGenuine", "0", "0", 6),
    ("SomethingElse", None, "0", 4),
])
def test_counter_budget(tmp_path: Path, vendor: str, smt: str | None, nmi: str, expected: int) -> None:
    budget = counter_budget(fake_root(tmp_path, vendor, smt, nmi))
    assert budget.per_group == expected
    assert ("NMI watchdog" in budget.reason) == (nmi == "1")
    if vendor == "GenuineIntel":
        expected_fixed = {"instructions", "ref-cycles"} | (set() if nmi == "1" else {"cycles"})
        assert budget.fixed == expected_fixed
    else:
        assert budget.fixed == frozenset()


def test_split_groups_by_pmu_and_size() -> None:
    hw = [EventSpec(f"h{i}", abi.PERF_TYPE_HARDWARE, i) for i in range(7)]
    atom = [EventSpec(f"a{i}", abi.PERF_TYPE_HARDWARE, i | (8 << 32), pmu="cpu_atom") for i in range(2)]
    ext = EventSpec("core-ext", abi.PERF_TYPE_HARDWARE, 1 | (4 << 32))
    sw = [TASK_CLOCK, PAGE_FAULTS, MINOR, CTX]
    groups = split_into_groups([*hw[:2], *sw[:2], *atom, *hw[2:], *sw[2:], ext], per_group=3)
    names = [[e.name for e in g] for g in groups]
    assert names == [
        ["task-clock", "page-faults", "minor-faults", "context-switches"],
        ["h0", "h1", "h2"], ["h3", "h4", "h5"], ["h6"],
        ["a0", "a1"],
        ["core-ext"],
    ]
    for group in groups:
        assert len({e.pmu_key for e in group if not e.is_software}) <= 1


# --- fd budget --------------------------------------------------------------------------------

def test_fd_budget_raises_soft_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"hard RLIMIT_NOFILE {hard} too low to test raising")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        budget = ensure_fd_budget(1000)
        assert budget.ok
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 1000
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_fd_budget_insufficient_says_why() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("unlimited hard RLIMIT_NOFILE")
    budget = ensure_fd_budget(hard * 2)
    assert not budget.ok
    assert budget.available < budget.needed
    assert "ulimit -n" in budget.message


# --- CPU lists and hotplug --------------------------------------------------------------------

def test_parse_cpulist() -> None:
    assert parse_cpulist("0-3,8,10-11\n") == (0, 1, 2, 3, 8, 10, 11)
    assert parse_cpulist("") == ()
    assert parse_cpulist("5") == (5,)
    with pytest.raises(ValueError, match="bad cpulist"):
        parse_cpulist("a-b")


def _online_root(tmp_path: Path, text: str) -> Path:
    (tmp_path / "sys/devices/system/cpu").mkdir(parents=True, exist_ok=True)
    (tmp_path / "sys/devices/system/cpu/online").write_text(text)
    return tmp_path


class FakeOpener:
    """Hands out real software-event fds (so reads work) but fails on CPUs marked offline."""

    def __init__(self, offline: set[int]) -> None:
        self.offline = offline
        self.calls: list[int] = []

    def __call__(self, attr: abi.PerfEventAttr, pid: int, cpu: int, group_fd: int) -> int:
        self.calls.append(cpu)
        if cpu in self.offline:
            raise PerfOpenError(errno.ENODEV, abi.errno_message(errno.ENODEV, f"cpu{cpu}"))
        # Count on the calling thread instead of a CPU so this works unprivileged.
        attr.flags |= abi.ATTR_EXCLUDE_KERNEL
        return abi.perf_event_open(attr, 0, -1, group_fd)


def test_counterset_rescan_on_online_change(tmp_path: Path) -> None:
    root = _online_root(tmp_path, "0-1\n")
    opener = FakeOpener(set())
    counters = CounterSet([[TASK_CLOCK, PAGE_FAULTS]], root=root, opener=opener)
    counters.open()
    counters.enable()
    try:
        assert counters.cpus == (0, 1)
        assert set(counters.read()) == {(0, 0), (0, 1)}
        assert not counters.rescan_needed()
        (root / "sys/devices/system/cpu/online").write_text("0\n")  # cpu1 unplugged
        assert counters.rescan_needed()
        counters.rescan()
        assert counters.cpus == (0,)
        assert set(counters.read()) == {(0, 0)}
        assert not counters.rescan_needed()
    finally:
        counters.close()


def test_counterset_enodev_marks_rescan(tmp_path: Path) -> None:
    root = _online_root(tmp_path, "0-2\n")
    counters = CounterSet([[TASK_CLOCK]], root=root, opener=FakeOpener({2}))
    counters.open()
    try:
        assert set(counters.groups) == {(0, 0), (0, 1)}
        assert counters.errors[(0, 2)]["task-clock"].errno == errno.ENODEV
        assert counters.rescan_needed()
        assert counters.fd_count() == 2
    finally:
        counters.close()


def test_online_cpus_fallback(tmp_path: Path) -> None:
    assert online_cpus(tmp_path) == tuple(range(os.cpu_count() or 1))
    assert online_cpus(_online_root(tmp_path, "0,2-3\n")) == (0, 2, 3)



@pytest.mark.skipif(not system_wide_perf_allowed(), reason="system-wide counting not permitted for this user")
def test_real_counterset_all_cpus() -> None:
    counters = CounterSet([[TASK_CLOCK, PAGE_FAULTS, CTX]])
    counters.open()
    counters.enable()
    try:
        first = counters.read()
        area = touch_pages(100)
        second = counters.read()
        area.close()
        assert set(first) == {(0, cpu) for cpu in online_cpus()}
        faults = sum(scale_delta(first[k], second[k]).values["page-faults"] or 0 for k in first)
        assert faults >= 100
    finally:
        counters.close()


# --- unprivileged behaviour (real EACCES) ------------------------------------------------------

UNPRIV_SCRIPT = textwrap.dedent("""
    import errno, json
    from perfdeck.perf import abi
    from perfdeck.perf.counters import CounterGroup, EventSpec
    out = {}
    spec = [EventSpec("task-clock", 1, 1), EventSpec("page-faults", 1, 2)]
    g = CounterGroup(spec, pid=-1, cpu=0)
    out["syswide"] = {k: v.errno for k, v in g.open().items()}
    g.close()
    g = CounterGroup(spec, pid=0, cpu=-1, exclude_kernel=False)
    out["own_kernel"] = {k: v.errno for k, v in g.open().items()}
    g.close()
    g = CounterGroup(spec, pid=0, cpu=-1, exclude_kernel=True)
    out["own_user"] = {k: v.errno for k, v in g.open().items()}
    g.enable(); out["own_user_values"] = sorted(g.read().values)
    g.close()
    print(json.dumps(out))
""")


def _unprivileged_python() -> list[str] | None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        return None
    app_dir = str(Path(abi.__file__).resolve().parents[2])
    for python in (sys.executable, "/usr/bin/python3"):
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", python]
        code = "import sys; sys.path.insert(0, sys.argv[1]); import perfdeck.perf"
        probe = subprocess.run([*cmd, "-c", code, app_dir], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return cmd
    return None


def test_unprivileged_gets_eacces_for_system_wide() -> None:
    cmd = _unprivileged_python()
    if cmd is None:
        pytest.skip("needs root, setpriv and a python + checkout readable by user nobody")
    paranoid = int(Path("/proc/sys/kernel/perf_event_paranoid").read_text())
    app_dir = str(Path(abi.__file__).resolve().parents[2])
    result = subprocess.run([*cmd, "-c", f"import sys; sys.path.insert(0, {app_dir!r})\n" + UNPRIV_SCRIPT],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    import json
    out = json.loads(result.stdout)
    if paranoid >= 1:
        assert out["syswide"] == {"task-clock": errno.EACCES, "page-faults": errno.EACCES}
    if paranoid >= 2:
        assert out["own_kernel"] == {"task-clock": errno.EACCES, "page-faults": errno.EACCES}
    if paranoid <= 2:
        assert out["own_user"] == {}
        assert out["own_user_values"] == ["page-faults", "task-clock"]


# --- msr/tsc: the uncore-style open path, checked against the TSC frequency -----------------------

def _expected_tsc_hz() -> tuple[float, str] | None:
    """The TSC frequency from an independent source, and which one.

    /proc/cpuinfo "cpu MHz" equals the TSC frequency only when the kernel knows it exactly
    (``tsc_known_freq``) or in a VM (the hypervisor reports the TSC rate); on bare metal it is the
    current core clock, so ``perf stat -e msr/tsc/`` is used there instead.
    """
    text = Path("/proc/cpuinfo").read_text()
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    mhz = next((float(ln.split(":", 1)[1]) for ln in text.splitlines() if ln.startswith("cpu MHz")), None)
    if mhz and "constant_tsc" in flags and ("tsc_known_freq" in flags or "hypervisor" in flags):
        return mhz * 1e6, "/proc/cpuinfo cpu MHz (tsc_known_freq)"
    perf = shutil.which("perf")
    if perf is None:
        return None
    run = subprocess.run([perf, "stat", "-x,", "-e", "msr/tsc/", "-a", "--", "sleep", "0.5"],
                         capture_output=True, text=True, timeout=60)
    line = next((ln for ln in run.stderr.splitlines() if "msr/tsc/" in ln), "")
    fields = line.split(",")
    if run.returncode != 0 or len(fields) < 4 or not fields[0].isdigit():
        return None
    # fields[3] is the time the event was enabled, in ns, summed over CPUs.
    return int(fields[0]) / (int(fields[3]) / 1e9), "perf stat -e msr/tsc/"


def test_msr_tsc_rate_matches_tsc_frequency() -> None:
    from perfdeck.perf.pmu import list_pmus

    pmus = list_pmus()
    if "msr" not in pmus or "tsc" not in pmus["msr"].events:
        pytest.skip("no msr PMU with a tsc event on this machine")
    if not system_wide_perf_allowed():
        pytest.skip("msr events need system-wide (pid=-1) permission")
    expected = _expected_tsc_hz()
    if expected is None:
        pytest.skip("no independent TSC frequency source (cpuinfo without tsc_known_freq, no perf)")
    expected_hz, source = expected
    encoded = pmus["msr"].encode_event("tsc")
    tsc = EventSpec("tsc", pmus["msr"].type, encoded.config, encoded.config1, encoded.config2, pmu="msr")
    counters = CounterSet([[tsc]])  # pid=-1 per CPU, no exclude bits (msr refuses them: EINVAL)
    counters.open()
    assert not counters.errors, counters.errors
    counters.enable()
    try:
        first = counters.read()
        import time
        time.sleep(0.3)
        second = counters.read()
    finally:
        counters.close()
    for key in first:
        delta = scale_delta(first[key], second[key])
        ticks = delta.values["tsc"]
        assert ticks is not None
        # The TSC ticks at a fixed rate whether the CPU runs or idles: ticks / enabled time.
        rate = ticks / (delta.enabled_ns / 1e9)
        assert rate == pytest.approx(expected_hz, rel=0.02), (key, rate, source)


def test_msr_refuses_exclude_bits() -> None:
    from perfdeck.perf.pmu import list_pmus

    pmus = list_pmus()
    if "msr" not in pmus or not system_wide_perf_allowed():
        pytest.skip("no msr PMU or no system-wide permission")
    tsc = EventSpec("tsc", pmus["msr"].type, 0, pmu="msr")
    group = CounterGroup([tsc], pid=-1, cpu=0, exclude_kernel=True)
    errors = group.open()
    group.close()
    assert errors["tsc"].errno == errno.EINVAL


# --- raw counts merged, then scaled once --------------------------------------------------------

def test_count_scaling_and_not_counted() -> None:
    from perfdeck.perf.counters import Count

    assert Count(100, 1000, 500).scaled() == 200.0
    assert Count(100, 1000, 1000).scaled() == 100.0
    assert Count(0, 1000, 0).scaled() is None  # enabled but never on a counter: unknown
    assert Count(0, 0, 0).scaled() == 0.0  # the thread never ran: a true zero


def test_hybrid_copies_add_running_not_enabled() -> None:
    """0.9 s on a P-core, 0.1 s on an E-core: one event, not two scaled ones (finding 1)."""
    from perfdeck.perf.counters import Count, merge_copies

    core, atom = Count(3.6e9, 10**9, 9 * 10**8), Count(0.25e9, 10**9, 10**8)
    merged = merge_copies([core, atom])
    assert merged is not None and merged.scaled() == pytest.approx(3.85e9)
    assert core.scaled() + atom.scaled() == pytest.approx(6.5e9)  # what scaling each copy gave


def test_contexts_add_all_three_so_one_idle_thread_does_not_blank_the_total() -> None:
    from perfdeck.perf.counters import Count, merge_contexts

    busy, stalled, idle = Count(100, 1000, 500), Count(0, 10, 0), Count(0, 0, 0)
    merged = merge_contexts([busy, stalled, idle])
    assert merged is not None and merged.scaled() == pytest.approx(100 * 1010 / 500)
    assert merge_contexts([busy, None]) is None  # a missing context is never a partial sum


def _hw(name: str, pmu: str = "") -> EventSpec:
    from perfdeck.perf.events import BY_NAME

    return EventSpec(name, BY_NAME[name].type, BY_NAME[name].config, pmu=pmu)


def test_plan_keeps_ratio_sides_together_where_split_did_not() -> None:
    """Finding 2: at 3 counters (watchdog on AMD-like PMU) catalogue chunks split the pairs."""
    from perfdeck.perf.counters import CounterBudget, plan_groups

    names = ["cycles", "instructions", "branches", "branch-misses", "L1-dcache-loads",
             "L1-dcache-load-misses", "LLC-loads", "LLC-load-misses"]
    specs = [_hw(n) for n in names]
    old = [{e.name for e in g} for g in split_into_groups(specs, 3)]
    assert not any({"branches", "branch-misses"} <= g for g in old)
    plan = plan_groups(specs, CounterBudget(3, "AuthenticAMD", "test"))
    groups = [{e.name for e in g} for g in plan.groups]
    assert all(len(g) <= 3 for g in groups)
    for metric, pair in (("ipc", {"instructions", "cycles"}),
                         ("branch_miss_pct", {"branches", "branch-misses"}),
                         ("l1d_miss_pct", {"L1-dcache-loads", "L1-dcache-load-misses"}),
                         ("l1d_mpki", {"L1-dcache-load-misses", "instructions"}),
                         ("llc_mpki", {"LLC-load-misses", "instructions"})):
        index, _ = plan.pairs[("cpu", metric)]
        assert pair <= groups[index], metric


def test_plan_counts_intel_fixed_counters_apart() -> None:
    from perfdeck.perf.counters import CounterBudget, plan_groups

    specs = [_hw(n) for n in ("cycles", "instructions", "ref-cycles", "branches", "branch-misses",
                              "L1-dcache-loads", "L1-dcache-load-misses")]
    fixed = frozenset({"cycles", "instructions", "ref-cycles"})
    plan = plan_groups(specs, CounterBudget(4, "GenuineIntel", "test", fixed))
    assert len(plan.groups) == 1  # 4 general-purpose events + 3 fixed: one group, no multiplexing
    with_watchdog = plan_groups(specs, CounterBudget(4, "GenuineIntel", "test", fixed - {"cycles"}))
    assert len(with_watchdog.groups) == 2


def test_plan_never_mixes_hybrid_pmus_and_selects_copies() -> None:
    from perfdeck.perf.counters import Count, CounterBudget, plan_groups

    core = [EventSpec(n, 0, c | (4 << 32), pmu="cpu_core") for n, c in (("cycles", 0), ("instructions", 1))]
    atom = [EventSpec(n, 0, c | (8 << 32), pmu="cpu_atom") for n, c in (("cycles", 0), ("instructions", 1))]
    plan = plan_groups([*core, *atom], CounterBudget(8, "GenuineIntel", "test"))
    assert [{e.pmu for e in g} for g in plan.groups] == [{"cpu_core"}, {"cpu_atom"}]
    counts = {0: {"cycles": Count(3.6e9, 10**9, 9 * 10**8), "instructions": Count(7.2e9, 10**9, 9 * 10**8)},
              1: {"cycles": Count(0.25e9, 10**9, 10**8), "instructions": Count(0.25e9, 10**9, 10**8)}}
    selected = plan.select(counts)
    assert selected["cycles"].scaled() == pytest.approx(3.85e9)
    ipc = selected["ipc:instructions"].scaled() / selected["ipc:cycles"].scaled()
    assert ipc == pytest.approx(7.45 / 3.85)
