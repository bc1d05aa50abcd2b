"""The ``perf stat`` command line that counts what PerfDeck counts, the same way.

``perfdeck doctor`` prints it so that a user with a real PMU can compare the two outputs in one
step: the same events, in the same kernel groups (``counters.plan_groups``: ``{...}`` in perf's
syntax), on the same CPUs, with the same privilege scope (``:u`` when PerfDeck counts user space
only), one line per second (``-I 1000``). Hybrid parts name the PMU of each event
(``cpu_core/cycles/``), as PerfDeck opens one copy per core PMU.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence

from perfdeck.perf.counters import CounterBudget, EventSpec, plan_groups
from perfdeck.perf.events import BY_NAME, SOFTWARE, _cpulist

HYBRID_PMUS = ("cpu_core", "cpu_atom", "cpu_lowpower")


def _spelled(name: str, pmu: str) -> str:
    """perf's event syntax: ``cycles``, or ``cpu_atom/cycles/`` on a hybrid PMU."""
    return f"{pmu}/{name}/" if pmu in HYBRID_PMUS else name


def perf_stat_command(events_by_pmu: Mapping[str, Sequence[str]], software: Iterable[str],
                      budget: CounterBudget, *, scope: str, cpus: Sequence[int] = (),
                      exclude_kernel: bool = False, interval_ms: int = 1000) -> str:
    """One shell-ready ``perf stat`` line.

    ``events_by_pmu`` maps a core PMU name (``cpu``, ``cpu_core``...) to the hardware/cache event
    names PerfDeck counts on it; ``software`` are the software events. ``scope`` is
    ``system-wide`` (``-a -C <cpus>``) or ``per-process`` (``-p <PID>``, to fill in).
    """
    modifier = ":u" if exclude_kernel else ""
    args = ["perf", "stat"]
    if scope == "system-wide":
        args += ["-a"] + (["-C", _cpulist(cpus)] if cpus else [])
    else:
        args += ["-p", "<PID>"]
    args += ["-I", str(interval_ms)]
    for pmu, names in events_by_pmu.items():
        specs = [EventSpec(n, BY_NAME[n].type, BY_NAME[n].config, pmu=pmu) for n in names if n in BY_NAME]
        plan = plan_groups(specs, budget)
        for group in plan.groups:
            members = ",".join(_spelled(e.name, pmu) for e in group)
            args += ["-e", f"{{{members}}}{modifier}"]
    sw = [n for n in software if n in BY_NAME and BY_NAME[n].kind == SOFTWARE]
    if sw:
        args += ["-e", ",".join(f"{n}{modifier}" for n in sw)]
    return " ".join(shlex.quote(a) if a != "<PID>" else a for a in args)
