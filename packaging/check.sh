#!/usr/bin/env bash
# Build PerfDeck's packages and prove they work: validate the metadata, lint the .deb, install it,
# run it, remove it and check nothing is left; then install the wheel into a fresh venv and run it.
#
#   bash packaging/check.sh [--no-build]
#     --no-build   check the packages already in packaging/dist (from packaging/build.sh)
#
# Needs root (or password-less sudo) for dpkg -i/-r, and refuses to run if a perfdeck package is
# already installed (it would replace and then remove it). Also needs: desktop-file-utils,
# appstream, lintian, man-db, chrpath, dpkg-dev; xvfb (xvfb-run) for the X11 start (skipped with a
# note when absent). Exit status 0 only if every check passed. Prints the time of each step.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
py=${PYTHON:-$repo/.venv/bin/python}
build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    *) echo "check.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

app_id=io.github.perfdeck.PerfDeck
version=$(PYTHONPATH=app "$py" -c 'import perfdeck; print(perfdeck.__version__)')
arch=$(dpkg --print-architecture)
deb="packaging/dist/perfdeck_${version}_${arch}.deb"
wheel="packaging/dist/perfdeck-${version}-py3-none-any.whl"
work=$(mktemp -d /tmp/perfdeck-check.XXXXXX)
installed_by_us=0
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
start=$SECONDS
step() { printf '\n== %s (%ss)\n' "$1" "$((SECONDS - start))"; }
fail() { echo "check.sh: FAILED: $*" >&2; exit 1; }

cleanup() {
  if [ "$installed_by_us" -eq 1 ]; then
    "${sudo[@]}" dpkg --purge perfdeck >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The app runs with a throw-away home: no settings of the person running the check are read or
# written, and install-desktop writes into it.
app_env=(env HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_DATA_HOME="$work/home/.local/share"
  XDG_STATE_HOME="$work/home/.local/state" XDG_CACHE_HOME="$work/home/.cache")
mkdir -p "$work/home"

smoke() {  # smoke LABEL COMMAND...: the window's --smoke-test, offscreen and (if possible) on X11
  local label=$1
  shift
  QT_QPA_PLATFORM=offscreen "${app_env[@]}" timeout 120 "$@" --smoke-test >"$work/smoke.log" 2>&1 \
    || { cat "$work/smoke.log" >&2; fail "$label: offscreen smoke test"; }
  grep "smoke test passed" "$work/smoke.log"
  if command -v xvfb-run >/dev/null; then
    QT_QPA_PLATFORM=xcb "${app_env[@]}" timeout 150 xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
      "$@" --smoke-test >"$work/smoke-x11.log" 2>&1 \
      || { cat "$work/smoke-x11.log" >&2; fail "$label: X11 (xcb, Xvfb) smoke test"; }
    echo "X11: $(grep "smoke test passed" "$work/smoke-x11.log")"
  else
    echo "note: xvfb-run not installed, the X11 (xcb) start was not checked"
  fi
}

if [ "$build" -eq 1 ]; then
  step "build (packaging/build.sh)"
  bash packaging/build.sh
fi
[ -f "$deb" ] || fail "$deb does not exist (run packaging/build.sh)"
[ -f "$wheel" ] || fail "$wheel does not exist (run packaging/build.sh)"

step "metadata: desktop entry, AppStream, man page"
desktop-file-validate "resources/$app_id.desktop"
appstreamcli validate --no-net --explain "resources/$app_id.metainfo.xml"
# Pedantic too: the one note allowed is the capital letters of the reverse-DNS id (kept on purpose,
# see docs/packaging.md); anything else fails.
pedantic=$(appstreamcli validate --pedantic --no-net "resources/$app_id.metainfo.xml" 2>&1 \
  | grep -E '^[EWIP]:' | grep -v 'cid-contains-uppercase-letter' || true)
[ -z "$pedantic" ] || fail "appstreamcli validate --pedantic: $pedantic"
echo "appstream --pedantic: only cid-contains-uppercase-letter (kept on purpose)"
if command -v man >/dev/null; then
  man_warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z resources/perfdeck.1 2>&1 >/dev/null)
  [ -z "$man_warnings" ] || fail "man page warnings: $man_warnings"
  echo "man page: renders without warnings"
else
  echo "note: man (man-db) not installed, the man page was not rendered"
