"""cgroup v2 discovery, human names and one cheap read of each cgroup's files (no Qt, no rates).

Layouts (``detect_layout``, from ``/proc/self/mounts``):
- **unified**: one cgroup2 mount (``/sys/fs/cgroup``) with every controller;
- **hybrid**: cgroup v1 controller mounts plus a cgroup2 mount (``/sys/fs/cgroup/unified``) that
  holds only the controllers v1 did not claim. Every cgroup there still has ``cpu.stat`` (its
  ``usage_usec`` is a core file since Linux 5.x) and the ``*.pressure`` files, but no
  ``memory.current`` or ``io.stat`` when memory and io (blkio) belong to v1;
- **legacy**: v1 only: nothing of this family can be read.

The files read per cgroup (Documentation/admin-guide/cgroup-v2.rst): ``cpu.stat`` (``usage_usec``,
``throttled_usec``, ``nr_throttled``), ``memory.current``, ``memory.max`` (a number or ``max``),
``io.stat`` (one line per device: ``8:0 rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..``),
``{cpu,memory,io}.pressure`` and ``cgroup.procs``. Each is hierarchical except ``cgroup.procs``
(only the cgroup's own processes), so a parent's CPU % includes its children.
"""

from __future__ import annotations

import functools
import operator
import os
import pwd
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from perfdeck.collectors._common import KeptFile
from perfdeck.collectors.psi import parse_pressure
from perfdeck.model.series import Unavailable

# A desktop has ~100 cgroups, a Kubernetes node a few thousand: the walk stops here and says so.
MAX_CGROUPS = 2000
PRESSURE_RESOURCES = ("cpu", "memory", "io")
# Which v1 controller mount provides what the v2 files here would (blkio is v1's io).
_V1_FOR_V2 = {"cpu": "cpu", "memory": "memory", "io": "blkio", "pids": "pids"}
# What a v2 controller missing from the v2 tree costs PerfDeck.
_V2_FILES = {"cpu": "cpu.max and the throttling figures (usage still comes from cpu.stat)",
             "memory": "memory.current and memory.max", "io": "io.stat", "pids": "pids.current"}
UNIFIED_FIX = ("boot with systemd.unified_cgroup_hierarchy=1 (the default since systemd 247; add it to "
               "GRUB_CMDLINE_LINUX in /etc/default/grub, `sudo update-grub`, reboot) so every controller "
               "is on cgroup v2")


@dataclass(frozen=True, slots=True)
class CgroupLayout:
    """Where cgroup v2 is mounted and which controllers it lacks, with why."""

    mode: str  # "unified", "hybrid", "legacy" or "none"
    v2_mount: Path | None  # real path (under the filesystem root) of the cgroup2 mount
    v2_mount_point: str  # as the kernel names it, e.g. /sys/fs/cgroup/unified
    v1_controllers: dict[str, str] = field(default_factory=dict)  # controller -> v1 mount point
    v2_controllers: frozenset[str] = frozenset()

    def controller_reason(self, controller: str) -> Unavailable | None:
        """Why a v2 controller's files are missing everywhere here, or None when it is on v2."""
        if controller in self.v2_controllers:
            return None
        v1 = _V1_FOR_V2.get(controller, controller)
        if v1 in self.v1_controllers:
            return Unavailable(f"the {v1} controller is bound to cgroup v1 at {self.v1_controllers[v1]} "
                               f"on this hybrid host, so cgroup v2 has no "
                               f"{_V2_FILES.get(controller, controller)}",
                               UNIFIED_FIX)
        return Unavailable(f"the {controller} controller is not available on cgroup v2 here "
                           f"({self.v2_mount_point}/cgroup.controllers does not list it)")

    def summary(self) -> str:
        if self.mode == "unified":
            return f"cgroup v2 at {self.v2_mount_point}"
        if self.mode == "hybrid":
            bound = ", ".join(sorted(self.v1_controllers)) or "none"
            return (f"hybrid: cgroup v2 at {self.v2_mount_point} with controllers "
                    f"[{', '.join(sorted(self.v2_controllers)) or 'none'}]; v1 holds {bound}")
        if self.mode == "legacy":
            return "cgroup v1 only"
        return "no cgroup filesystem mounted"


