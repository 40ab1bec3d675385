#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 / Ubuntu 22.04+ machine and runs the whole test suite:
# system packages, formatting and lint checks, unit, integration and GUI tests (lavapipe,
# Xvfb smoke test of the real window).
set -euo pipefail
cd "$(dirname "$0")/.."

. packaging/env.sh
export RUST_BACKTRACE=1

cargo fmt --all -- --check
cargo clippy --all-targets --all-features --locked -- -D warnings
# The workstation's build, as the Windows MSI has it (no site server, recorder or simulator).
cargo clippy --no-default-features --locked -- -D warnings
cargo build --locked --all-targets
# The real window under a virtual X server, then the suite.
xvfb-run -a -s "-screen 0 1600x900x24" cargo test --locked -- --test-threads=2