fi

step "bundle: no test code"
# numpy's PyInstaller hook pulls in its test modules (_multiarray_tests); perfdeck.spec excludes them.
test_code=$(find packaging/dist/perfdeck \( -name '*_tests.*so' -o -type d -name tests \
  -o -path '*/numpy/testing/*' \) -print | head -n 5)
[ -z "$test_code" ] || fail "test code in the PyInstaller bundle: $test_code"
echo "no test modules in packaging/dist/perfdeck"

step "lintian"
# lintian 2.116 (Debian 12) reports zstd-compressed members as malformed-deb-archive although
# dpkg installs them; it lints a gzip repack of the very same tree (same files, same control).
root="packaging/build/deb/perfdeck_${version}_${arch}"
lint_deb=$deb
if ar t "$deb" | grep -q '\.zst$'; then
  [ -d "$root" ] || fail "$root (the tree of $deb) is missing: rebuild with packaging/build.sh"
  lint_deb="$work/perfdeck-lint.deb"
  dpkg-deb --root-owner-group -Zgzip -z1 --build "$root" "$lint_deb" >/dev/null
fi
lint_status=0
lintian --tag-display-limit 0 --fail-on error,warning "$lint_deb" >"$work/lintian.txt" 2>&1 || lint_status=$?
grep -v "running with root" "$work/lintian.txt" || true
[ "$lint_status" -eq 0 ] || fail "lintian reported errors or warnings (see above)"
echo "lintian: no errors, no warnings (every override is explained in the overrides file)"

step "install the .deb"
if dpkg-query -W -f='${Status}' perfdeck 2>/dev/null | grep -q "installed"; then
  fail "a perfdeck package is already installed; remove it first (this check installs and removes its own)"
