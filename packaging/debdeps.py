"""Compute the Debian ``Depends`` of a frozen bundle from what its ELF files really link against.

    python packaging/debdeps.py BUNDLE_DIR [--explain]
    python packaging/debdeps.py BUNDLE_DIR --bundled
    python packaging/debdeps.py BUNDLE_DIR --unbundle

The first form prints one line, e.g. ``libc6 (>= 2.34), libegl1, libgl1, libxcb1``. For every ELF file in the
bundle it reads the DT_NEEDED entries (``readelf -dW``); a library the bundle ships itself is
skipped; every other one is found on this (the build) machine through ``ldconfig -p`` and mapped to
its package with ``dpkg -S``. libc6 gets a lower bound: the newest ``GLIBC_x.y`` symbol version any
file needs (``readelf -VW``). A library that is not on the build machine is an error: the package
would install and then fail to start.

``--bundled`` lists the opposite: each shared library the bundle ships that was copied from this
machine, with the Debian package and version it came from (for the package's copyright notes).

``--unbundle`` deletes those copies from the bundle (the .deb's copy of it): the package then
depends on the Debian packages instead, which get security updates, and ships no embedded copies
of zlib, libpng, FreeType and the like. A dependency's lower bound comes from the package's
``shlibs`` file, as dpkg-shlibdeps would use it.

Why not dpkg-shlibdeps: it cannot see that PyInstaller's bootloader puts ``_internal`` on the library
path, so it adds a dependency for every library the bundle already carries (about 50 packages
instead of a handful) and takes 25 s.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

_NEEDED = re.compile(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")
_GLIBC_VERSION = re.compile(r"Name: GLIBC_(\d+(?:\.\d+)+)")


def elf_files(bundle: Path) -> list[Path]:
    """Every regular file in ``bundle`` that starts with the ELF magic."""
    found = []
    for path in sorted(bundle.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def _readelf(option: str, files: list[Path]) -> str:
    # readelf prints "File: NAME" headers when given several files; one call for all of them.
    result = subprocess.run(["readelf", option, "-W", *map(str, files)], capture_output=True,
                            text=True, check=False)
    return result.stdout


def needed_sonames(files: list[Path]) -> set[str]:
    return set(_NEEDED.findall(_readelf("-d", files)))


def min_glibc(files: list[Path]) -> tuple[int, ...] | None:
    versions = [tuple(int(part) for part in v.split(".")) for v in _GLIBC_VERSION.findall(
        _readelf("-V", files))]
    return max(versions) if versions else None


def system_library_paths() -> dict[str, str]:
    """soname -> path for this machine's architecture, from the dynamic linker's cache."""
    output = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    paths: dict[str, str] = {}
    for line in output.splitlines()[1:]:
        match = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
        if match and ("x86-64" in match.group(2) or "64bit" in match.group(2)
                      or not match.group(2).startswith("libc6,")):
            paths.setdefault(match.group(1), match.group(3))
    return paths


def package_of(path: str) -> str:
    """The Debian package that owns ``path`` (following the /lib -> /usr/lib merge)."""
    candidates = [path]
    resolved = str(Path(path).resolve())
    candidates.append(resolved)
    for candidate in list(candidates):
        if candidate.startswith("/lib/"):
            candidates.append("/usr" + candidate)
        elif candidate.startswith("/usr/lib/"):
            candidates.append(candidate[4:])
    for candidate in dict.fromkeys(candidates):
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            package = result.stdout.split(":", 1)[0].strip()
            return package.split(",")[0].strip()
    raise LookupError(f"no installed package owns {path}")


def shlibs_dependency(soname: str, package: str) -> str:
    """The dependency the package's shlibs file declares for ``soname`` (e.g. ``libxcb-cursor0
    (>= 0.0.99)``), or just the package name when it has no such entry."""
    match = re.fullmatch(r"(.+)\.so\.(.+)", soname) or re.fullmatch(r"(.+)-([0-9.]+)\.so", soname)
    if match:
        info = Path("/var/lib/dpkg/info")
        for shlibs in (info / f"{package}.shlibs", *info.glob(f"{package}:*.shlibs")):
            try:
                lines = shlibs.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                continue
            for line in lines:
                fields = line.split(None, 2)
                if len(fields) == 3 and fields[:2] == [match.group(1), match.group(2)]:
                    return fields[2].split(",")[0].strip()
    return package


def _merge(dependencies: list[str]) -> list[str]:
    """One entry per package, keeping the highest ``(>= version)`` (compared by dpkg)."""
    best: dict[str, str] = {}
    for dependency in dependencies:
        package = dependency.split()[0]
        current = best.get(package)
        if current is None or "(" not in current:
            best[package] = dependency
        elif "(" in dependency:
            new_version = dependency.split(">=", 1)[1].rstrip(") ").strip()
            old_version = current.split(">=", 1)[1].rstrip(") ").strip()
            if subprocess.run(["dpkg", "--compare-versions", new_version, "gt", old_version],
                              check=False).returncode == 0:
                best[package] = dependency
    return [best[name] for name in sorted(best)]


def compute(bundle: Path) -> tuple[list[str], dict[str, str]]:
    """(Depends entries, sorted; soname -> package for the explanation)."""
    files = elf_files(bundle)
    shipped = {path.name for path in bundle.rglob("*") if ".so" in path.name}
    external = sorted(needed_sonames(files) - shipped)
    system = system_library_paths()
    owners: dict[str, str] = {}
    missing = []
    for soname in external:
        if soname.startswith("ld-linux"):
            owners[soname] = "libc6"
            continue
        path = system.get(soname)
        if path is None:
            missing.append(soname)
            continue
        owners[soname] = package_of(path)
    if missing:
        raise LookupError("libraries the bundle links against but neither ships nor finds on this "
                          f"machine: {', '.join(missing)}")
    glibc = min_glibc(files)
    dependencies = [f"libc6 (>= {'.'.join(map(str, glibc))})" if package == "libc6" and glibc
                    else shlibs_dependency(soname, package) for soname, package in owners.items()]
    return _merge(dependencies), owners


def bundled_from_system(bundle: Path) -> list[tuple[str, str, str]]:
    """(bundle-relative path, package, version) for each shipped library copied from this machine."""
    system = system_library_paths()
    rows = []
    for path in sorted(bundle.rglob("*.so*")):
        if not path.is_file() or path.name not in system or "/plugins/" in str(path):
            continue
        # Same soname is not enough (the bundle's libpython comes from the interpreter that built it).
        if path.read_bytes() != Path(system[path.name]).read_bytes():
            continue
        try:
            package = package_of(system[path.name])
        except LookupError:
            continue  # not from a Debian package (e.g. a wheel's private copy)
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                                 text=True, check=False).stdout.strip()
        rows.append((str(path.relative_to(bundle)), package, version))
    return rows


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print("usage: python packaging/debdeps.py BUNDLE_DIR [--explain | --bundled]", file=sys.stderr)
        return 2
    if "--unbundle" in argv:
        for relative, package, _version in bundled_from_system(Path(argv[0])):
            (Path(argv[0]) / relative).unlink()
            print(f"unbundled {relative} (use {package})", file=sys.stderr)
        return 0
    if "--bundled" in argv:
        for relative, package, version in bundled_from_system(Path(argv[0])):
            print(f"{relative:60} {package} {version}")
        return 0
    try:
        depends, owners = compute(Path(argv[0]))
    except LookupError as exc:
        print(f"debdeps: {exc}", file=sys.stderr)
        return 1
    if "--explain" in argv:
        for soname, package in sorted(owners.items(), key=lambda item: (item[1], item[0])):
            print(f"  {package:24} {soname}", file=sys.stderr)
    print(", ".join(depends))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
