#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine: installs what it needs, then runs
# every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/target-dir.sh
export PHANTOMCALL_NOSTR_RS_RELAY="${PHANTOMCALL_NOSTR_RS_RELAY:-${PHANTOMCALL_TOOLS:-$HOME/.cache/phantomcall/tools}/bin/nostr-rs-relay}"
cargo test --workspace --locked "$@"
