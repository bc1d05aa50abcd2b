#!/usr/bin/env bash
# One-step setup for a fresh Debian/Ubuntu machine, then run PerfDeck or its test suite.
#   bash tools/perfdeck.sh run [perfdeck args…]   install what is missing, start the window
#   bash tools/perfdeck.sh test [pytest args…]    install what is missing, run every test
#   bash tools/perfdeck.sh setup [EXTRAS]         install what is missing (default extras: test,package)
# Installs Debian packages with apt (through sudo unless already root) and a venv in .venv.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
mode=${1:-run}
shift || true

# Qt's xcb platform plugin and fonts; python3-venv for the venv.
run_packages=(python3 python3-venv python3-pip libglib2.0-0 libgl1 libegl1 libfontconfig1 libxkbcommon0
  libdbus-1-3 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
  libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xinerama0 libxcb-xkb1 fonts-dejavu-core)
# The tests also drive a real X server, a tray host, a notification daemon, perf and the packaging linters.
test_packages=(xvfb xauth x11-utils trayer dunst dbus dbus-x11 libnotify-bin imagemagick xdotool
  linux-perf desktop-file-utils appstream lintian dpkg-dev fakeroot chrpath man-db
  weston)
# perfdeck serve's tests scrape it with a real Prometheus (and lint with promtool); openssl makes test certificates.
test_packages+=(prometheus openssl)

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "Installing system packages: ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

make_venv() {  # make_venv EXTRA[,EXTRA…]: one stamp per extra, so `test,package` also satisfies `test`
  local extras=$1 extra stale=0
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  for extra in ${extras//,/ }; do
    if [ ! -f ".venv/.installed-$extra" ] || [ pyproject.toml -nt ".venv/.installed-$extra" ]; then
      stale=1
    fi
  done
  if [ "$stale" -eq 1 ]; then
    .venv/bin/python -m pip install -q --upgrade pip >&2
    .venv/bin/python -m pip install -q -e ".[$extras]" >&2
    for extra in ${extras//,/ }; do
      touch ".venv/.installed-$extra"
    done
  fi
}

case "$mode" in
  run)
    apt_install "${run_packages[@]}"
    make_venv test
    exec .venv/bin/perfdeck "$@"
    ;;
  setup)
    apt_install "${run_packages[@]}" "${test_packages[@]}"
    make_venv "${1:-test,package}"
    ;;
  test)
    apt_install "${run_packages[@]}" "${test_packages[@]}"
    make_venv test,package
    set +e
    .venv/bin/python -m pytest "$@"
    status=$?
    set -e
    if [ "$status" -eq 5 ]; then
      echo "pytest collected no tests: that is a failure, not a pass" >&2
      exit 1
    fi
    exit "$status"
    ;;
  *)
    echo "usage: bash tools/perfdeck.sh run|test|setup [args…]" >&2
    exit 2
    ;;
esac
