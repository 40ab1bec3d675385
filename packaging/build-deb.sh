#!/bin/sh
# Builds the Debian package (target/debian/vigie_VERSION_amd64.deb): release build, stripped
# binary, the vigie-server systemd unit, its maintainer scripts, the desktop entries and icon.
set -eu
cd "$(dirname "$0")/.."
. packaging/env.sh
command -v cargo-deb >/dev/null 2>&1 || cargo install cargo-deb --locked
cargo build --release --locked
cargo deb --no-build --strip "$@"