def _read(path: str) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        # One read returns a whole small cgroupfs/procfs file; loop only when the buffer filled.
        data = os.read(fd, 65536)
        if len(data) == 65536:
            chunks = [data]
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data.decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def detect_layout(root: Path = Path("/")) -> CgroupLayout:
    """Read the mount table under ``root`` and classify the cgroup layout."""
    text = _read(str(root / "proc/self/mounts")) or _read(str(root / "proc/mounts")) or ""
    v2_point = ""
    v1: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        point = parts[1].replace("\\040", " ")
        if parts[2] == "cgroup2" and not v2_point:
            v2_point = point
        elif parts[2] == "cgroup":
            for option in parts[3].split(","):
                if option in ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "blkio",
                              "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc"):
                    v1[option] = point
    if not v2_point:
        return CgroupLayout("legacy" if v1 else "none", None, "", v1)
    mount = root / v2_point.lstrip("/")
    controllers = frozenset((_read(str(mount / "cgroup.controllers")) or "").split())
    return CgroupLayout("hybrid" if v1 else "unified", mount, v2_point, v1, controllers)


@dataclass(slots=True)
class CgroupSample:
    """The raw cumulative and level values of one cgroup at one read; None = file absent or unreadable."""

    path: str  # relative to the v2 mount, "/" for the root, "/system.slice/ssh.service" below
    usage_usec: int | None = None
    throttled_usec: int | None = None
    nr_throttled: int | None = None
    memory_current: int | None = None
    memory_max: int | None = None  # None with memory_unlimited=True means "max"
    memory_unlimited: bool = False
    io_read_bytes: int | None = None
    io_write_bytes: int | None = None
    pressure: dict[tuple[str, str], int] = field(default_factory=dict)
    procs: int | None = None
    present: frozenset[str] = frozenset()  # the interface files that exist here


