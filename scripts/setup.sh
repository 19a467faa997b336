#!/usr/bin/env bash
# Installs what PhantomCall's build, demo and tests need on Debian 12, idempotently:
# Debian packages (only those missing, so a second run does no apt work), and the
# third-party relay binary the interop test talks to (built once, cached under ~/.cache).
set -euo pipefail

DEB_PACKAGES=(
  pkg-config          # -sys crates find their C libraries
  protobuf-compiler   # nostr-rs-relay's gRPC build step (interop test relay)
  libssl-dev          # nostr-rs-relay
  libopus-dev         # Opus codec (media crate)
  libvpx-dev          # VP8 codec (media crate)
  libasound2-dev      # cpal: microphone and speakers through ALSA
  libv4l-dev          # nokhwa: cameras through Video4Linux
  libclang-dev        # bindgen, used by the V4L2 and PipeWire bindings at build time
  libxcb1-dev         # xcap: screen share on X11 (xcb)
  libxcb-randr0-dev   # xcap: X11 monitors (RandR)
  libpipewire-0.3-dev # xcap: screen share on Wayland (desktop portal + PipeWire)
  libgbm-dev          # xcap: Wayland screen capture buffers (libwayshot)
  libwayland-dev      # xcap: Wayland client library
  libdbus-1-dev       # ble-fallback's Bluetooth LE driver (BlueZ over D-Bus, feature `bluetooth`)
  coturn              # turnserver: the TURN relay the privacy-mode tests start on loopback
  dante-server        # danted: the SOCKS5 proxy (Tor's stand-in) the Paranoid tests start
  postgresql          # the conference service's PostgreSQL store: its tests start a throwaway cluster
  libgl1-mesa-dri     # desktop app: Mesa's software OpenGL (llvmpipe) where there is no GPU
  libegl1             # desktop app: EGL, through which glutin finds OpenGL
  libxkbcommon-x11-0  # desktop app: keyboard layouts under X11 (winit)
  libxcursor1         # desktop app: X11 cursors (winit)
  libxrandr2          # desktop app: X11 monitor sizes (winit)
  libxi6              # desktop app: X11 input (winit)
  xvfb                # scripts/screenshots.sh, scripts/perf.sh, screen-capture test: a virtual X display
  openbox             # screen-capture test: a window manager, so windows can be listed and shared
  x11-apps            # screen-capture test: xlogo, the window that is shared
  imagemagick         # scripts/screenshots.sh: `import` grabs the virtual display
  x11-utils           # scripts/screenshots.sh: `xwininfo` sees when the window is up
  bc                  # scripts/screenshots.sh: start-up time arithmetic
  sip-tester          # sipp: the SIP carrier/trunk the pstn-gateway tests talk to
  baresip             # pstn-gateway service tests: a SIP phone calling and answering through the gateway
  kamailio            # pstn-gateway service tests: a SIP proxy in front of the gateway
  janus               # conference service's Janus backend: its tests start real Janus VideoRoom instances
)

# Packages only one script needs (the quality bench's espeak-ng and Python build tools).
read -r -a EXTRA_PACKAGES <<< "${PHANTOMCALL_EXTRA_PACKAGES:-}"
DEB_PACKAGES+=("${EXTRA_PACKAGES[@]}")

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ "${SKIP_TEST_TOOLS:-0}" = 1 ] && exit 0

# A relay implementation nobody here wrote, for the interop test (nostr-signal/tests/interop.rs).
TOOLS="${PHANTOMCALL_TOOLS:-$HOME/.cache/phantomcall/tools}"
NOSTR_RS_RELAY_VERSION=0.8.12
if ! "$TOOLS/bin/nostr-rs-relay" --version 2>/dev/null | grep -q "$NOSTR_RS_RELAY_VERSION"; then
  echo "setup: building nostr-rs-relay $NOSTR_RS_RELAY_VERSION (once, about 10 minutes)…" >&2
  # Not --locked: its lockfile pins a `time` crate that no longer compiles on Rust 1.95.
  cargo install nostr-rs-relay --version "$NOSTR_RS_RELAY_VERSION" --root "$TOOLS" --quiet
fi
