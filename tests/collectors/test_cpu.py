"""CPU collector: utilisation arithmetic on psutil-shaped doubles, hotplug, frequency, static facts,
and sanity on the real machine."""

from __future__ import annotations

import math
import time
from pathlib import Path

import psutil
import pytest
from psutil_fakes import cpu_times, make_cpu_tree, proc_stat_text, scpustats

from perfdeck.collectors import cpu as cpu_module
from perfdeck.collectors.cpu import (
    PARTS,
    CpuCollector,
    parse_proc_stat,
    parse_proc_stat_arrays,
    split_percentages,
    split_times,
)
from perfdeck.model.series import Reading

INTEL_CPUINFO = (
    "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz\n"
    "flags\t\t: fpu vme de pse tsc msr\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n"
)
VM_CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\nflags\t\t: fpu tsc hypervisor\n"


class StatScript:
    """A fake /proc/stat that moves to its next scripted state before each read of the collector.

    The collector reads the real file under the fake root (through its kept descriptor); the file
    is rewritten in place between reads, as the kernel regenerates it. The last state repeats.
    """

    def __init__(self, root: Path, totals: list, per_cpu: list, stats: list | None = None) -> None:
        self.path = root / "proc/stat"
        self.totals, self.per_cpu = totals, per_cpu
        self.stats = stats or [scpustats(0, 0, 0, 0)]
        self.index = 0
        self._write(0)  # what open() sees

    def _write(self, index: int) -> None:
        def pick(sequence: list) -> object:
            return sequence[min(index, len(sequence) - 1)]

        stats = pick(self.stats)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(proc_stat_text(pick(self.totals), pick(self.per_cpu),  # type: ignore[arg-type]
                                            stats.ctx_switches, stats.interrupts))  # type: ignore[attr-defined]

    def read(self, collector: CpuCollector, now: float) -> Reading:
        self._write(self.index)
        self.index += 1
        return collector.read(now)


