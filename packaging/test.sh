#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 / Ubuntu 22.04+ machine and runs the whole test suite:
# system packages, formatting and lint checks, unit, integration and GUI tests (lavapipe,
# Xvfb smoke test of the real window).
set -euo pipefail
cd "$(dirname "$0")/.."

packaging/install-deps.sh
if ! command -v cargo >/dev/null 2>&1; then
  echo "test.sh: cargo is missing: install Rust 1.95 or later (https://rustup.rs)" >&2
  exit 1
fi

# wgpu wants a private runtime directory even without a display.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ]; then
  export XDG_RUNTIME_DIR="$(mktemp -d /tmp/vigie-xdg.XXXXXX)"
  chmod 700 "$XDG_RUNTIME_DIR"
fi
export RUST_BACKTRACE=1

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo build --locked --all-targets
# The real window under a virtual X server, then the suite.
xvfb-run -a -s "-screen 0 1600x900x24" cargo test --locked -- --test-threads=2
