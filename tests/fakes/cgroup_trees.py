"""Fake cgroup filesystems with the kernel's file formats (Documentation/admin-guide/cgroup-v2.rst).

``make_unified`` builds a systemd host on pure cgroup v2 with services, a user session, Docker,
Podman, containerd and a Kubernetes pod; ``make_hybrid`` one like this development VM (v1
controllers, v2 at /sys/fs/cgroup/unified with no controllers). ``Cgroup.advance`` moves the
cumulative counters so that rates can be checked against known numbers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

# Container ids are 64 hex digits (sha256), as every runtime names them.
DOCKER_ID = hashlib.sha256(b"docker container").hexdigest()
PODMAN_ID = hashlib.sha256(b"podman container").hexdigest()
CONTAINERD_ID = hashlib.sha256(b"containerd container").hexdigest()
POD_UID = "5d3b2a1c-7e6f-4a8b-9c0d-1e2f3a4b5c6d"

UNIFIED_MOUNTS = """sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0
"""
HYBRID_MOUNTS = """tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/blkio cgroup rw,relatime,blkio 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""
LEGACY_MOUNTS = """cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
"""


@dataclass
class Cgroup:
    """One cgroup directory and its counters (µs, bytes); ``controllers`` decides which files exist."""

    dir: Path
    controllers: set[str]
    usage_usec: int = 0
    throttled_usec: int = 0
    nr_throttled: int = 0
    memory_current: int = 0
    memory_max: str = "max"
    io: dict[str, tuple[int, int]] = field(default_factory=dict)  # "8:0" -> (rbytes, wbytes)
    pressure: dict[str, tuple[int, int]] = field(default_factory=dict)  # resource -> (some, full) µs
    pids: tuple[int, ...] = ()
    is_root: bool = False

    def write(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        cpu = [f"usage_usec {self.usage_usec}", f"user_usec {self.usage_usec * 3 // 4}",
               f"system_usec {self.usage_usec // 4}", "core_sched.force_idle_usec 0"]
        if "cpu" in self.controllers and not self.is_root:
            cpu += ["nr_periods 120", f"nr_throttled {self.nr_throttled}",
                    f"throttled_usec {self.throttled_usec}", "nr_bursts 0", "burst_usec 0"]
        (self.dir / "cpu.stat").write_text("\n".join(cpu) + "\n")
        if "memory" in self.controllers and not self.is_root:
            (self.dir / "memory.current").write_text(f"{self.memory_current}\n")
            (self.dir / "memory.max").write_text(f"{self.memory_max}\n")
        if "io" in self.controllers:
            lines = [f"{dev} rbytes={r} wbytes={w} rios={r // 4096} wios={w // 4096} dbytes=0 dios=0"
                     for dev, (r, w) in self.io.items()]
            (self.dir / "io.stat").write_text("".join(line + "\n" for line in lines))
        for resource in ("cpu", "memory", "io"):
            some, full = self.pressure.get(resource, (0, 0))
            (self.dir / f"{resource}.pressure").write_text(
                f"some avg10=0.00 avg60=0.00 avg300=0.00 total={some}\n"
                f"full avg10=0.00 avg60=0.00 avg300=0.00 total={full}\n")
        (self.dir / "cgroup.procs").write_text("".join(f"{pid}\n" for pid in self.pids))

    def advance(self, *, usage_usec: int = 0, throttled_usec: int = 0, read: int = 0, write: int = 0,
                memory_some: int = 0, memory_full: int = 0) -> None:
        """Add to the cumulative counters (IO on the first device) and rewrite the files."""
        self.usage_usec += usage_usec
        self.throttled_usec += throttled_usec
        if throttled_usec:
            self.nr_throttled += 1
        if self.io:
            dev = next(iter(self.io))
            r, w = self.io[dev]
            self.io[dev] = (r + read, w + write)
        some, full = self.pressure.get("memory", (0, 0))
        self.pressure["memory"] = (some + memory_some, full + memory_full)
        self.write()


def _mounts(root: Path, text: str) -> None:
    (root / "proc/self").mkdir(parents=True, exist_ok=True)
    (root / "proc/self/mounts").write_text(text)


def make_unified(root: Path) -> dict[str, Cgroup]:
    """A pure cgroup v2 systemd host. Returns the cgroups by path relative to the mount."""
    _mounts(root, UNIFIED_MOUNTS)
    mount = root / "sys/fs/cgroup"
    all_controllers = {"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"}
    mount.mkdir(parents=True)
    (mount / "cgroup.controllers").write_text(" ".join(sorted(all_controllers)) + "\n")
    (mount / "cgroup.subtree_control").write_text("cpu io memory pids\n")
    enabled = {"cpu", "io", "memory", "pids"}
    pod = f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_UID.replace('-', '_')}.slice"
    paths = {
        "/": dict(is_root=True, io={"8:0": (0, 0), "259:0": (0, 0)}),
        "/init.scope": dict(pids=(1,)),
        "/system.slice": {},
        "/system.slice/nginx.service": dict(pids=(812, 813, 814), memory_max="536870912",
                                            io={"8:0": (4096, 0), "259:0": (1_000_000, 2_000_000)}),
        "/system.slice/ssh.service": dict(pids=(640,)),
        "/system.slice/systemd-journald.service": dict(pids=(301,)),
        f"/system.slice/docker-{DOCKER_ID}.scope": dict(pids=(2001, 2002)),
        "/user.slice": {},
        "/user.slice/user-1000.slice": {},
        "/user.slice/user-1000.slice/user@1000.service": dict(pids=(1500,)),
        "/user.slice/user-1000.slice/user@1000.service/app.slice": {},
        "/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice": {},
        "/user.slice/user-1000.slice/session-3.scope": dict(pids=(1490, 1491)),
        "/machine.slice": {},
        f"/machine.slice/libpod-{PODMAN_ID}.scope": dict(pids=(3001,)),
        f"/machine.slice/libpod-conmon-{PODMAN_ID}.scope": dict(pids=(2999,)),
        "/machine.slice/machine-qemu\\x2d1\\x2dwin11.scope": dict(pids=(4001,)),
        "/kubepods.slice": {},
        "/kubepods.slice/kubepods-burstable.slice": {},
        pod: {},
        f"{pod}/cri-containerd-{CONTAINERD_ID}.scope": dict(pids=(5001,)),
    }
    cgroups = {}
    for path, options in paths.items():
        directory = mount if path == "/" else mount / path.lstrip("/")
        cgroup = Cgroup(directory, set(enabled), **options)
        cgroup.write()
        if path != "/":
            (directory / "cgroup.subtree_control").write_text("cpu io memory pids\n")
        cgroups[path] = cgroup
    return cgroups


