#!/usr/bin/env bash
# Starts a trial conference stack on this machine, on loopback: Janus (VideoRoom, WebSocket
# API on a free port, configuration generated from deploy/janus/ into a temporary
# directory) and phantomcall-conference with Janus as its media backend. Checks /readyz and
# /metrics, prints the service's address, and stops both on Ctrl-C (or at once with
# --check, which is what a smoke run uses).
#
# Needs: scripts/setup.sh run once (Debian's janus), a Rust toolchain. Nothing is installed
# system-wide and nothing listens beyond 127.0.0.1.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
check_only=0
[ "${1:-}" = "--check" ] && check_only=1

command -v janus >/dev/null || { echo "try-local: janus missing: run scripts/setup.sh" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# A port nothing listens on (bash only: no python or curl needed on a fresh machine).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# GET on the service, body only.
http_get() {
  local body
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$2" >&3
  body="$(cat <&3)"
  exec 3<&-
  case "$body" in "HTTP/1.1 200"*) ;; *) echo "try-local: GET $2 failed" >&2; return 1 ;; esac
  printf '%s\n' "${body#*$'\r\n\r\n'}"
}

# Janus: the deploy configuration with this trial's folder and a free API port.
ws_port="$(free_port)"
sed -e "s|/etc/janus|$work|" "$here/janus/janus.jcfg" > "$work/janus.jcfg"
cp "$here/janus/janus.plugin.videoroom.jcfg" "$work/"
sed -e "s|ws_port = 8188|ws_port = $ws_port|" "$here/janus/janus.transport.websockets.jcfg" \
  > "$work/janus.transport.websockets.jcfg"
janus -C "$work/janus.jcfg" -F "$work" -o > "$work/janus.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  grep -q "WebSockets thread started" "$work/janus.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "WebSockets thread started" "$work/janus.log" || { cat "$work/janus.log" >&2; exit 1; }
echo "try-local: Janus API on ws://127.0.0.1:$ws_port"

# The conference service.
# PHANTOMCALL_CONFERENCE_BIN: an already built binary (no cargo run then).
bin="${PHANTOMCALL_CONFERENCE_BIN:-}"
if [ -z "$bin" ]; then
  cargo build -q --manifest-path "$repo/Cargo.toml" -p sfu-jitsi-bridge --bin phantomcall-conference
  bin="${CARGO_TARGET_DIR:-$repo/target}/debug/phantomcall-conference"
fi
cat > "$work/conference.toml" <<TOML
listen = "127.0.0.1:0"
public_host = "localhost"
[auth]
signing_key = "$work/session-key.pem"
[store]
sqlite = "$work/conference.db"
[janus]
region = "local"
[[janus.instances]]
name = "local-1"
region = "local"
url = "ws://127.0.0.1:$ws_port"
TOML
"$bin" --config "$work/conference.toml" > "$work/service.out" 2> "$work/service.log" &
pids+=($!)
port=""
for _ in $(seq 1 300); do
  port="$(sed -n 's/^ready port=//p' "$work/service.out" 2>/dev/null || true)"
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/service.log" >&2; exit 1; }

ready="$(http_get "$port" /readyz)"
echo "try-local: conference service on http://127.0.0.1:$port ($ready)"
http_get "$port" /metrics | grep -E '^phantomcall_media_(servers_up|backend_info)'
if [ "$check_only" = 1 ]; then
  echo "try-local: ok"
  exit 0
fi
echo "try-local: signaling at ws://127.0.0.1:$port/v1/signal; Ctrl-C stops everything"
wait