def parse_flat_keyed(text: str) -> dict[str, int]:
    """``cpu.stat``-style "key value" lines."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def parse_io_stat(text: str) -> tuple[int, int]:
    """Sum ``rbytes`` and ``wbytes`` over every device line of an ``io.stat``."""
    read = write = 0
    for line in text.splitlines():
        for item in line.split()[1:]:
            key, _, value = item.partition("=")
            if key == "rbytes" and value.isdigit():
                read += int(value)
            elif key == "wbytes" and value.isdigit():
                write += int(value)
    return read, write


def read_cgroup(directory: str, relative: str, previous: CgroupSample | None = None,
                listed: Collection[str] | None = None,
                read_file: Callable[[str], str | None] | None = None) -> CgroupSample:
    """Read one cgroup's interface files. Missing files leave their fields None.

    With ``previous`` (a sample of the same cgroup), the slowly changing files (``memory.max``,
    ``cgroup.procs``) are not read again but taken from it: they cost a third of a read.
    ``listed``: the names in the cgroup's directory (``scan`` has them for free): a file not listed
    is absent, as a failed open would say, without the open. ``read_file``: how to read one file
    by name (kept descriptors, see ``KeptCgroupFiles``; it then checks ``listed`` itself); by
    default open, read and close.
    """
    if read_file is None:
        if listed is None:
            def read_file(name: str) -> str | None:
                return _read(f"{directory}/{name}")
        else:
            def read_file(name: str) -> str | None:
                return _read(f"{directory}/{name}") if name in listed else None
    return _read_cgroup(relative, previous, read_file)


def _read_cgroup(relative: str, previous: CgroupSample | None,
                 read: Callable[[str], str | None]) -> CgroupSample:
    sample = CgroupSample(relative)
    present: set[str] = set()
    cpu = read("cpu.stat")
    if cpu is not None:
        present.add("cpu.stat")
        stats = parse_flat_keyed(cpu)
        sample.usage_usec = stats.get("usage_usec")
        sample.throttled_usec = stats.get("throttled_usec")
        sample.nr_throttled = stats.get("nr_throttled")
    current = read("memory.current")
    if current is not None and current.strip().isdigit():
        present.add("memory.current")
        sample.memory_current = int(current)
    limit = None if previous is not None else read("memory.max")
    if previous is not None:
        sample.memory_max, sample.memory_unlimited = previous.memory_max, previous.memory_unlimited
        present.update(previous.present & {"memory.max", "cgroup.procs"})
        sample.procs = previous.procs
    elif limit is not None:
        present.add("memory.max")
        if limit.strip() == "max":
            sample.memory_unlimited = True
        elif limit.strip().isdigit():
            sample.memory_max = int(limit)
    io = read("io.stat")
    if io is not None:
        present.add("io.stat")
        sample.io_read_bytes, sample.io_write_bytes = parse_io_stat(io)
    for resource in PRESSURE_RESOURCES:
        text = read(f"{resource}.pressure")
        if text is not None:
            present.add(f"{resource}.pressure")
            for kind, total in parse_pressure(text).items():
                sample.pressure[(resource, kind)] = total
    procs = None if previous is not None else read("cgroup.procs")
    if procs is not None:
        present.add("cgroup.procs")
        sample.procs = procs.count("\n")
    sample.present = frozenset(present)
    return sample


_NAME = operator.attrgetter("name")


@dataclass(frozen=True, slots=True)
class ScannedCgroup:
    """One cgroup directory found by ``scan``: where it is, its inode (a cgroup removed and made
    again under the same path is a new one) and the names of its files."""

    directory: str
    relative: str
    inode: int
    files: frozenset[str] | None  # None: not listed (the scan stopped at its limit first)


def scan(mount: Path, limit: int = MAX_CGROUPS) -> tuple[list[ScannedCgroup], bool]:
    """``walk`` with each cgroup's inode and file names, which the directory listings that find
    the children hold anyway (no extra system call)."""
    base = str(mount)
    files: dict[str, frozenset[str]] = {}
    inodes: dict[str, int] = {base: 0}
    found: list[tuple[str, str]] = [(base, "/")]
    stack = [base]
    truncated = False
    while stack and not truncated:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue  # removed while walking: it simply is not listed (its files: not known)
        children = [e for e in entries if e.is_dir(follow_symlinks=False)]
        names = frozenset(map(_NAME, entries))  # C-level: no Python call per entry
        files[directory] = names.difference(map(_NAME, children)) if children else names
        children.sort(key=_NAME)
        for entry in children:
            if len(found) >= limit:
                truncated = True  # as walk: the rest is not listed, and the order is the walk's
                break
            found.append((entry.path, entry.path[len(base):]))
            inodes[entry.path] = entry.inode()
            stack.append(entry.path)
    if not truncated:
        found.sort(key=lambda item: item[1].count("/") if item[1] != "/" else 0)
    return [ScannedCgroup(d, r, inodes[d], files.get(d)) for d, r in found], truncated


class FileBudget:
    """How many files are kept open (``kept``) and may be (``limit``), shared by every cgroup."""

    __slots__ = ("kept", "limit")

    def __init__(self, limit: int) -> None:
        self.kept = 0
        self.limit = limit


class KeptCgroupFiles:
    """The interface files of one cgroup kept open and re-read with ``pread`` (one system call
    instead of open, read and close). A read that fails is tried once more on a fresh descriptor
    (``KeptFile`` reopens after an error), so a file removed and made again (a controller turned
    off and on) reads as an open/read/close would."""

    __slots__ = ("files", "inode")

    def __init__(self, inode: int) -> None:
        self.inode = inode
        self.files: dict[str, KeptFile] = {}

    def reader(self, directory: str, listed: Collection[str] | None, budget: FileBudget
               ) -> Callable[[str], str | None]:
        """A ``read_file`` for ``read_cgroup``: a file not in ``listed`` is absent (None: not
        listed); a new file is kept while ``budget`` allows, else read with open/read/close."""
        files = self.files

        def read(name: str) -> str | None:
            kept = files.get(name)
            if listed is not None and name not in listed:
                if kept is not None:  # the file went away (a controller turned off): let it go
                    kept.close()
                    del files[name]
                    budget.kept -= 1
                return None
            if kept is None:
                if budget.kept >= budget.limit:
                    return _read(f"{directory}/{name}")
                budget.kept += 1
                kept = files[name] = KeptFile(f"{directory}/{name}")
            data = kept.read()
            if data is None:
                data = kept.read()
            return None if data is None else data.decode("utf-8", "replace")

        return read

    def close(self) -> int:
        """Close every file; returns how many were kept."""
        for kept in self.files.values():
            kept.close()
        count = len(self.files)
        self.files = {}
        return count


def walk(mount: Path, limit: int = MAX_CGROUPS) -> tuple[list[tuple[str, str]], bool]:
    """Every cgroup directory under ``mount`` as (absolute dir, path relative to the mount),
    parents before children; and whether ``limit`` cut the walk short."""
    base = str(mount)
    found: list[tuple[str, str]] = [(base, "/")]
    stack = [base]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted((e for e in os.scandir(directory) if e.is_dir(follow_symlinks=False)),
                             key=lambda e: e.name)
        except OSError:
            continue  # removed while walking: it simply is not listed
        for entry in entries:
            if len(found) >= limit:
                return found, True
            found.append((entry.path, entry.path[len(base):]))
            stack.append(entry.path)
    found.sort(key=lambda item: item[1].count("/") if item[1] != "/" else 0)
    return found, False


# --- human names -----------------------------------------------------------------------------------

_HEX_ID = r"([0-9a-f]{64})"
_CONTAINER_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"^docker-{_HEX_ID}\.scope$"), "docker"),
    (re.compile(rf"^libpod-conmon-{_HEX_ID}\.scope$"), "podman conmon"),
    (re.compile(rf"^libpod-{_HEX_ID}(?:\.scope)?$"), "podman"),
    (re.compile(rf"^cri-containerd-{_HEX_ID}\.scope$"), "containerd"),
    (re.compile(rf"^crio-{_HEX_ID}\.scope$"), "cri-o"),
)
_POD = re.compile(r"^kubepods(?:-(besteffort|burstable))?-pod([0-9a-f_]{36})\.slice$")
_POD_CGROUPFS = re.compile(r"^pod([0-9a-f-]{36})$")
_BARE_ID = re.compile(rf"^{_HEX_ID}$")
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def unescape(name: str) -> str:
    """systemd unit-name escaping: ``\\x2d`` is "-"."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name)


