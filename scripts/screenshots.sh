#!/usr/bin/env bash
# Runs the desktop app under a virtual X display (Xvfb, Mesa software OpenGL) in its demo
# configuration (synthetic camera and microphone, embedded relay, a demo contact that
# answers) and saves screenshots into docs/screenshots/: onboarding, contacts, incoming
# call, in-call, the demo contact sharing its screen, lobby, messages (the demo contact
# writes back), and dispatcher mode (the console
# and the statistics of a demo hotline: a real queue core run through a simulated morning),
# and a conference (a local conference service, a headless participant, the app joining).
# Prints how long the window took to appear each time.
#
#   bash scripts/screenshots.sh            # build (debug profile) and shoot
#   PHANTOMCALL_BIN=path/to/phantomcall bash scripts/screenshots.sh
#   ONLY="dispatcher hotline-stats" bash scripts/screenshots.sh   # just these shots
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_TEST_TOOLS=1 bash scripts/setup.sh

if [ -z "${PHANTOMCALL_BIN:-}" ]; then
  cargo build -p phantomcall --quiet
  PHANTOMCALL_BIN="${CARGO_TARGET_DIR:-target}/debug/phantomcall"
fi
OUT=docs/screenshots
mkdir -p "$OUT"

DISPLAY_NUM="${SCREENSHOT_DISPLAY:-:97}"
Xvfb "$DISPLAY_NUM" -screen 0 1000x700x24 -nolisten tcp >/dev/null 2>&1 &
XVFB_PID=$!
APP_PID=""
cleanup() {
  [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null || true
  kill "$XVFB_PID" 2>/dev/null || true
}
trap cleanup EXIT
export DISPLAY="$DISPLAY_NUM"
# Mesa's llvmpipe: the same software path as a machine without a GPU.
export LIBGL_ALWAYS_SOFTWARE=1
for _ in $(seq 50); do xwininfo -root >/dev/null 2>&1 && break; sleep 0.1; done

# shot NAME SECONDS_AFTER_WINDOW COMMAND...: starts the app, waits for its window, waits
# SECONDS more, saves $OUT/NAME.png, stops the app.
shot() {
  local name=$1 settle=$2
  shift 2
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return; fi
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1 &
  APP_PID=$!
  for _ in $(seq 200); do
    xwininfo -root -tree 2>/dev/null | grep -q '"PhantomCall"' && break
    sleep 0.05
  done
  end=$(date +%s.%N)
  printf 'screenshots: %-12s window after %.2f s\n' "$name" "$(echo "$end - $start" | bc)"
  sleep "$settle"
  import -window root "$OUT/$name.png"
  # In a call, wait (up to 5 s) for a received frame that is not all black: on two cores
  # the two sides' blackout filters, the debug UI and software OpenGL miss deadlines, and
  # a missed frame is sent black, as it must be.
  if [ -n "${VIDEO_AREA:-}" ]; then
    for _ in $(seq 10); do
      mean=$(convert "$OUT/$name.png" -crop "$VIDEO_AREA" -colorspace gray -format '%[fx:mean]' info:)
      [ "$(echo "$mean > 0.05" | bc)" = 1 ] && break
      sleep 0.5
      import -window root "$OUT/$name.png"
    done
  fi
  kill "$APP_PID" 2>/dev/null || true
  wait "$APP_PID" 2>/dev/null || true
  APP_PID=""
}

FRESH=$(mktemp -d)
shot onboarding 1.5 env PHANTOMCALL_CONFIG_DIR="$FRESH" "$PHANTOMCALL_BIN"
rm -rf "$FRESH"
shot contacts 4 "$PHANTOMCALL_BIN" demo --gui
shot lobby 8 env PHANTOMCALL_DEMO_AUTOCALL=lobby "$PHANTOMCALL_BIN" demo --gui
shot incoming 6 env PHANTOMCALL_DEMO_AUTOCALL=incoming "$PHANTOMCALL_BIN" demo --gui
VIDEO_AREA=598x449+158+191 shot in-call 18 env PHANTOMCALL_DEMO_AUTOCALL=video "$PHANTOMCALL_BIN" demo --gui
shot screen-share 12 env PHANTOMCALL_DEMO_AUTOCALL=share "$PHANTOMCALL_BIN" demo --gui
shot messages 8 env PHANTOMCALL_DEMO_AUTOCALL=messages "$PHANTOMCALL_BIN" demo --gui
shot dispatcher 8 env PHANTOMCALL_DEMO_AUTOCALL=dispatcher "$PHANTOMCALL_BIN" demo --gui
shot hotline-stats 8 env PHANTOMCALL_DEMO_AUTOCALL=hotline-stats "$PHANTOMCALL_BIN" demo --gui

# A conference: the conference service on loopback, a room created by a wallet, a
# headless participant (tones, synthetic cameras through human blackout), and the app
# joining by the invite link past its lobby.
conference_shot() {
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" conference "* ]]; then return; fi
  local dir port link pids=()
  dir=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'listen = "127.0.0.1:%s"\npublic_host = "127.0.0.1:%s"\n[auth]\nsigning_key = "%s/key.pem"\n[store]\nsqlite = "%s/conference.db"\n[sfu]\nbind_ip = "127.0.0.1"\n' \
    "$port" "$port" "$dir" "$dir" > "$dir/conference.toml"
  "${CONFERENCE_BIN:-$(dirname "$PHANTOMCALL_BIN")/phantomcall-conference}" --config "$dir/conference.toml" \
    > "$dir/service.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q ready "$dir/service.log" && break; sleep 0.1; done
  export PHANTOMCALL_PASSWORD=screenshots PHANTOMCALL_KEY_FILE="$dir/identity.ncryptsec"
  "$PHANTOMCALL_BIN" keygen >/dev/null 2>&1
  # Any 32 bytes make a wallet; these are a throw-away one's.
  PHANTOMCALL_WALLET_SECRET=4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T \
    "$PHANTOMCALL_BIN" wallet import >/dev/null 2>&1 || true
  link=$("$PHANTOMCALL_BIN" room create "127.0.0.1:$port" 2>/dev/null | head -1)
  unset PHANTOMCALL_KEY_FILE
  if [ -z "$link" ]; then
    echo "screenshots: conference: no room (see $dir/service.log)" >&2
  else
    # The free plan takes two: Ana, and the app.
    "$PHANTOMCALL_BIN" join "$link" --synthetic --tone 440 --name Ana --seconds 120 \
      < /dev/null > /dev/null 2>&1 &
    pids+=($!)
    shot conference 14 env PHANTOMCALL_DEMO_AUTOCALL=conference PHANTOMCALL_DEMO_JOIN="$link" \
      "$PHANTOMCALL_BIN" demo --gui
  fi
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  unset PHANTOMCALL_PASSWORD
  rm -rf "$dir"
}
conference_shot
echo "screenshots: saved in $OUT/"
