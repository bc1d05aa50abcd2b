#!/usr/bin/env bash
# Render every tab and dialog of the real PerfDeck window, under a light CPU, disk and network
# load, at 1000x700 and 1920x1080, in light and dark, into a folder (default: shots/).
#   bash tools/screenshots.sh [OUT_DIR] [WARMUP_SECONDS]
# Needs xvfb (Xvfb). Uses DISPLAY :82 unless SCREENSHOT_DISPLAY says otherwise. Look at every picture.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$here/shots}
warmup=${2:-60}
display=${SCREENSHOT_DISPLAY:-:82}
python=${PYTHON:-$here/.venv/bin/python}
[ -x "$python" ] || python=python3
export PYTHONPATH="$here/app${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$out"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$scratch"
}
scratch=$(mktemp "${TMPDIR:-/tmp}/perfdeck-shots-load.XXXXXX")
trap cleanup EXIT

Xvfb "$display" -screen 0 1920x1200x24 -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do xdpyinfo -display "$display" >/dev/null 2>&1 && break; sleep 0.1; done
export DISPLAY=$display QT_QPA_PLATFORM=xcb

# The load: one niced busy loop (CPU), a file rewritten and synced (disk), bytes over loopback (network).
nice -n 19 "$python" -c 'while True: pass' &
pids+=($!)
(while true; do dd if=/dev/zero of="$scratch" bs=1M count=64 conv=fdatasync status=none; sleep 2; done) &
pids+=($!)
"$python" - <<'EOF' &
import socket, threading, time
server = socket.create_server(("127.0.0.1", 0))
port = server.getsockname()[1]
def sink():
    conn, _ = server.accept()
    while conn.recv(1 << 16):
        pass
threading.Thread(target=sink, daemon=True).start()
client = socket.create_connection(("127.0.0.1", port))
chunk = b"x" * (1 << 16)
while True:  # about 5 MB/s with pauses, so the plot has shape
    for _ in range(80):
        client.sendall(chunk)
        time.sleep(0.01)
    time.sleep(3)
EOF
pids+=($!)

for theme in light dark; do
  "$python" -m perfdeck.gui.screenshots --out "$out" --theme "$theme" --warmup "$warmup" \
    --sizes 1000x700,1920x1080
done
echo "screenshots in $out:" && ls "$out" | wc -l
