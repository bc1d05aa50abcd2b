"""CPU collector: utilisation arithmetic on psutil-shaped doubles, hotplug, frequency, static facts,
and sanity on the real machine."""

from __future__ import annotations

import math
import time
from pathlib import Path

import psutil
import pytest
from psutil_fakes import Script, cpu_times, make_cpu_tree, per_cpu_switch, scpustats, write

from perfdeck.collectors.cpu import PARTS, CpuCollector, split_percentages, split_times

INTEL_CPUINFO = (
    "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz\n"
    "flags\t\t: fpu vme de pse tsc msr\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n"
)
VM_CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\nflags\t\t: fpu tsc hypervisor\n"


def _install(monkeypatch: pytest.MonkeyPatch, totals: list, per_cpu: list, stats: list | None = None
             ) -> None:
    total_script, per_cpu_script = Script(totals), Script(per_cpu)
    monkeypatch.setattr(psutil, "cpu_times", per_cpu_switch(total_script, per_cpu_script))
    monkeypatch.setattr(psutil, "cpu_stats", Script(stats or [scpustats(0, 0, 0, 0)]))


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

def test_first_read_none_then_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_cpu_tree(tmp_path, online="0-1", cpuinfo=INTEL_CPUINFO)
    _install(
        monkeypatch,
        totals=[cpu_times(user=10, idle=10), cpu_times(user=40, system=10, idle=70)],
        per_cpu=[
            [cpu_times(user=5, idle=5), cpu_times(user=5, idle=5)],
            [cpu_times(user=35, system=10, idle=5), cpu_times(user=5, idle=65)],
        ],
        stats=[scpustats(1000, 500, 0, 0), scpustats(3000, 600, 0, 0)],
    )
    collector = CpuCollector(root=tmp_path)
    collector.open()
    first = collector.read(100.0)
    for series_id in ("cpu.util.total", "cpu.util.user", "cpu.util.core0", "cpu.util.idle.core1",
                      "cpu.ctx_switches", "cpu.interrupts"):
        assert series_id in first.values
        assert first.values[series_id] is None, series_id  # never a fake 0

    second = collector.read(102.0)
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


def test_specs_groups_and_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_cpu_tree(tmp_path, online="0-1", cpuinfo=INTEL_CPUINFO)
    _install(monkeypatch, [cpu_times(idle=1)], [[cpu_times(idle=1), cpu_times(idle=1)]])
    collector = CpuCollector(root=tmp_path)
    collector.open()
    specs = collector.specs()
    per_core = sorted(s.id for s in specs.values() if s.group == "cpu.util.core")
    assert per_core == ["cpu.util.core0", "cpu.util.core1"]
    assert {s.id for s in specs.values() if s.group == "cpu.util.part.core1"} == {
        f"cpu.util.{part}.core1" for part in PARTS}
    assert all(s.value_range == (0, 100) for s in specs.values() if s.unit == "%")
    assert specs["cpu.ctx_switches"].kind.value == "rate"


def test_cpu_going_offline_and_online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc/stat lists only online CPUs, so positions shift; numbers must not."""
    make_cpu_tree(tmp_path, online="0-3", cpuinfo=INTEL_CPUINFO)
    online_file = tmp_path / "sys/devices/system/cpu/online"
    idle = cpu_times(idle=100)

    def busy(n: float) -> object:
        return cpu_times(user=n, idle=100)

    per_cpu = Script([
        [idle, idle, cpu_times(idle=300), busy(0)],  # cpu0..3; cpu2's baseline differs from cpu3's
        [idle, idle, busy(50)],  # cpu2 went offline: position 2 is now cpu3
        [idle, idle, busy(0), cpu_times(user=50, idle=150)],  # cpu2 back; cpu3 idled 50 s
    ])
    monkeypatch.setattr(psutil, "cpu_times", per_cpu_switch(Script([cpu_times(idle=1)]), per_cpu))
    monkeypatch.setattr(psutil, "cpu_stats", Script([scpustats(0, 0, 0, 0)]))
    collector = CpuCollector(root=tmp_path)
    collector.open()
    collector.read(1.0)

    write(online_file, "0-1,3")
    reading = collector.read(2.0)
    assert "cpu.util.core2" not in collector.specs()
    assert "cpu.util.core3" in collector.specs()
    # cpu3 did 50 s user + 0 idle since the last read: 100 % busy, not compared with cpu2's baseline.
    assert reading.values["cpu.util.core3"] == pytest.approx(100)
    assert "cpu.util.core2" not in reading.values

    write(online_file, "0-3")
    reading = collector.read(3.0)
    assert "cpu.util.core2" in collector.specs()
    assert reading.values["cpu.util.core2"] is None  # back online: re-based, no invented value
    assert reading.values["cpu.util.core3"] == pytest.approx(0)


def test_cpu_count_race_gives_none_for_a_tick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sysfs says 4 CPUs but /proc/stat listed 3: no per-CPU values that tick, no crash."""
    make_cpu_tree(tmp_path, online="0-3", cpuinfo=INTEL_CPUINFO)
    four = [cpu_times(user=1, idle=1)] * 4
    three = [cpu_times(user=2, idle=2)] * 3
    per_cpu = Script([four, three, [cpu_times(user=3, idle=3)] * 4, [cpu_times(user=4, idle=4)] * 4])
    monkeypatch.setattr(psutil, "cpu_times", per_cpu_switch(Script([cpu_times(idle=1)]), per_cpu))
    monkeypatch.setattr(psutil, "cpu_stats", Script([scpustats(0, 0, 0, 0)]))
    collector = CpuCollector(root=tmp_path)
    collector.open()
    collector.read(1.0)
    race = collector.read(2.0)
    assert all(race.values[f"cpu.util.core{n}"] is None for n in range(4))
    assert collector.read(3.0).values["cpu.util.core0"] is None  # fresh baseline after the race
    assert collector.read(4.0).values["cpu.util.core0"] == pytest.approx(50)


def test_frequency_from_cpufreq(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_cpu_tree(tmp_path, online="0-1", cpufreq_khz={0: 2400000, 1: 800000}, cpuinfo=INTEL_CPUINFO)
    _install(monkeypatch, [cpu_times(idle=1)], [[cpu_times(idle=1), cpu_times(idle=1)]])
    collector = CpuCollector(root=tmp_path)
    collector.open()
    reading = collector.read(1.0)
    assert reading.values["cpu.freq.core0"] == 2400.0
    assert reading.values["cpu.freq.core1"] == 800.0
    assert reading.values["cpu.freq.avg"] == 1600.0
    assert not reading.unavailable


@pytest.mark.parametrize(("cpuinfo", "fix_expected"), [(INTEL_CPUINFO, True), (VM_CPUINFO, False)])
def test_frequency_unavailable_without_cpufreq(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               cpuinfo: str, fix_expected: bool) -> None:
    make_cpu_tree(tmp_path, online="0-1", cpuinfo=cpuinfo)
    _install(monkeypatch, [cpu_times(idle=1)], [[cpu_times(idle=1), cpu_times(idle=1)]])
    collector = CpuCollector(root=tmp_path)
    collector.open()
    reading = collector.read(1.0)
    for series_id in ("cpu.freq.core0", "cpu.freq.core1", "cpu.freq.avg"):
        assert series_id not in reading.values
        assert "cpufreq" in reading.unavailable[series_id].reason
    assert bool(reading.unavailable["cpu.freq.avg"].fix) is fix_expected
    assert ("virtual machine" in reading.unavailable["cpu.freq.avg"].reason) is not fix_expected


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