fi
[ ${#sudo[@]} -eq 0 ] || "${sudo[@]}" true 2>/dev/null || fail "installing needs root or password-less sudo"
installed_by_us=1
if ! "${sudo[@]}" dpkg -i "$deb"; then
  echo "dpkg -i stopped (missing dependencies?); letting apt install them" >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -f --no-install-recommends \
    || fail "the package's dependencies cannot be installed"
fi
dpkg-query -L perfdeck >"$work/files.txt"
for path in /opt/perfdeck/perfdeck /usr/bin/perfdeck "/usr/share/applications/$app_id.desktop" \
  "/usr/share/metainfo/$app_id.metainfo.xml" "/usr/share/icons/hicolor/scalable/apps/$app_id.svg" \
  "/usr/share/icons/hicolor/48x48/apps/$app_id.png" /usr/share/man/man1/perfdeck.1.gz \
  /usr/share/doc/perfdeck/copyright /usr/share/doc/perfdeck/examples/60-perfdeck.conf; do
  if [ ! -e "$path" ]; then
    # Slim container images tell dpkg not to unpack documentation (path-exclude in dpkg.cfg.d).
    case "$path" in
      /usr/share/man/*|/usr/share/doc/*)
        if grep -qsE "^path-exclude=?[[:space:]]*/usr/share/(man|doc)" /etc/dpkg/dpkg.cfg.d/*; then
          echo "note: $path not unpacked (dpkg path-exclude on this machine)"; continue
        fi ;;
    esac
    fail "$path is not installed"
  fi
done
[ ! -e /etc/sysctl.d/60-perfdeck.conf ] || fail "the sysctl drop-in must not be active after install"
unit=/usr/lib/systemd/system/perfdeck-serve.service
[ -e "$unit" ] || fail "$unit is not installed"
! ls /etc/systemd/system/*.wants/perfdeck-serve.service >/dev/null 2>&1 || fail "perfdeck-serve must ship disabled"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
  echo "perfdeck-serve.service: systemd-analyze verify clean, not enabled"
else
  echo "note: systemd-analyze not installed, perfdeck-serve.service was not verified"
fi
desktop-file-validate "/usr/share/applications/$app_id.desktop"
appstreamcli validate --no-net "/usr/share/metainfo/$app_id.metainfo.xml" >/dev/null

step "run the installed package"
got=$(perfdeck --version)
[ "$got" = "perfdeck $version" ] || fail "perfdeck --version printed '$got', expected 'perfdeck $version'"
echo "$got"
"${app_env[@]}" perfdeck doctor >"$work/doctor.txt" 2>&1 || { cat "$work/doctor.txt"; fail "perfdeck doctor"; }
head -n 3 "$work/doctor.txt"
if command -v man >/dev/null && [ -e /usr/share/man/man1/perfdeck.1.gz ]; then
  man -l /usr/share/man/man1/perfdeck.1.gz >/dev/null 2>&1 || fail "the installed man page does not render"
fi
# The frozen app finds its own resources (sys._MEIPASS): install-desktop from the bundle writes the
# SVG and the 8 PNG sizes rendered at build time, with Exec= naming the bundle's executable.
frozen_data="$work/frozen-data"
XDG_DATA_HOME="$frozen_data" "${app_env[@]:0:2}" perfdeck install-desktop >/dev/null
pngs=$(find "$frozen_data/icons/hicolor" -name "$app_id.png" | wc -l)
[ "$pngs" -eq 8 ] || fail "the frozen app's install-desktop wrote $pngs PNG icons, expected 8"
grep -qx "Exec=/opt/perfdeck/perfdeck" "$frozen_data/applications/$app_id.desktop" \
  || fail "the frozen app's desktop entry does not start /opt/perfdeck/perfdeck"
XDG_DATA_HOME="$frozen_data" "${app_env[@]:0:2}" perfdeck install-desktop --uninstall >/dev/null
[ ! -e "$frozen_data" ] || fail "install-desktop --uninstall (frozen) left $(find "$frozen_data")"
echo "frozen app: resources found (SVG + $pngs PNGs), install-desktop round trip clean"
smoke "installed .deb" perfdeck

step "remove the .deb and look for leftovers"
"${sudo[@]}" dpkg -r perfdeck
leftovers=()
while IFS= read -r path; do
  # Directories shared with other packages (/usr/share/icons/hicolor/...) stay, rightly.
  if [ -e "$path" ] && [ ! -d "$path" ] || [ -L "$path" ]; then leftovers+=("$path"); fi
done <"$work/files.txt"
for path in /opt/perfdeck /usr/share/doc/perfdeck; do [ ! -e "$path" ] || leftovers+=("$path"); done
[ ${#leftovers[@]} -eq 0 ] || fail "left behind after dpkg -r: ${leftovers[*]}"
"${sudo[@]}" dpkg --purge perfdeck >/dev/null 2>&1
installed_by_us=0
dpkg-query -W -f='${Status}' perfdeck 2>/dev/null | grep -q "installed" && fail "perfdeck is still known to dpkg"
echo "nothing left: $(wc -l <"$work/files.txt") paths checked"

step "wheel in a fresh virtual environment"
base_python=$("$py" -c 'import sys; print(sys._base_executable)')
"$base_python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$wheel" || fail "pip install $wheel"
got=$("$work/venv/bin/perfdeck" --version)
[ "$got" = "perfdeck $version" ] || fail "wheel: --version printed '$got'"
echo "$got (wheel)"
"${app_env[@]}" "$work/venv/bin/perfdeck-cli" doctor >/dev/null 2>&1 || fail "wheel: perfdeck-cli doctor"
data_home="$work/home/.local/share"
mkdir -p "$data_home"
before=$(find "$data_home" | sort)
"${app_env[@]}" "$work/venv/bin/perfdeck" install-desktop
entry="$work/home/.local/share/applications/$app_id.desktop"
desktop-file-validate "$entry"
grep -qx "Exec=$work/venv/bin/perfdeck" "$entry" || fail "install-desktop: Exec= does not name the venv's perfdeck"
"${app_env[@]}" "$work/venv/bin/perfdeck" install-desktop --uninstall
after=$(find "$data_home" | sort)
[ "$before" = "$after" ] || fail "install-desktop --uninstall left: $(comm -13 <(echo "$before") <(echo "$after"))"
echo "install-desktop --uninstall removed everything it installed"
smoke "wheel" "$work/venv/bin/perfdeck"

step "sizes quoted in README.md and docs/packaging.md"
python3 packaging/sizes.py --check || fail "a quoted package size is stale (see above)"

step "all package checks passed"
ls -l "$deb" "$wheel" packaging/dist/perfdeck-"$version".tar.gz
printf 'installed size of the .deb: %s KiB\n' "$(dpkg-deb -f "$deb" Installed-Size)"
