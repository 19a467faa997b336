#!/usr/bin/env bash
# Rotates coturn's TURN REST shared secret without cutting a call.
#
#   turn-secret.sh rotate   a new random secret is added to coturn's `turn_secret` table and
#                           written to the secret file the PhantomCall services read
#                           (--turn-secret-file); the previous one stays valid.
#   turn-secret.sh prune    every secret but the one in the secret file is deleted.
#   turn-secret.sh show     the secrets coturn accepts now (values).
#
# Why two steps: credentials are derived from the secret and checked by coturn against
# every secret of the realm. Between `rotate` and `prune` both secrets work, so clients
# holding credentials from the old one (valid 6 hours by default) and services that read
# the old file at start keep working. Run `rotate`, restart the services that read the
# file (`systemctl try-restart phantomcall-hotline phantomcall-gateway`; the issuer of
# your app users' credentials re-reads it per request), and `prune` once the longest
# credential lifetime has passed: the timer in systemd/phantomcall-turn-rotate.timer does
# rotate, then prune a day later.
#
# Settings (environment): TURN_USERDB (default /var/lib/turn/turndb), TURN_REALM (default:
# realm= of /etc/turnserver.conf), TURN_SECRET_FILE (default /etc/phantomcall/turn.secret,
# created 0640 root:phantomcall when that group exists).
set -euo pipefail

userdb="${TURN_USERDB:-/var/lib/turn/turndb}"
secret_file="${TURN_SECRET_FILE:-/etc/phantomcall/turn.secret}"
realm="${TURN_REALM:-$(sed -n 's/^realm=//p' /etc/turnserver.conf 2>/dev/null | head -n1)}"
[ -n "$realm" ] || { echo "turn-secret: no realm: set TURN_REALM" >&2; exit 1; }
command -v turnadmin >/dev/null || { echo "turn-secret: turnadmin missing (Debian package coturn)" >&2; exit 1; }

# turnadmin writes a log file of its own for every run and says where: keep it off the disk.
admin() {
  local out
  out="$(turnadmin "$@" -r "$realm" -b "$userdb" 2>&1)" || { printf '%s\n' "$out" >&2; return 1; }
  local log
  log="$(printf '%s\n' "$out" | sed -n 's/.*log file opened: //p' | head -n1)"
  [ -n "$log" ] && rm -f "$log"
  printf '%s\n' "$out" | grep -v ': : ' || true
}

case "${1:-}" in
  rotate)
    # 32 random bytes, hex: no character a config parser or shell could misread.
    new="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
    admin -s "$new" >/dev/null
    umask 027
    tmp="$secret_file.new"
    printf '%s\n' "$new" > "$tmp"
    getent group phantomcall >/dev/null && chgrp phantomcall "$tmp"
    mv "$tmp" "$secret_file"
    echo "turn-secret: new secret added and written to $secret_file; the previous one stays valid until prune"
    ;;
  prune)
    current="$(tr -d '\r\n' < "$secret_file")"
    [ -n "$current" ] || { echo "turn-secret: $secret_file is empty" >&2; exit 1; }
    admin -S | sed 's/\[.*//' | while read -r value; do
      if [ -n "$value" ] && [ "$value" != "$current" ]; then
        admin -X "$value" >/dev/null
      fi
    done
    echo "turn-secret: only the secret in $secret_file is valid now"
    ;;
  show)
    admin -S | sed 's/\[.*//'
    ;;
  *)
    echo "usage: turn-secret.sh rotate|prune|show" >&2
    exit 2
    ;;
esac
