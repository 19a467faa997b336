#!/usr/bin/env bash
# A trial of the whole self-hosted stack on this machine, on loopback, from the files in
# deploy/ (generated into a temporary directory; nothing is installed system-wide and
# nothing listens beyond 127.0.0.1):
#
#   relay       nostr-rs-relay (deploy/nostr-rs-relay/config.toml)
#   turn        coturn with TURN REST secrets in its SQLite userdb, the first one made by
#               deploy/turn-secret.sh rotate (deploy/coturn/turnserver.conf)
#   conference  phantomcall-conference on the embedded SFU (deploy/conference.toml), or on
#               Janus with --janus (deploy/janus/)
#   hotline     phantomcall hotline serve in Private mode through that coturn, with --hotline
#               (deploy/hotline.toml; a dispatcher identity is made for the trial)
#
# Prints what runs where, one `try-local: NAME=VALUE` line each (the smoke test reads them),
# then `try-local: up` and stays up until Ctrl-C or SIGTERM, which stops everything and
# deletes the directory. A part that dies ends the trial. --check stops right after the
# checks. TRY_LOCAL_DIR=DIR keeps the files (logs, keys) in DIR instead.
#
# Needs: scripts/setup.sh run once (coturn, janus, nostr-rs-relay). Binaries: $PHANTOMCALL_BIN,
# $PHANTOMCALL_CONFERENCE_BIN, $PHANTOMCALL_NOSTR_RS_RELAY if set, else built with cargo /
# found where setup.sh puts them.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
check_only=0 with_janus=0 with_hotline=0
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    --janus) with_janus=1 ;;
    --hotline) with_hotline=1 ;;
    *) echo "usage: try-local.sh [--check] [--janus] [--hotline]" >&2; exit 2 ;;
  esac
done

say() { echo "try-local: $*"; }
die() { echo "try-local: $*" >&2; exit 1; }
command -v turnserver >/dev/null || die "coturn missing: run scripts/setup.sh"
[ "$with_janus" = 0 ] || command -v janus >/dev/null || die "janus missing: run scripts/setup.sh"

if [ -n "${TRY_LOCAL_DIR:-}" ]; then
  work="$TRY_LOCAL_DIR" keep=1
  mkdir -p "$work"
else
  work="$(mktemp -d)" keep=0
fi
pids=() names=()
say "dir=$work"
cleanup() {
  trap - EXIT INT TERM
  # Children first (each was started here, by its pid), then their files.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "$keep" = 1 ] || rm -rf "$work"
  say "stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME COMMAND...: runs it in the background, output to $work/NAME.log.
start() {
  local name="$1"
  shift
  "$@" > "$work/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

# A port nothing listens on (bash only: no python or curl needed on a fresh machine).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# wait_for WHAT TEST...: retries TEST for 30 s.
wait_for() {
  local what="$1"
  shift
  for _ in $(seq 1 300); do
    "$@" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$what did not come up; logs in $work"
}
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
log_has() { grep -q "$2" "$work/$1.log"; }

# GET on the conference service, body only.
http_get() {
  local body
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$2" >&3
  body="$(cat <&3)"
  exec 3<&-
  case "$body" in "HTTP/1.1 200"*) ;; *) echo "try-local: GET $2 failed" >&2; return 1 ;; esac
  printf '%s\n' "${body#*$'\r\n\r\n'}"
}

# Binaries: given, or built once with cargo (the workspace's own), or installed by setup.sh.
conference_bin="${PHANTOMCALL_CONFERENCE_BIN:-}"
phantomcall_bin="${PHANTOMCALL_BIN:-}"
if [ -z "$conference_bin" ] || { [ "$with_hotline" = 1 ] && [ -z "$phantomcall_bin" ]; }; then
  cargo build -q --locked --manifest-path "$repo/Cargo.toml" --bin phantomcall-conference --bin phantomcall
  target="${CARGO_TARGET_DIR:-$repo/target}/debug"
  conference_bin="${conference_bin:-$target/phantomcall-conference}"
  phantomcall_bin="${phantomcall_bin:-$target/phantomcall}"
fi
relay_bin="${PHANTOMCALL_NOSTR_RS_RELAY:-${PHANTOMCALL_TOOLS:-$HOME/.cache/phantomcall/tools}/bin/nostr-rs-relay}"
[ -x "$relay_bin" ] || relay_bin="$(command -v nostr-rs-relay || true)"
[ -n "$relay_bin" ] || die "nostr-rs-relay missing: run scripts/setup.sh (it builds it)"

