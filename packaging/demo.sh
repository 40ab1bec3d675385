#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 / Ubuntu 22.04+ machine and starts the demo: the
# camera simulator with the 217 demo cameras and the live wall on it.
set -euo pipefail
cd "$(dirname "$0")/.."

. packaging/env.sh
cargo build --release --locked
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "demo.sh: no display; running on a virtual one (xvfb-run)" >&2
  exec xvfb-run -a -s "-screen 0 1920x1080x24" target/release/vigie demo "$@"
fi
exec target/release/vigie demo "$@"
