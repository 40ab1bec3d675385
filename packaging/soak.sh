#!/bin/bash
# The soak run (tests/soak.rs): a site server recording 32 simulated cameras for an hour while
# cameras restart, the server is killed with SIGKILL every 5 minutes, the data volume fills to
# the reserve and the wall clock steps. Needs root (it mounts a tmpfs as the data volume) and
# the packages of packaging/install-deps.sh. Not part of CI.
#
#   packaging/soak.sh                 # an hour, release build
#   VIGIE_SOAK_MINUTES=10 packaging/soak.sh
#   VIGIE_SOAK_PROFILE=dev packaging/soak.sh   # the debug build the tests use
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 0700 "$XDG_RUNTIME_DIR"
exec cargo test --profile "${VIGIE_SOAK_PROFILE:-release}" --test soak -- --ignored --nocapture