# --- relay -------------------------------------------------------------------------------
relay_port="$(free_port)"
mkdir -p "$work/relay-db"
sed -e "s|^relay_url = .*|relay_url = \"ws://127.0.0.1:$relay_port/\"|" \
  -e "s|^data_directory = .*|data_directory = \"$work/relay-db\"|" \
  -e "s|^port = .*|port = $relay_port|" \
  -e "/^remote_ip_header/d" \
  "$here/nostr-rs-relay/config.toml" > "$work/nostr-rs-relay.toml"
start relay env RUST_LOG=warn "$relay_bin" --config "$work/nostr-rs-relay.toml" --db "$work/relay-db"
wait_for "the relay" tcp_open "$relay_port"
say "relay=ws://127.0.0.1:$relay_port"

# --- coturn ------------------------------------------------------------------------------
turn_port="$(free_port)"
relay_min=$((20000 + (RANDOM % 1000) * 40))
realm="phantomcall.local"
# The deploy file, minus what a loopback trial cannot have (public addresses, a certificate,
# the refusal of loopback peers: both callers are on 127.0.0.1 here).
sed -e "s|^realm=.*|realm=$realm|" -e "s|^userdb=.*|userdb=$work/turndb|" \
  -e "s|^listening-port=.*|listening-port=$turn_port|" \
  -e "s|^min-port=.*|min-port=$relay_min|" -e "s|^max-port=.*|max-port=$((relay_min + 39))|" \
  -e "/^tls-listening-port=/d" -e "/^cert=/d" -e "/^pkey=/d" -e "/^no-tlsv1/d" \
  -e "/^denied-peer-ip=/d" -e "/^syslog$/d" \
  "$here/coturn/turnserver.conf" > "$work/turnserver.conf"
cat >> "$work/turnserver.conf" <<CONF
# try-local only:
listening-ip=127.0.0.1
relay-ip=127.0.0.1
allow-loopback-peers
no-tls
no-dtls
# Each allocation logged (client address, credential's id), to show what a TURN operator
# could log; the deploy file keeps coturn's terse default.
verbose
log-file=$work/turn.log
pidfile=$work/turnserver.pid
CONF
export TURN_USERDB="$work/turndb" TURN_REALM="$realm" TURN_SECRET_FILE="$work/turn.secret"
bash "$here/turn-secret.sh" rotate > /dev/null
start turn turnserver -c "$work/turnserver.conf"
wait_for "coturn" log_has turn "Total General servers"
say "turn=turn:127.0.0.1:$turn_port"
say "turn_secret_file=$work/turn.secret"
say "turn_log=$work/turn.log"

# --- Janus (optional) --------------------------------------------------------------------
janus_table=""
if [ "$with_janus" = 1 ]; then
  ws_port="$(free_port)"
  admin_port="$(free_port)"
  mkdir -p "$work/janus"
  sed -e "s|/etc/janus|$work/janus|" "$here/janus/janus.jcfg" > "$work/janus/janus.jcfg"
  cp "$here/janus/janus.plugin.videoroom.jcfg" "$work/janus/"
  sed -e "s|ws_port = 8188|ws_port = $ws_port|" -e "s|admin_ws_port = 7188|admin_ws_port = $admin_port|" \
    "$here/janus/janus.transport.websockets.jcfg" > "$work/janus/janus.transport.websockets.jcfg"
  bash "$here/janus/admin-secret.sh" "$work/janus/janus.jcfg" "$work/janus-admin.secret" > /dev/null
  start janus janus -C "$work/janus/janus.jcfg" -F "$work/janus" -o
  wait_for "Janus" log_has janus "WebSockets thread started"
  say "janus=ws://127.0.0.1:$ws_port"
  janus_table="[janus]
region = \"local\"
[[janus.instances]]
name = \"local-1\"
region = \"local\"
url = \"ws://127.0.0.1:$ws_port\"
admin_url = \"ws://127.0.0.1:$admin_port\"
admin_secret_file = \"$work/janus-admin.secret\""
fi

