#!/usr/bin/env bash
# The voice quality bench (issue 21), on a fresh Debian 12 machine: speech from espeak-ng
# through a real call on loopback under 0/3/10/20 % loss and 40 +- 30 ms delay, with and
# without Opus FEC, scored with PESQ-WB and ViSQOL (PyPI); then the echo canceller's ERLE
# and the audio chain's CPU per 10 ms frame (media's audio_chain bench).
#
#   bash scripts/quality-bench.sh [OUT_DIR]      (default target/quality-bench; ~10 min)
set -euo pipefail
cd "$(dirname "$0")/.."
# espeak-ng speaks the clip; the others build the `pesq` scorer in a virtual environment.
PHANTOMCALL_EXTRA_PACKAGES="espeak-ng python3-venv python3-dev build-essential" \
  SKIP_TEST_TOOLS=1 bash scripts/setup.sh
VENV="$HOME/.cache/phantomcall/quality-venv"
STAMP="$VENV/.requirements"
if ! cmp -s scripts/quality-requirements.txt "$STAMP" 2>/dev/null; then
  echo "quality-bench: installing the scorers (pesq, visqol-python) in $VENV…" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q Cython==3.3.1 numpy==2.4.6
  "$VENV/bin/pip" install -q -r scripts/quality-requirements.txt
  cp scripts/quality-requirements.txt "$STAMP"
fi
# Absolute: the bench runs in its package's directory.
OUT="$(realpath -m "${1:-target/quality-bench}")"
mkdir -p "$OUT"
# Two sentences of American English, a male voice at 150 words per minute.
espeak-ng -v en-us -s 150 -w "$OUT/speech.wav" \
  "Please call me back when you get this message. The meeting moved to Thursday at half past four, in the small room upstairs."
"$VENV/bin/python" scripts/make_speech.py "$OUT/speech.wav" "$OUT/speech.s16"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/phantomcall/target}"
# --workspace, not -p: the same features as the test build, so nothing is rebuilt.
cargo bench --workspace --locked --profile dev --bench quality -- --speech "$OUT/speech.s16" --out "$OUT"
echo
echo "Voice quality (PESQ-WB, ViSQOL v3 speech mode) against the clip Alice spoke:"
"$VENV/bin/python" scripts/quality_score.py "$OUT"
echo
cargo bench --workspace --locked --profile dev --bench audio_chain
