#!/usr/bin/env bash
# Builds the Windows workstation's installer, target/windows/vigie-VERSION-x64.msi, on Debian 12
# from a fresh clone: the client cross-built for x86_64-pc-windows-gnu (no site server,
# recorder or simulator: --no-default-features), GStreamer from its official Windows wheels
# (pinned, hashes checked), only the plugins the client loads and the DLLs they import, and
# the MSI made with wixl. Takes about 15 minutes on 2 cores the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
packaging/install-deps.sh windows
. packaging/env.sh
rustup target list --installed | grep -qx x86_64-pc-windows-gnu ||
  rustup target add x86_64-pc-windows-gnu

OUT=$ROOT/target/windows
WHEELS=$OUT/wheels
GST=$OUT/gstreamer
IMPLIB=$OUT/implib
mkdir -p "$WHEELS" "$IMPLIB"

# 1. The GStreamer wheels, as pinned in packaging/windows/wheels.txt.
grep -v '^#' packaging/windows/wheels.txt | while read -r name version sha; do
  [ -n "$name" ] || continue
  file=$(ls "$WHEELS"/"$name"-"$version"-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$file" ]; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform win_amd64 \
      --python-version 3.11 --dest "$WHEELS" "$name==$version"
    file=$(ls "$WHEELS"/"$name"-"$version"-*.whl | head -1)
  fi
  echo "$sha  $file" | sha256sum --check --quiet ||
    { echo "build-msi: $file does not have the pinned SHA-256 $sha" >&2; exit 1; }
done
rm -rf "$GST"
mkdir -p "$GST"
for w in "$WHEELS"/*.whl; do
  unzip -q -o "$w" -d "$GST"
done

# 2. Import libraries for the DLLs the Rust bindings link (the wheels carry none).
BIN=$(dirname "$(find "$GST" -name 'gstreamer-1.0-0.dll' | head -1)")
LINKED=(glib-2.0 gobject-2.0 gio-2.0 gstreamer-1.0 gstbase-1.0 gstapp-1.0 gstvideo-1.0
  gstrtsp-1.0 gstsdp-1.0 gstnet-1.0)
for lib in "${LINKED[@]}"; do
  gendef - "$BIN/$lib-0.dll" > "$IMPLIB/$lib.def" 2>/dev/null
  x86_64-w64-mingw32-dlltool -d "$IMPLIB/$lib.def" -D "$lib-0.dll" -l "$IMPLIB/lib$lib.dll.a"
done

# 3. The client, its GStreamer libraries named to system-deps instead of pkg-config.
export SYSTEM_DEPS_NO_PREBUILT=1
for pair in GLIB_2_0:glib-2.0 GOBJECT_2_0:gobject-2.0 GIO_2_0:gio-2.0 \
  GSTREAMER_1_0:gstreamer-1.0 GSTREAMER_BASE_1_0:gstbase-1.0 GSTREAMER_APP_1_0:gstapp-1.0 \
  GSTREAMER_VIDEO_1_0:gstvideo-1.0 GSTREAMER_RTSP_1_0:gstrtsp-1.0 \
  GSTREAMER_SDP_1_0:gstsdp-1.0 GSTREAMER_NET_1_0:gstnet-1.0; do
  key=${pair%%:*}
  export "SYSTEM_DEPS_${key}_NO_PKG_CONFIG=1" "SYSTEM_DEPS_${key}_LIB=${pair#*:}" \
    "SYSTEM_DEPS_${key}_SEARCH_NATIVE=$IMPLIB"
done
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
CARGO_TARGET_DIR=$OUT cargo build --release --locked --no-default-features \
  --target x86_64-pc-windows-gnu
EXE=$OUT/x86_64-pc-windows-gnu/release/vigie.exe
x86_64-w64-mingw32-strip -o "$OUT/vigie.exe" "$EXE"

# 4. The stage and the MSI.
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
python3 packaging/windows/stage.py "$GST" "$OUT/vigie.exe" "$OUT/stage" "$VERSION"
# The sources in vigie.wxs are relative to the stage.
(cd "$OUT/stage" && wixl -a x64 -o "$OUT/vigie-$VERSION-x64.msi" vigie.wxs)
echo "build-msi: $OUT/vigie-$VERSION-x64.msi ($(du -h "$OUT/vigie-$VERSION-x64.msi" | cut -f1)); installed: $(tail -2 "$OUT/stage/files.txt" | head -1)"
