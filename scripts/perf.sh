#!/usr/bin/env bash
# Measures the desktop app's two timing claims under a virtual X display (Xvfb, Mesa's
# software OpenGL, as on a machine without a GPU):
#   1. start-up: from launching the binary to an interactive window (the first frame has
#      been presented and the event loop takes input again), RUNS times, with a fresh
#      config directory (the onboarding screen); prints each run and the median;
#   2. UI frame times during a demo video call (synthetic camera through human blackout),
#      CALL_SECONDS long: median, p99, max and frames over 50 ms on the UI thread.
#
#   bash scripts/perf.sh                       # release build
#   PROFILE=dev bash scripts/perf.sh           # debug profile (what tests build)
#   PHANTOMCALL_BIN=path/to/phantomcall RUNS=10 bash scripts/perf.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_TEST_TOOLS=1 bash scripts/setup.sh

RUNS="${RUNS:-5}"
CALL_SECONDS="${CALL_SECONDS:-20}"
if [ -z "${PHANTOMCALL_BIN:-}" ]; then
  if [ "${PROFILE:-release}" = dev ]; then
    cargo build -p phantomcall --quiet
    PHANTOMCALL_BIN="${CARGO_TARGET_DIR:-target}/debug/phantomcall"
  else
    cargo build -p phantomcall --release --quiet
    PHANTOMCALL_BIN="${CARGO_TARGET_DIR:-target}/release/phantomcall"
  fi
fi

DISPLAY_NUM="${PERF_DISPLAY:-:96}"
Xvfb "$DISPLAY_NUM" -screen 0 1000x700x24 -nolisten tcp >/dev/null 2>&1 &
XVFB_PID=$!
trap 'kill "$XVFB_PID" 2>/dev/null || true' EXIT
export DISPLAY="$DISPLAY_NUM"
export LIBGL_ALWAYS_SOFTWARE=1
for _ in $(seq 50); do xwininfo -root >/dev/null 2>&1 && break; sleep 0.1; done

# One start: milliseconds from exec to the app's "perf: interactive" line.
startup_ms() {
  local fresh start line
  fresh=$(mktemp -d)
  start=$(date +%s%N)
  line=$(PHANTOMCALL_PERF=startup PHANTOMCALL_CONFIG_DIR="$fresh" timeout 30 \
    "$PHANTOMCALL_BIN" 2>&1 | grep -m1 '^perf: interactive' || true)
  local end
  end=$(date +%s%N)
  rm -rf "$fresh"
  [ -n "$line" ] || { echo "perf: the app did not report an interactive window" >&2; return 1; }
  # The app closes right after the line; the pipe ends then, a few ms after the line.
  echo $(( (end - start) / 1000000 ))
}

# Warm the file cache once (a first start after a build reads the binary from disk).
startup_ms >/dev/null
times=()
for i in $(seq "$RUNS"); do
  t=$(startup_ms)
  times+=("$t")
  echo "perf: start-up run $i: $t ms to an interactive window"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "perf: start-up median over $RUNS runs: $median ms ($PHANTOMCALL_BIN)"

echo "perf: demo video call for $CALL_SECONDS s…"
PHANTOMCALL_PERF="call:$CALL_SECONDS" PHANTOMCALL_DEMO_AUTOCALL=video \
  timeout $((CALL_SECONDS + 60)) "$PHANTOMCALL_BIN" demo --gui 2>&1 | grep '^perf:' || true