@pytest.fixture(params=["loop", "arrays"])
def per_cpu_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on both per-CPU paths: the loop (few CPUs) and the arrays (many CPUs)."""
    if request.param == "arrays":
        monkeypatch.setattr(cpu_module, "ARRAY_MIN_CPUS", 1)
    return request.param


# -- arithmetic -------------------------------------------------------------------------------------

def test_split_folds_nice_into_user_and_does_not_add_guest() -> None:
    parts = split_times(cpu_times(user=10, nice=5, system=3, idle=80, guest=7, guest_nice=2))
    assert parts["user"] == 15  # guest (already inside user) is not added again
    assert sum(parts.values()) == 10 + 5 + 3 + 80


def test_split_percentages_exact_and_sum_to_100() -> None:
    before = split_times(cpu_times(user=100, system=50, idle=1000, iowait=10, irq=1, softirq=2, steal=3))
    after = split_times(cpu_times(user=130, nice=10, system=70, idle=1035, iowait=15, irq=2, softirq=4,
                                  steal=3))
    shares = split_percentages(before, after)
    assert shares is not None
    # deltas: user 30+10, system 20, idle 35, iowait 5, irq 1, softirq 2, steal 0 -> 103 total
    assert shares["user"] == pytest.approx(100 * 40 / 103)
    assert shares["idle"] == pytest.approx(100 * 35 / 103)
    assert shares["steal"] == 0
    assert sum(shares.values()) == pytest.approx(100)


def test_split_percentages_counter_going_backwards() -> None:
    start = split_times(cpu_times(user=100, system=100, idle=100, iowait=50))
    # A whole reset: no valid interval.
    assert split_percentages(start, split_times(cpu_times(user=1, idle=2))) is None
    # No time elapsed at all.
    assert split_percentages(start, start) is None
    # iowait stepping back (a known NO_HZ artefact) counts as 0 and the rest still sums to 100.
    shares = split_percentages(start, split_times(cpu_times(user=110, system=100, idle=190, iowait=49)))
    assert shares is not None
    assert shares["iowait"] == 0
    assert shares["user"] == pytest.approx(10)
    assert sum(shares.values()) == pytest.approx(100)


# -- the collector on doubles -----------------------------------------------------------------------

def test_first_read_none_then_exact(tmp_path: Path, per_cpu_path: str) -> None:
    make_cpu_tree(tmp_path, online="0-1", cpuinfo=INTEL_CPUINFO)
    stat = StatScript(
        tmp_path,
        totals=[cpu_times(user=10, idle=10), cpu_times(user=40, system=10, idle=70)],
        per_cpu=[
            [cpu_times(user=5, idle=5), cpu_times(user=5, idle=5)],
            [cpu_times(user=35, system=10, idle=5), cpu_times(user=5, idle=65)],
        ],
        stats=[scpustats(1000, 500, 0, 0), scpustats(3000, 600, 0, 0)],
    )
    collector = CpuCollector(root=tmp_path)
    collector.open()
    first = stat.read(collector, 100.0)
    for series_id in ("cpu.util.total", "cpu.util.user", "cpu.util.core0", "cpu.util.idle.core1",
                      "cpu.ctx_switches", "cpu.interrupts"):
        assert series_id in first.values
        assert first.values[series_id] is None, series_id  # never a fake 0

    second = stat.read(collector, 102.0)
    values = second.values
    # machine: deltas user 30, system 10, idle 60 -> busy 40 %
    assert values["cpu.util.total"] == pytest.approx(40)
    assert values["cpu.util.user"] == pytest.approx(30)
    assert values["cpu.util.system"] == pytest.approx(10)
    assert values["cpu.util.idle"] == pytest.approx(60)
    # cpu0: user 30, system 10, idle 0 -> 100 % busy; cpu1: idle 60 only -> 0 % busy
    assert values["cpu.util.core0"] == pytest.approx(100)
    assert values["cpu.util.user.core0"] == pytest.approx(75)
    assert values["cpu.util.core1"] == pytest.approx(0)
    assert values["cpu.util.idle.core1"] == pytest.approx(100)
    assert values["cpu.ctx_switches"] == pytest.approx(1000)  # 2000 over 2 s
    assert values["cpu.interrupts"] == pytest.approx(50)


def test_both_paths_give_the_same_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_cpu_tree(tmp_path, online="0-5", cpuinfo=VM_CPUINFO)
    states = [[cpu_times(user=5 * t * n, nice=t, system=2 * t, idle=100 * t + n, iowait=t % 3,
                         irq=0.01 * t, softirq=0.02 * t, steal=0.5 * t) for n in range(6)] for t in (1, 2)]
    readings = []
    for threshold in (1000, 1):
        monkeypatch.setattr(cpu_module, "ARRAY_MIN_CPUS", threshold)
        stat = StatScript(tmp_path, [cpu_times(user=t, idle=9 * t) for t in (1, 2)], states)
        collector = CpuCollector(root=tmp_path)
        collector.open()
        stat.read(collector, 1.0)
        readings.append(stat.read(collector, 2.0))
    loop, arrays = readings
    assert loop.values.keys() == arrays.values.keys() and loop.totals == arrays.totals
    for series_id, value in loop.values.items():
        assert arrays.values[series_id] == pytest.approx(value, abs=1e-9), series_id


def test_parse_proc_stat_as_the_kernel_writes_it() -> None:
    text = proc_stat_text(cpu_times(user=1, nice=2, system=3, idle=4, iowait=5, irq=6, softirq=7, steal=8,
                                    guest=9, guest_nice=10),
                          {0: cpu_times(user=0.5), 3: cpu_times(idle=2.25)}, ctxt=77, intr=99)
    machine, per_cpu, ctxt, intr = parse_proc_stat(text.encode())
    assert machine == (1, 2, 3, 4, 5, 6, 7, 8)  # guest is inside user already: not a mode of its own
    assert sorted(per_cpu) == [0, 3]  # CPU numbers from the line names, not positions
    assert per_cpu[3][3] == pytest.approx(2.25)
    assert (ctxt, intr) == (77, 99)
    # Fewer than eight fields (a very old kernel): that line is left out, nothing is guessed.
    assert parse_proc_stat(b"cpu  1 2 3 4\ncpu0 1 2 3 4\nctxt 5\n") == (None, {}, 5, None)


def test_array_parser_agrees_with_the_line_parser() -> None:
    per_cpu = {n: cpu_times(user=n, nice=0.5, system=2 * n, idle=1000 + n, iowait=0.25, steal=n / 4)
               for n in (0, 1, 2, 5, 7, 64)}
    text = proc_stat_text(cpu_times(user=9, idle=99), per_cpu, ctxt=5, intr=6).encode()
    machine, cpus, times, ctxt, intr = parse_proc_stat_arrays(text)
    line_machine, line_cpus, line_ctxt, line_intr = parse_proc_stat(text)
    assert (machine, ctxt, intr) == (line_machine, line_ctxt, line_intr)
    assert cpus == tuple(sorted(line_cpus)) == (0, 1, 2, 5, 7, 64)
    assert times.tolist() == [list(line_cpus[n]) for n in cpus]
    # A CPU line shorter than the others (not a kernel's, but parse it safely): the line parser.
    ragged = text.replace(b"cpu7 ", b"cpu7 1 2 3 4 5 6 7 8\ncpu99 ", 1)
    _machine, ragged_cpus, ragged_times, _ctxt, _intr = parse_proc_stat_arrays(ragged)
    assert 99 in ragged_cpus and len(ragged_times) == len(ragged_cpus)
    # An intr line without per-IRQ columns, a last line without a newline.
    bare = b"cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 77\nctxt 5"
    assert parse_proc_stat_arrays(bare)[3:] == (5, 77)


def test_many_cpus_cost_does_not_grow_with_python_calls_per_cpu(tmp_path: Path) -> None:
    """256 CPUs: the per-CPU arithmetic is array work, so Python calls per read stay far below
    the ~45 per CPU of a per-CPU loop (12 900 calls a read before, 129 now without cpufreq; with
    cpufreq each CPU adds one file read)."""
    import cProfile
    import pstats

    cpus = 256
    make_cpu_tree(tmp_path, online=f"0-{cpus - 1}", cpuinfo=VM_CPUINFO)  # no cpufreq: a VM
    per_cpu = [[cpu_times(user=10 * tick + n % 5, system=tick, idle=100 * tick) for n in range(cpus)]
               for tick in range(1, 4)]
    stat = StatScript(tmp_path, [cpu_times(user=t, idle=10 * t) for t in range(1, 4)], per_cpu)
    collector = CpuCollector(root=tmp_path)
    collector.open()
    stat.read(collector, 1.0)
    stat.read(collector, 2.0)
    profile = cProfile.Profile()
    stat._write(2)
    profile.enable()
    reading = collector.read(3.0)
    profile.disable()
    assert pstats.Stats(profile).total_calls <= 300  # type: ignore[attr-defined]
    assert reading.values["cpu.util.core255"] == pytest.approx(100 * 11 / 111)  # 10 user + 1 system of 111
    assert reading.values["cpu.util.idle.core3"] == pytest.approx(100 * 100 / 111)
    assert len([k for k in reading.totals if k.startswith("cpu.seconds.")]) == 8 * cpus


def test_unreadable_proc_stat_is_unavailable_not_zero(tmp_path: Path) -> None:
    make_cpu_tree(tmp_path, online="0-1", cpuinfo=INTEL_CPUINFO)
    stat = StatScript(tmp_path, [cpu_times(idle=1)], [[cpu_times(idle=1), cpu_times(idle=1)]])
    collector = CpuCollector(root=tmp_path)
    collector.open()
    stat.read(collector, 1.0)
    stat.path.unlink()
    collector.close()  # the kept descriptor would still read the old file: start afresh
    reading = collector.read(2.0)
    assert "cpu.util.total" not in reading.values and "cpu.util.core1" not in reading.values
    assert "/proc/stat" in reading.unavailable["cpu.util.core1"].reason
    assert "/proc/stat" in reading.unavailable["cpu.ctx_switches"].reason


def test_specs_groups_and_ranges(tmp_path: Path) -> None:
    make_cpu_tree(tmp_path, online="0-1", cpuinfo=INTEL_CPUINFO)
    StatScript(tmp_path, [cpu_times(idle=1)], [[cpu_times(idle=1), cpu_times(idle=1)]])
    collector = CpuCollector(root=tmp_path)
    collector.open()
    specs = collector.specs()
    per_core = sorted(s.id for s in specs.values() if s.group == "cpu.util.core")
    assert per_core == ["cpu.util.core0", "cpu.util.core1"]
    assert {s.id for s in specs.values() if s.group == "cpu.util.part.core1"} == {
        f"cpu.util.{part}.core1" for part in PARTS}
    assert all(s.value_range == (0, 100) for s in specs.values() if s.unit == "%")
    assert specs["cpu.ctx_switches"].kind.value == "rate"


def test_cpu_going_offline_and_online(tmp_path: Path, per_cpu_path: str) -> None:
    """/proc/stat lists only online CPUs, each by number: numbers, not positions, name the series."""
    make_cpu_tree(tmp_path, online="0-3", cpuinfo=INTEL_CPUINFO)
    idle = cpu_times(idle=100)

    def busy(n: float) -> object:
        return cpu_times(user=n, idle=100)

    stat = StatScript(tmp_path, [cpu_times(idle=1)], [
        {0: idle, 1: idle, 2: cpu_times(idle=300), 3: busy(0)},  # cpu2's baseline differs from cpu3's
        {0: idle, 1: idle, 3: busy(50)},  # cpu2 went offline: the third line is now cpu3
        {0: idle, 1: idle, 2: busy(0), 3: cpu_times(user=50, idle=150)},  # cpu2 back; cpu3 idled 50 s
    ])
    collector = CpuCollector(root=tmp_path)
    collector.open()
    stat.read(collector, 1.0)

    reading = stat.read(collector, 2.0)
    assert "cpu.util.core2" not in collector.specs()
    assert "cpu.util.core3" in collector.specs()
    # cpu3 did 50 s user + 0 idle since the last read: 100 % busy, not compared with cpu2's baseline.
    assert reading.values["cpu.util.core3"] == pytest.approx(100)
    assert "cpu.util.core2" not in reading.values
    assert "cpu.seconds.user.core2" not in reading.totals

    reading = stat.read(collector, 3.0)
    assert "cpu.util.core2" in collector.specs()
    assert reading.values["cpu.util.core2"] is None  # back online: re-based, no invented value
    assert reading.values["cpu.util.core3"] == pytest.approx(0)


def test_frequency_from_cpufreq(tmp_path: Path) -> None:
    make_cpu_tree(tmp_path, online="0-1", cpufreq_khz={0: 2400000, 1: 800000}, cpuinfo=INTEL_CPUINFO)
    stat = StatScript(tmp_path, [cpu_times(idle=1)], [[cpu_times(idle=1), cpu_times(idle=1)]])
    (tmp_path / "proc/loadavg").write_text("0.50 0.25 0.10 1/99 1234\n")
    collector = CpuCollector(root=tmp_path)
    collector.open()
    reading = stat.read(collector, 1.0)
    assert reading.values["cpu.freq.core0"] == 2400.0
    assert reading.values["cpu.freq.core1"] == 800.0
    assert reading.values["cpu.freq.avg"] == 1600.0
    assert (reading.values["cpu.load.1"], reading.values["cpu.load.15"]) == (0.5, 0.1)
    assert not reading.unavailable


@pytest.mark.parametrize(("cpuinfo", "fix_expected"), [(INTEL_CPUINFO, True), (VM_CPUINFO, False)])
def test_frequency_unavailable_without_cpufreq(tmp_path: Path, cpuinfo: str, fix_expected: bool) -> None:
    make_cpu_tree(tmp_path, online="0-1", cpuinfo=cpuinfo)
    stat = StatScript(tmp_path, [cpu_times(idle=1)], [[cpu_times(idle=1), cpu_times(idle=1)]])
    collector = CpuCollector(root=tmp_path)
    collector.open()
    reading = stat.read(collector, 1.0)
    for series_id in ("cpu.freq.core0", "cpu.freq.core1", "cpu.freq.avg"):
        assert series_id not in reading.values
        assert "cpufreq" in reading.unavailable[series_id].reason
    assert bool(reading.unavailable["cpu.freq.avg"].fix) is fix_expected
    assert ("virtual machine" in reading.unavailable["cpu.freq.avg"].reason) is not fix_expected
    assert "/proc/loadavg" in reading.unavailable["cpu.load.5"].reason  # none in this fake tree


def test_static_facts_from_sysfs(tmp_path: Path) -> None:
    # Two sockets, two cores each, two threads per core: CPUs n and n+4 are siblings.
    siblings = {n: f"{n % 4},{n % 4 + 4}" for n in range(8)}
    make_cpu_tree(
        tmp_path, online="0-7", packages={n: (n % 4) // 2 for n in range(8)}, siblings=siblings,
        caches=[
            ("1", "Data", "32K", lambda n: siblings[n]),
            ("1", "Instruction", "32K", lambda n: siblings[n]),
            ("2", "Unified", "1024K", lambda n: siblings[n]),
            ("3", "Unified", "16384K", lambda n: "0-1,4-5" if n % 4 < 2 else "2-3,6-7"),
        ],
        cpuinfo=INTEL_CPUINFO,
    )
    facts = CpuCollector(root=tmp_path).static_facts()
    assert facts["model"] == "Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz"
    assert facts["vendor"] == "GenuineIntel"
    assert facts["sockets"] == "2"
    assert facts["physical cores"] == "4"
    assert facts["threads"] == "8"
    assert facts["L1d cache"] == "32 KiB each, 4 instances"
    assert facts["L1i cache"] == "32 KiB each, 4 instances"
    assert facts["L2 cache"] == "1 MiB each, 4 instances"
    assert facts["L3 cache"] == "16 MiB each, 2 instances"
    assert "virtualised" not in facts


def test_static_facts_arm_vendor_and_offline_cpus(tmp_path: Path) -> None:
    make_cpu_tree(tmp_path, online="0-2", present="0-3",
                  cpuinfo="processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n")
    facts = CpuCollector(root=tmp_path).static_facts()
    assert facts["vendor"] == "ARM"
    assert facts["threads"] == "3 online of 4"
    assert "model" not in facts  # not invented when /proc/cpuinfo has no model name


# -- the real machine ---------------------------------------------------------------------------

def test_real_machine_values_in_range() -> None:
    collector = CpuCollector()
    collector.open()
    collector.read(time.monotonic())
    time.sleep(0.5)
    reading = collector.read(time.monotonic())
    values = reading.values
    cpus = [n for n in range(512) if f"cpu.util.core{n}" in values]
    assert len(cpus) == psutil.cpu_count(logical=True)
    for series_id, value in values.items():
        if series_id.startswith("cpu.util."):
            assert value is not None and 0 <= value <= 100, (series_id, value)
    assert sum(values[f"cpu.util.{p}"] for p in PARTS) == pytest.approx(100)
    for n in cpus:
        assert sum(values[f"cpu.util.{p}.core{n}"] for p in PARTS) == pytest.approx(100)
    # The aggregate line is the sum of the per-CPU lines, read microseconds apart.
    mean_core = sum(values[f"cpu.util.core{n}"] for n in cpus) / len(cpus)
    assert math.isclose(mean_core, values["cpu.util.total"], abs_tol=5), (mean_core, values["cpu.util.total"])
    assert values["cpu.ctx_switches"] is not None and values["cpu.ctx_switches"] >= 0
    assert values["cpu.interrupts"] is not None and values["cpu.interrupts"] >= 0
    assert all(values[f"cpu.load.{m}"] >= 0 for m in (1, 5, 15))
    if Path("/sys/devices/system/cpu/cpu0/cpufreq").is_dir():
        assert values["cpu.freq.avg"] > 0
    else:
        assert "cpufreq" in reading.unavailable["cpu.freq.avg"].reason
    assert set(values) | set(reading.unavailable) <= set(collector.specs())


def test_real_machine_static_facts() -> None:
    facts = CpuCollector().static_facts()
    assert facts["threads"] == str(psutil.cpu_count(logical=True))
    assert facts["physical cores"] == str(psutil.cpu_count(logical=False))
    assert any(key.startswith("L1") for key in facts)
