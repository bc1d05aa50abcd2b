"""Human words: plain one-line reasons and human series names (issue 12)."""

from __future__ import annotations

import pytest

from perfdeck.model.alerts import AlertEvent, AlertRule, EventKind
from perfdeck.model.names import family_name, human_name, is_fact, plain_reason


@pytest.mark.parametrize(("reason", "plain"), [
    ("no hardware PMU: this is a virtual machine (a hypervisor, from the 'hypervisor' flag in "
     "/proc/cpuinfo); perf_event_open gives ENOENT", "Hardware counters are off in this virtual machine"),
    ("perf_event_paranoid is 4", "Hardware counters need permission on this machine"),
    ("this virtual machine exposes no CPU frequency scaling (/sys/devices/system/cpu/cpuN/cpufreq is "
     "missing), so the current clock of each CPU cannot be read",
     "This virtual machine does not report CPU clock speeds"),
    ("no swap is configured, so there is no swap usage percentage", "No swap is configured"),
    ("cannot read /proc (test)", "Cannot read /proc"),
    ("", "Not available here"),
])
def test_plain_reason_puts_plain_words_first(reason, plain):
    assert plain_reason(reason) == plain


def test_facts_are_not_faults():
    assert is_fact("no swap is configured")
    assert is_fact("the sensors collector reports no battery on this machine")
    assert not is_fact("perf_event_paranoid is 4")


@pytest.mark.parametrize(("series_id", "label", "name"), [
    ("cpu.util.total", "all CPUs", "CPU busy"), ("cpu.util.core3", "CPU 3", "CPU 3 busy"),
    ("cpu.util.iowait.core1", "", "CPU 1 waiting for I/O"),
    ("disk.read.sda", "", "sda read"), ("net.rx.eth0", "", "eth0 received"),
    ("disk.fs_used_pct.root", "", "/ full"), ("sensors.temp.coretemp_core_0", "Core 0", "Core 0"),
    ("made.up", "", "made.up"),
])
def test_human_names(series_id, label, name):
    assert human_name(series_id, label) == name


def test_family_names():
    assert family_name("disk.read.sda") == "Disks" and family_name("perf.ipc.total") == "Hardware counters"
    assert family_name("nope.x") == "nope"


def test_notification_says_what_happened_in_words():
    rule = AlertRule(name="CPU hot", series="cpu.util.total", direction="above", threshold=90.0, duration=2.0)
    fired = AlertEvent(EventKind.FIRED, rule, "cpu.util.total", timestamp=102.0, value=97.0, since=100.0,
                       unit="%", label="all CPUs")
    assert fired.summary == "CPU busy: 97 % for 2 s (threshold 90 %)"
    assert "all CPUs" not in fired.summary and "cpu.util.total" in fired.body  # the id is secondary
    cleared = AlertEvent(EventKind.CLEARED, rule, "cpu.util.total", timestamp=110.0, value=40.0, since=102.0,
                         unit="%", label="all CPUs")
    assert cleared.summary == "CPU busy back to normal: 40 %" and "lasted 8 s" in cleared.body


def test_rules_are_described_by_name():
    rule = AlertRule(name="CPU hot", series="cpu.util.total", direction="above", threshold=90.0,
                     duration=30.0, rearm=80.0)
    assert rule.describe("%") == "CPU busy above 90 % for 30 s (clears below 80 %)"
    glob = AlertRule(name="Hot", series="sensors.temp.*", direction="above", threshold=85.0)
    assert glob.describe("°C") == "sensors.temp.* above 85 °C"  # a glob stays as written
