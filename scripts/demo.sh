#!/usr/bin/env bash
# The local demo, on a fresh Debian 12 machine: installs what it needs, builds, and runs
# `phantomcall demo` (embedded relay, two fresh identities, a call's signaling both ways).
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_TEST_TOOLS=1 bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/phantomcall/target}"
cargo run --release --locked --quiet -p phantomcall -- demo "$@"
