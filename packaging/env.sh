# Sourced by demo.sh and test.sh: system packages, a Rust toolchain check, and the runtime
# directory wgpu wants even without a display.
packaging/install-deps.sh
if ! command -v cargo >/dev/null 2>&1; then
  echo "vigie: cargo is missing: install Rust 1.95 or later (https://rustup.rs)" >&2
  exit 1
fi
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ]; then
  XDG_RUNTIME_DIR="$(mktemp -d /tmp/vigie-xdg.XXXXXX)"
  export XDG_RUNTIME_DIR
  chmod 700 "$XDG_RUNTIME_DIR"
fi
