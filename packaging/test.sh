#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 / Ubuntu 22.04+ machine and runs the whole test suite:
# system packages, formatting and lint checks, unit, integration and GUI tests (lavapipe,
# Xvfb smoke test of the real window).
set -euo pipefail
cd "$(dirname "$0")/.."

. packaging/env.sh
export RUST_BACKTRACE=1

cargo fmt --all -- --check
# Clippy's lints, denied, on the build the tests use: clippy-driver compiles this crate in
# place of rustc (what `cargo clippy` does for a check), so the dependencies are compiled once,
# not once for the lints and again for the tests.
RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver || true)"
if [ -z "$RUSTC_WORKSPACE_WRAPPER" ]; then
  echo "vigie: clippy-driver is missing: rustup component add clippy" >&2
  exit 1
fi
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo build --locked --all-targets --all-features
# The workstation's build, as the Windows MSI has it (no site server, recorder or simulator).
cargo build --locked --no-default-features --lib --bins
# The real window under a virtual X server, then the suite.
xvfb-run -a -s "-screen 0 1600x900x24" cargo test --locked --all-features -- --test-threads=2
