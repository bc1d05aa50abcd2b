#!/usr/bin/env bash
# Build PerfDeck's packages from this checkout. Everything lands in packaging/dist/:
#   perfdeck-VERSION-py3-none-any.whl, perfdeck-VERSION.tar.gz   (python -m build)
#   perfdeck/                                                     (PyInstaller one-folder bundle)
#   perfdeck_VERSION_ARCH.deb                                     (dpkg-deb)
#
#   bash packaging/build.sh [--xz] [--no-wheel] [--no-deb]
#     --xz        compress the .deb with xz for a release (about 55 s instead of 1 s, 26 % smaller);
#                 the default is zstd (about 1 s), which dpkg >= 1.21.18 (Debian 12, Ubuntu 21.10)
#                 installs and lintian reads.
#     --no-wheel  skip the wheel and sdist;  --no-deb  stop after the PyInstaller bundle.
# Needs: the project venv (.venv, with the `package` extra: build, pyinstaller), dpkg-dev tools
# (dpkg-deb), binutils (readelf, strip). Version: perfdeck.__version__ (app/perfdeck/__init__.py).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
py=${PYTHON:-$repo/.venv/bin/python}
# The build needs the venv with the `package` extra (build, PyInstaller). Without it, set it up
# with the project's own setup step rather than failing with "No such file or directory".
if ! { [ -x "$py" ] && "$py" -c 'import build, PyInstaller' 2>/dev/null; }; then
  if [ -n "${PYTHON:-}" ]; then
    echo "build.sh: $py cannot import build and PyInstaller; install them with" \
      "'$py -m pip install -e \".[package]\"', or unset PYTHON to use .venv" >&2
    exit 2
  fi
  echo "build.sh: .venv is missing or lacks the package extra; setting it up with" \
    "'bash tools/perfdeck.sh setup test,package'" >&2
  bash tools/perfdeck.sh setup test,package
fi
compress=zstd
wheel=1
deb=1
for arg in "$@"; do
  case "$arg" in
    --xz) compress=xz ;;
    --no-wheel) wheel=0 ;;
    --no-deb) deb=0 ;;
    *) echo "build.sh: unknown option $arg (see the header of packaging/build.sh)" >&2; exit 2 ;;
  esac
done

app_id=io.github.perfdeck.PerfDeck
build=packaging/build
dist=packaging/dist
version=$(PYTHONPATH=app "$py" -c 'import perfdeck; print(perfdeck.__version__)')
arch=$(dpkg --print-architecture)
maintainer=${PERFDECK_MAINTAINER:-The PerfDeck developers <perfdeck@users.noreply.github.com>}
step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS" >&2; }

mkdir -p "$dist"
if [ "$wheel" -eq 1 ]; then
  step "wheel and sdist"
  rm -f "$dist"/perfdeck-*.whl "$dist"/perfdeck-*.tar.gz
  mkdir -p "$build"
  "$py" -m build --outdir "$dist" . >"$build/wheel.log" 2>&1 || { cat "$build/wheel.log" >&2; exit 1; }
  ls -l "$dist"/perfdeck-"$version"* >&2
fi

step "icons (PNG sizes rendered from the SVG)"
rm -rf "$build/icons"
"$py" packaging/render_icons.py "$build/icons" >/dev/null

step "PyInstaller one-folder bundle"
rm -rf "$dist/perfdeck"
PERFDECK_ICON_DIR="$repo/$build/icons" "$py" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$dist" --workpath "$build/pyinstaller" packaging/perfdeck.spec 2>&1 \
  | grep -v "pyqtgraph.opengl\|Library ole32\|Library shell32\|libgtk-3\|libgdk-3" >&2 || true
bundle="$dist/perfdeck"
[ -x "$bundle/perfdeck" ] || { echo "build.sh: PyInstaller produced no $bundle/perfdeck" >&2; exit 1; }
# Debug info is not needed at run time: libpython (built from source by pyenv) alone carries
# ~17 MiB of it. Only files with debug info are stripped: the wheels' libraries are left
# byte-identical, because stripping the ones auditwheel patched (numpy's OpenBLAS) corrupts them
# ("ELF load command address/offset not page-aligned" at import; measured).
# A run path that names a build-machine directory (pyenv's lib/) goes too: the bootloader loads
# libpython by its full path; $ORIGIN-relative run paths (the wheels') are kept.
command -v chrpath >/dev/null || { echo "build.sh: chrpath is needed (apt install chrpath)" >&2; exit 1; }
while IFS= read -r -d '' file; do
  head -c4 "$file" | grep -q ELF || continue
  if readelf -SW "$file" 2>/dev/null | grep -q '\] \.debug_info'; then
    strip --strip-unneeded "$file"
  fi
  if readelf -dW "$file" 2>/dev/null | grep -E '\((RPATH|RUNPATH)\)' | grep -q '\[/'; then
    chrpath -d "$file" >/dev/null
  fi
done < <(find "$bundle" -type f -print0)
du -sh "$bundle" >&2

[ "$deb" -eq 1 ] || exit 0