def make_hybrid(root: Path) -> dict[str, Cgroup]:
    """Like this VM: v1 controllers, and v2 at /sys/fs/cgroup/unified with no controllers."""
    _mounts(root, HYBRID_MOUNTS)
    mount = root / "sys/fs/cgroup/unified"
    mount.mkdir(parents=True)
    (mount / "cgroup.controllers").write_text("hugetlb\n")  # what v1 did not claim
    (mount / "cgroup.subtree_control").write_text("\n")
    cgroups = {"/": Cgroup(mount, set(), is_root=True, pids=(1,)),
               "/system.slice": Cgroup(mount / "system.slice", set()),
               "/system.slice/cron.service": Cgroup(mount / "system.slice/cron.service", set(), pids=(700,))}
    for cgroup in cgroups.values():
        cgroup.write()
    return cgroups


def make_legacy(root: Path) -> None:
    _mounts(root, LEGACY_MOUNTS)


def make_many(root: Path, count: int) -> dict[str, Cgroup]:
    """A unified host with ``count`` services (for the cost benchmark)."""
    cgroups = make_unified(root)
    mount = root / "sys/fs/cgroup"
    enabled = {"cpu", "io", "memory", "pids"}
    for index in range(count - len(cgroups)):
        path = f"/system.slice/bench-{index:03d}.service"
        cgroup = Cgroup(mount / path.lstrip("/"), set(enabled), pids=(10_000 + index,),
                        io={"8:0": (0, 0), "259:0": (0, 0)}, usage_usec=index * 1000)
        cgroup.write()
        cgroups[path] = cgroup
    return cgroups
