#!/usr/bin/env bash
# The local demo, on a fresh Debian 12 machine: installs what it needs, builds, and runs
# `phantomcall demo --video`: embedded relay, two fresh identities, a real call between them
# with synthetic microphone and camera (extra arguments are passed on, e.g. --seconds 10).
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_TEST_TOOLS=1 bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/phantomcall/target}"
if [ "$#" -eq 0 ]; then set -- --video; fi
cargo run --release --locked --quiet -p phantomcall -- demo "$@"