def _user_name(uid: str) -> str:
    try:
        return f"{pwd.getpwuid(int(uid)).pw_name} ({uid})"
    except (KeyError, ValueError):
        return uid


@functools.lru_cache(maxsize=4096)
def human_name(path: str) -> tuple[str, str]:
    """A person's name for a cgroup path and its kind, from systemd's and the runtimes' naming.

    ``/system.slice/nginx.service`` -> ("nginx", "service"); ``/user.slice/user-1000.slice``
    -> ("user alice (1000)", "user"); ``.../docker-<64 hex>.scope`` -> ("docker 3f2a1b4c5d6e",
    "container"); ``/kubepods.slice/.../kubepods-burstable-pod<uid>.slice`` -> ("pod <uid>
    (burstable)", "pod").
    """
    if path in ("", "/"):
        return "whole machine (root cgroup)", "root"
    parts = path.strip("/").split("/")
    leaf = parts[-1]
    for pattern, runtime in _CONTAINER_PATTERNS:
        match = pattern.match(leaf)
        if match:
            return f"{runtime} {match.group(1)[:12]}", "container"
    match = _POD.match(leaf)
    if match:
        qos = match.group(1) or "guaranteed"
        return f"pod {match.group(2).replace('_', '-')} ({qos})", "pod"
    if len(parts) >= 2 and parts[0] in ("kubepods", "kubepods.slice"):
        match = _POD_CGROUPFS.match(leaf)
        if match:
            qos = parts[1] if parts[1] in ("besteffort", "burstable") else "guaranteed"
            return f"pod {match.group(1)} ({qos})", "pod"
    if _BARE_ID.match(leaf):
        parent = parts[-2] if len(parts) >= 2 else ""
        runtime = {"docker": "docker", "containerd": "containerd", "libpod_parent": "podman",
                   "machine.slice": "podman"}.get(parent, "container")
        if parent.startswith("pod") or (parts and parts[0] in ("kubepods", "kubepods.slice")):
            runtime = "k8s container"
        return f"{runtime} {leaf[:12]}", "container"
    if leaf == "init.scope":
        return "init (systemd)", "service"
    match = re.match(r"^user@(\d+)\.service$", leaf)
    if match:
        return f"user manager of {_user_name(match.group(1))}", "service"
    match = re.match(r"^user-(\d+)\.slice$", leaf)
    if match:
        return f"user {_user_name(match.group(1))}", "user"
    match = re.match(r"^session-(\w+)\.scope$", leaf)
    if match:
        return f"session {match.group(1)}", "session"
    if leaf.startswith("machine-") and leaf.endswith(".scope"):
        return f"VM or container {unescape(leaf[len('machine-'):-len('.scope')])}", "machine"
    if leaf.endswith(".service"):
        return unescape(leaf[:-len(".service")]), "service"
    if leaf.endswith(".slice"):
        friendly = {"system.slice": "system services", "user.slice": "users",
                    "machine.slice": "VMs and containers", "kubepods.slice": "Kubernetes pods"}
        return friendly.get(leaf, unescape(leaf[:-len(".slice")])), "slice"
    if leaf.endswith(".scope"):
        return unescape(leaf[:-len(".scope")]), "scope"
    if leaf in ("docker", "containerd", "kubepods", "libpod_parent"):
        return {"docker": "Docker containers", "containerd": "containerd containers",
                "kubepods": "Kubernetes pods", "libpod_parent": "Podman containers"}[leaf], "slice"
    return leaf, "cgroup"


