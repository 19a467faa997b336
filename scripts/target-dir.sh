# Sourced by the scripts that build: where the build goes, and a guard for sharing it.
# Build outside the checkout so repeated runs (and CI on the same machine) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/phantomcall/target}"
# Workspace crates bake their checkout's path in (where test photos and clips are read
# from), and cargo judges freshness by file times, so a target dir last built from another
# checkout (CI's clone) can look fresh here and still read that checkout's files. When the
# checkout changes, touching its sources rebuilds the workspace crates (not the
# dependencies) with the right paths.
mkdir -p "$CARGO_TARGET_DIR"
phantomcall_marker="$CARGO_TARGET_DIR/.phantomcall-checkout"
phantomcall_here="$(pwd -P)"
if [ "$(cat "$phantomcall_marker" 2>/dev/null)" != "$phantomcall_here" ]; then
  find . -name '*.rs' -not -path './fuzz/*' -not -path './target/*' -exec touch {} +
  printf '%s\n' "$phantomcall_here" > "$phantomcall_marker"
fi
