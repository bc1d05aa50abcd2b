"""The explicit list of metric families.

Adding a family is one line here plus its module under ``perfdeck.collectors``. Modules are
imported on demand, so the headless recorder loads only the families it records and a family
that fails to import is reported as unavailable instead of stopping the app.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass

from perfdeck.model.collector import Collector


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # the series-id prefix and the name used on the command line (--metrics cpu,memory)
    title: str
    target: str  # "module:Class"

    def load(self) -> type[Collector]:
        module_name, class_name = self.target.split(":")
        module = importlib.import_module(module_name)
        return getattr(module, class_name)


FAMILIES: tuple[Family, ...] = (
    Family("cpu", "CPU", "perfdeck.collectors.cpu:CpuCollector"),
    Family("mem", "Memory", "perfdeck.collectors.memory:MemoryCollector"),
    Family("disk", "Disks", "perfdeck.collectors.disks:DiskCollector"),
    Family("net", "Network", "perfdeck.collectors.network:NetworkCollector"),
    Family("sensors", "Sensors", "perfdeck.collectors.sensors:SensorCollector"),
    Family("proc", "Processes", "perfdeck.collectors.processes:ProcessCollector"),
    Family("perf", "Hardware counters", "perfdeck.collectors.perfcounters:PerfCollector"),
    Family("membw", "Memory bandwidth", "perfdeck.collectors.membw:MemoryBandwidthCollector"),
    Family("power", "Power", "perfdeck.collectors.power:PowerCollector"),
    Family("gpu", "GPUs", "perfdeck.collectors.gpu:GpuCollector"),
    Family("psi", "Pressure stalls", "perfdeck.collectors.psi:PsiCollector"),
    Family("cgroup", "Services and containers", "perfdeck.collectors.cgroups:CgroupCollector"),
    Family("tma", "Top-down analysis", "perfdeck.collectors.topdown:TopdownCollector"),
)

# Friendly aliases accepted on the command line and in settings.
ALIASES = {"memory": "mem", "disks": "disk", "network": "net", "processes": "proc", "sensor": "sensors"}


def family(name: str) -> Family:
    name = ALIASES.get(name, name)
    for fam in FAMILIES:
        if fam.name == name:
            return fam
    known = ", ".join(f.name for f in FAMILIES)
    raise KeyError(f"unknown metric family {name!r}; known families: {known}")


def family_names() -> list[str]:
    return [f.name for f in FAMILIES]


def create_collectors(names: Iterable[str] | None = None) -> list[Collector]:
    """Instantiate the collectors of the given families (all of them by default), in registry order."""
    wanted = {family(n).name for n in names} if names is not None else None
    collectors = []
    for fam in FAMILIES:
        if wanted is None or fam.name in wanted:
            collectors.append(fam.load()())
    return collectors
