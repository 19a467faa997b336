#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each): the separate fuzzing command
# of DESIGN.md section 8. Uses the stable toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs
# nightly flags; no other toolchain is available here).
#   scripts/fuzz.sh [SECONDS] [TARGET...]   (no TARGET: every target of every fuzz crate)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-60}"
shift || true
ONLY=("$@")
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
export RUSTC_BOOTSTRAP=1
for dir in fuzz calling/blackout/fuzz; do
  [ -d "$dir" ] || continue
  for target in $(cd "$dir" && cargo fuzz list); do
    if [ "${#ONLY[@]}" -gt 0 ] && [[ ! " ${ONLY[*]} " =~ " $target " ]]; then
      continue
    fi
    mkdir -p "$dir/corpus/$target"
    seeds=()
    [ -d "$dir/seeds/$target" ] && seeds=("seeds/$target")
    echo "fuzz: $dir $target for ${SECONDS_PER_TARGET}s" >&2
    (cd "$dir" && cargo fuzz run "$target" "corpus/$target" "${seeds[@]}" -- -max_total_time="$SECONDS_PER_TARGET")
  done
done
