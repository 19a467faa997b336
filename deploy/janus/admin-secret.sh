#!/usr/bin/env bash
# Generates the secret of Janus's Admin API and puts it where both sides read it:
# `admin_secret` in janus.jcfg (Janus) and a file of its own (the conference service's
# `admin_secret_file`). The secret is never printed. Run once at install, and again with
# --rotate (then restart Janus and the conference service).
#
#   janus/admin-secret.sh [--rotate] [/etc/janus/janus.jcfg] [/etc/phantomcall/janus-admin.secret]
set -euo pipefail
rotate=0
if [ "${1:-}" = "--rotate" ]; then rotate=1; shift; fi
jcfg="${1:-/etc/janus/janus.jcfg}"
secret_file="${2:-/etc/phantomcall/janus-admin.secret}"
[ -f "$jcfg" ] || { echo "admin-secret: $jcfg missing" >&2; exit 1; }
grep -q '^[[:space:]]*admin_secret = ' "$jcfg" \
  || { echo "admin-secret: no admin_secret line in $jcfg (use deploy/janus/janus.jcfg)" >&2; exit 1; }
if [ "$rotate" = 1 ] || [ ! -s "$secret_file" ]; then
  mkdir -p "$(dirname "$secret_file")"
  # A new file is the owner's only; an existing one is rewritten in place, so the group
  # and mode given to the conference service's user stay.
  umask 077
  # 32 hex characters: nothing a jcfg string or a JSON string would need to escape.
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$secret_file"
fi
secret="$(head -n1 "$secret_file")"
case "$secret" in *[!0-9a-f]*|"") echo "admin-secret: $secret_file is not a hex secret" >&2; exit 1 ;; esac
tmp="$(mktemp "$jcfg.XXXXXX")"
sed -e "s|^\([[:space:]]*\)admin_secret = .*|\1admin_secret = \"$secret\"|" "$jcfg" > "$tmp"
chmod --reference="$jcfg" "$tmp" 2>/dev/null || true
mv "$tmp" "$jcfg"
echo "admin-secret: $jcfg and $secret_file hold the same secret"