# --- conference service ------------------------------------------------------------------
cat > "$work/conference.toml" <<TOML
listen = "127.0.0.1:0"
public_host = "localhost"
[auth]
signing_key = "$work/session-key.pem"
[store]
sqlite = "$work/conference.db"
[sfu]
bind_ip = "127.0.0.1"
$janus_table
TOML
"$conference_bin" --config "$work/conference.toml" > "$work/conference.out" 2> "$work/conference.log" &
pids+=($!)
names+=(conference)
conference_port() { sed -n 's/^ready port=//p' "$work/conference.out" 2>/dev/null; }
conference_up() { [ -n "$(conference_port)" ]; }
wait_for "the conference service" conference_up
port="$(conference_port)"
ready="$(http_get "$port" /readyz)"
say "conference=http://127.0.0.1:$port ($ready)"
if [ "$with_janus" = 1 ]; then
  # The service reads Janus's media counters through its Admin API (forwarded bitrate).
  janus_counted() { http_get "$port" /metrics | grep -q '^phantomcall_media_server_stats_up{server="local-1"} 1'; }
  wait_for "Janus's media counters (Admin API)" janus_counted
fi
http_get "$port" /metrics | grep -E '^phantomcall_media_(servers_up|backend_info|server_stats_up)' \
  | sed 's/^/try-local:   /'

# --- hotline (optional) ------------------------------------------------------------------
if [ "$with_hotline" = 1 ]; then
  export PHANTOMCALL_PASSWORD="${PHANTOMCALL_PASSWORD:-try-local-$RANDOM$RANDOM}"
  pc() { "$phantomcall_bin" "$@"; }
  dispatcher_npub="$(pc --key-file "$work/dispatcher.ncryptsec" keygen 2>/dev/null | tail -n1)"
  pc --key-file "$work/hotline.ncryptsec" keygen > /dev/null 2>&1
  sed -e "s|^npub = .*|npub = \"$dispatcher_npub\"|" "$here/hotline.toml" > "$work/hotline.toml"
  start hotline env PHANTOMCALL_LOG=warn "$phantomcall_bin" --key-file "$work/hotline.ncryptsec" \
    hotline serve --config "$work/hotline.toml" --state "$work/hotline.db" \
    --relay "ws://127.0.0.1:$relay_port" --bind-ip 127.0.0.1 --mode private \
    --turn "turn:127.0.0.1:$turn_port" --turn-secret-file "$work/turn.secret"
  wait_for "the hotline" log_has hotline "callers call npub1"
  say "hotline=$(sed -n 's/^callers call \(npub1[0-9a-z]*\).*/\1/p' "$work/hotline.log" | head -n1)"
  say "dispatcher_key_file=$work/dispatcher.ncryptsec"
  # The trial identities' password, for trying the dispatcher side (never an argument).
  (umask 077; printf '%s\n' "$PHANTOMCALL_PASSWORD" > "$work/identity.password")
  say "key_password_file=$work/identity.password"
fi

cat <<EOF
try-local: what runs where (all on 127.0.0.1; files and logs in $work):
  relay        ws://127.0.0.1:$relay_port         nostr-rs-relay
  turn         turn:127.0.0.1:$turn_port          coturn, relays $relay_min-$((relay_min + 39))/udp, TURN REST secret in turn.secret
  conference   http://127.0.0.1:$port         phantomcall-conference ($( [ "$with_janus" = 1 ] && echo "on Janus" || echo "embedded SFU"))
  hotline      $( [ "$with_hotline" = 1 ] && echo "on the relay, Private mode" || echo "not started (--hotline)")
A Private call through it (each side its own --key-file):
  phantomcall listen --auto-answer --relay ws://127.0.0.1:$relay_port --bind-ip 127.0.0.1 \\
    --mode private --turn turn:127.0.0.1:$turn_port --turn-secret-file $work/turn.secret
  phantomcall call NPUB --relay ws://127.0.0.1:$relay_port --bind-ip 127.0.0.1 \\
    --mode private --turn turn:127.0.0.1:$turn_port --turn-secret-file $work/turn.secret
EOF
if [ "$check_only" = 1 ]; then
  say "ok"
  exit 0
fi
say "up (Ctrl-C stops everything)"
# Until a signal, or until a part dies: then say which.
set +e
wait -n "${pids[@]}"
for i in "${!pids[@]}"; do
  kill -0 "${pids[$i]}" 2>/dev/null || echo "try-local: ${names[$i]} stopped; its log: $work/${names[$i]}.log" >&2
done
keep=1
exit 1