def process_cgroup(root: Path, pid: int) -> str | None:
    """The cgroup path of a process for display: the v2 path ("0::"), else systemd's v1 path.

    On hybrid hosts systemd keeps its tree in both; a v2 path of "/" with a real ``name=systemd``
    path means the v2 tree is not used for placement, so the v1 one names the service.
    """
    text = _read(str(root / f"proc/{pid}/cgroup"))
    if text is None:
        return None
    v2 = systemd = None
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif controllers == "name=systemd":
            systemd = path
    if v2 and v2 != "/":
        return v2
    return systemd or v2


class ServiceNames:
    """The service or container of each process, for the Processes tab's column.

    ``/proc/PID/cgroup`` is read once per (pid, process name) and cached, so a refresh of a few
    hundred processes reads only the new ones. ``forget_except`` drops vanished PIDs.
    """

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = Path(root)
        self._cache: dict[tuple[int, str], tuple[str, str] | None] = {}
        self.reads = 0  # how many cgroup files were read (the tests count the work)

    def lookup(self, pid: int, process_name: str = "") -> tuple[str, str] | None:
        """(human name, cgroup path), or None when the process is gone or its file unreadable."""
        key = (pid, process_name)
        if key not in self._cache:
            self.reads += 1
            path = process_cgroup(self.root, pid)
            self._cache[key] = None if path is None else (human_name(path)[0], path)
        return self._cache[key]

    def name_of_row(self, row: object) -> str | None:
        """The Service/container cell of a process-table row (a mapping or an object with pid, name)."""
        pid = row.get("pid") if isinstance(row, dict) else getattr(row, "pid", None)
        if pid is None:
            return None
        name = row.get("name", "") if isinstance(row, dict) else getattr(row, "name", "")
        found = self.lookup(int(pid), name or "")
        return None if found is None else found[0]

    def forget_except(self, pids: set[int]) -> None:
        for key in [k for k in self._cache if k[0] not in pids]:
            del self._cache[key]
