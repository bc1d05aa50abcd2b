"""Check (or rewrite) the package sizes the README and docs/packaging.md quote, against the built files.

Measured numbers copied by hand go stale (the README said 254 KiB for a 275 KiB wheel), so
``packaging/check.sh`` runs ``python3 packaging/sizes.py --check`` after building: it fails when a
quoted size is more than ``TOLERANCE`` away from the file in ``packaging/dist``, and says the one
command that updates them (``--write``). Only the sizes of what was built are checked: the xz row
only after ``build.sh --xz``, the zstd row only after a zstd build.

    python3 packaging/sizes.py --check [--dist DIR]
    python3 packaging/sizes.py --write [--dist DIR]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 0.03  # 3 %: room for rounding, not for a stale number (254 KiB quoted for 275 KiB is 8 %)
KIB = 1024
MIB = 1024 * 1024


@dataclass(frozen=True)
class Quote:
    """One size quoted in a document: the regex finds it (group 1 is the number)."""

    document: str
    label: str
    pattern: str
    format: Callable[[float], str]  # the number as the document writes it, from the measured value
    unit: int  # bytes per unit of the quoted number


def _one_decimal(value: float) -> str:
    return f"{value:.1f}"


def _whole(value: float) -> str:
    return f"{value:.0f}"


QUOTES: dict[str, list[Quote]] = {
    "wheel": [
        Quote("README.md", "wheel", r"^\| wheel \| ([0-9.]+) KiB", _whole, KIB),
        Quote("docs/packaging.md", "wheel", r"^\| wheel · sdist \| ([0-9.]+) KiB", _whole, KIB),
    ],
    "sdist": [
        Quote("docs/packaging.md", "sdist", r"^\| wheel · sdist \| [0-9.]+ KiB · ([0-9.]+) KiB", _whole, KIB),
    ],
    "deb-zstd": [
        Quote("README.md", ".deb (zstd)", r"^\| `\.deb` \(zstd, default\) \| ([0-9.]+) MiB", _one_decimal,
              MIB),
    ],
    "deb-xz": [
        Quote("README.md", ".deb (xz)", r"^\| `\.deb` \(xz, `build\.sh --xz`\) \| ([0-9.]+) MiB",
              _one_decimal, MIB),
    ],
    "installed": [
        Quote("README.md", "installed size", r"^\| installed size \| ([0-9.]+) MiB", _whole, MIB),
    ],
}


def measure(dist: Path) -> dict[str, int]:
    """Sizes in bytes of what ``packaging/build.sh`` left in ``dist`` (only what exists)."""
    sizes: dict[str, int] = {}
    wheels = sorted(dist.glob("perfdeck-*-py3-none-any.whl"))
    if wheels:
        sizes["wheel"] = wheels[-1].stat().st_size
    sdists = sorted(dist.glob("perfdeck-*.tar.gz"))
    if sdists:
        sizes["sdist"] = sdists[-1].stat().st_size
    debs = sorted(dist.glob("perfdeck_*.deb"))
    if debs:
        deb = debs[-1]
        members = subprocess.run(["ar", "t", str(deb)], capture_output=True, text=True, check=True).stdout
        kind = "deb-xz" if "data.tar.xz" in members else "deb-zstd" if "data.tar.zst" in members else ""
        if kind:
            sizes[kind] = deb.stat().st_size
        installed = subprocess.run(["dpkg-deb", "-f", str(deb), "Installed-Size"], capture_output=True,
                                   text=True, check=True).stdout.strip()
        sizes["installed"] = int(installed) * KIB
    return sizes


def compare(sizes: dict[str, int], write: bool) -> list[str]:
    """Problems (check) or changes (write), one sentence each."""
    messages: list[str] = []
    texts: dict[str, str] = {}
    for key, size in sizes.items():
        for quote in QUOTES.get(key, []):
            path = REPO / quote.document
            text = texts.setdefault(quote.document, path.read_text(encoding="utf-8"))
            match = re.search(quote.pattern, text, re.MULTILINE)
            if match is None:
                messages.append(f"{quote.document}: the {quote.label} size is no longer quoted where "
                                "packaging/sizes.py looks for it (update its QUOTES)")
                continue
            quoted = float(match.group(1))
            measured = size / quote.unit
            if abs(quoted - measured) <= TOLERANCE * measured:
                continue
            new = quote.format(measured)
            if write:
                texts[quote.document] = text[:match.start(1)] + new + text[match.end(1):]
                messages.append(f"{quote.document}: {quote.label} {match.group(1)} -> {new}")
            else:
                messages.append(f"{quote.document} quotes the {quote.label} as {match.group(1)}, but the "
                                f"built file is {new} ({size:,} bytes)")
    if write:
        for document, text in texts.items():
            (REPO / document).write_text(text, encoding="utf-8")
    return messages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="fail if a quoted size is stale")
    mode.add_argument("--write", action="store_true", help="rewrite stale quoted sizes")
    parser.add_argument("--dist", type=Path, default=REPO / "packaging" / "dist")
    args = parser.parse_args(argv)
    sizes = measure(args.dist)
    if not sizes:
        print(f"sizes.py: nothing built in {args.dist} (run packaging/build.sh)", file=sys.stderr)
        return 2
    messages = compare(sizes, write=args.write)
    for message in messages:
        print(f"sizes.py: {message}", file=sys.stderr if args.check else sys.stdout)
    if args.check and messages:
        print("sizes.py: update them with: python3 packaging/sizes.py --write", file=sys.stderr)
        return 1
    if args.check:
        print(f"quoted sizes match the built files within {TOLERANCE:.0%}: {', '.join(sorted(sizes))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
