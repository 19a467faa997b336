#!/usr/bin/env bash
# The local demo, on a fresh Debian 12 machine: installs what it needs, builds, and runs
# `phantomcall demo`: embedded relay, two fresh identities, a real call between them with
# synthetic microphone and camera (extra arguments are passed on, e.g. --video --seconds 10).
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_TEST_TOOLS=1 bash scripts/setup.sh
source scripts/target-dir.sh
# On a desktop the demo opens the app with a demo contact that answers; without a display
# (a server, CI) it runs the same call headless and prints its figures.
if [ "$#" -eq 0 ]; then
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then set -- --gui; else set -- --video; fi
fi
cargo run --release --locked --quiet -p phantomcall -- demo "$@"