step "Debian package"
root="$build/deb/perfdeck_${version}_${arch}"
rm -rf "$build/deb"
mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" "$root/usr/share/applications" \
  "$root/usr/share/metainfo" "$root/usr/share/man/man1" "$root/usr/share/doc/perfdeck/examples" \
  "$root/usr/share/icons/hicolor/scalable/apps" "$root/usr/share/lintian/overrides"
cp -a "$bundle" "$root/opt/perfdeck"
# Shared libraries that are byte-identical copies of this machine's Debian packages come out of the
# package's copy: it depends on those packages instead (security updates, no embedded zlib/libpng).
python3 packaging/debdeps.py "$root/opt/perfdeck" --unbundle 2>"$build/unbundled.log"
echo "unbundled $(wc -l <"$build/unbundled.log") Debian libraries (now Depends)" >&2
# Across top-level directories Debian policy wants an absolute link; the bootloader finds its
# _internal folder through /proc/self/exe, so the link works.
ln -s /opt/perfdeck/perfdeck "$root/usr/bin/perfdeck"
install -m 0644 "resources/$app_id.desktop" "$root/usr/share/applications/"
install -m 0644 "resources/$app_id.metainfo.xml" "$root/usr/share/metainfo/"
install -m 0644 "resources/$app_id.svg" "$root/usr/share/icons/hicolor/scalable/apps/"
cp -r "$build/icons/." "$root/usr/share/icons/hicolor/"
gzip -9n <resources/perfdeck.1 >"$root/usr/share/man/man1/perfdeck.1.gz"
install -m 0644 packaging/debian/copyright "$root/usr/share/doc/perfdeck/copyright"
install -m 0644 packaging/debian/README.Debian "$root/usr/share/doc/perfdeck/README.Debian"
install -m 0644 packaging/examples/60-perfdeck.conf "$root/usr/share/doc/perfdeck/examples/"
# perfdeck serve: the systemd unit (shipped disabled: no maintainer script enables it) and the dashboard.
install -D -m 0644 packaging/systemd/perfdeck-serve.service "$root/usr/lib/systemd/system/perfdeck-serve.service"
install -m 0644 resources/grafana/perfdeck.json "$root/usr/share/doc/perfdeck/examples/grafana-perfdeck.json"
release_date=$(sed -n 's/.*<release version="[^"]*" date="\([0-9-]*\)".*/\1/p' \
  "resources/$app_id.metainfo.xml" | head -n1)
sed -e "s/@VERSION@/$version/g" -e "s/@MAINTAINER@/$maintainer/g" \
  -e "s/@DATE@/$(LC_ALL=C date -u -d "$release_date" -R)/g" packaging/debian/changelog.in \
  | gzip -9n >"$root/usr/share/doc/perfdeck/changelog.gz"
{
  echo "Components bundled in /opt/perfdeck by PerfDeck $version (built $(date -u +%F))."
  echo
  echo "Python packages (from PyPI) and the interpreter:"
  "$py" - <<'PY'
import importlib.metadata as metadata
import platform
print(f"  CPython {platform.python_version()} (PSF-2.0)")
for dist in ("PySide6-Essentials", "shiboken6", "pyqtgraph", "numpy", "psutil", "platformdirs", "jeepney"):
    try:
        meta = metadata.metadata(dist)
        licence = meta.get("License-Expression") or meta.get("License") or "see the project"
        print(f"  {dist} {metadata.version(dist)} ({licence.splitlines()[0][:60]})")
    except metadata.PackageNotFoundError:
        pass
PY
  echo
  echo "Not bundled: the system libraries the bundle links against come from the Debian packages"
  echo "named in the package's Depends (the build machine's copies were removed from this package)."
  echo "Everything else in /opt/perfdeck comes from the wheels above (Qt, ICU, OpenBLAS, gfortran)."
} >"$root/usr/share/doc/perfdeck/bundled-components.txt"
install -m 0644 packaging/debian/perfdeck.lintian-overrides "$root/usr/share/lintian/overrides/perfdeck"

# Modes lintian and policy expect: directories 0755, files 0644, executables 0755 (the
# bootloader only; shared objects need no execute bit).
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -exec chmod 0644 {} +
chmod 0755 "$root/opt/perfdeck/perfdeck"

depends=$(python3 packaging/debdeps.py "$root/opt/perfdeck")
# Not visible as DT_NEEDED: fontconfig (bundled) reads its configuration from fontconfig-config,
# and Qt needs at least one font.
depends="$depends, fontconfig-config, fonts-dejavu-core | fonts-freefont-ttf | fonts-liberation2"
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@MAINTAINER@/$maintainer/" \
  -e "s/@INSTALLED_SIZE@/$installed_size/" -e "s/@DEPENDS@/$depends/" \
  packaging/debian/control.in >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
  | xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

deb_file="$dist/perfdeck_${version}_${arch}.deb"
rm -f "$dist"/perfdeck_*.deb
dpkg-deb --root-owner-group -Z"$compress" --build "$root" "$deb_file" >&2
echo "Depends: $depends" >&2
printf 'package %s: %s KiB; installed: %s KiB (%s)\n' "$deb_file" "$(du -k "$deb_file" | cut -f1)" \
  "$installed_size" "$compress" >&2
step "done"
