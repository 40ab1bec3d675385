#!/usr/bin/env bash
# Tests the Windows workstation's MSI under wine, against the Linux build's simulator and
# recorder: a silent install; `vigie.exe --version` and `--help`; `vigie.exe verify` on an
# export made by the Linux build (and refusing it once a byte changed); `vigie.exe still
# --url` decoding the simulator's camera through the installed GStreamer to a PNG in the
# camera's colour with the right timecode; a silent uninstall leaving no file behind.
#   packaging/test-msi.sh [MSI]     (default: the newest target/windows/vigie-*-x64.msi,
#                                    built by packaging/build-msi.sh when there is none)
set -euo pipefail
cd "$(dirname "$0")/.."
packaging/install-deps.sh
packaging/install-deps.sh wine
# Wine's window driver needs an X display, even for a command without a window.
if [ -z "${DISPLAY:-}" ]; then
  exec xvfb-run -a -s "-screen 0 1280x1024x24" "$0" "$@"
fi
. packaging/env.sh

MSI=${1:-}
if [ -z "$MSI" ]; then
  MSI=$(ls -t target/windows/vigie-*-x64.msi 2>/dev/null | head -1 || true)
  if [ -z "$MSI" ]; then
    packaging/build-msi.sh
    MSI=$(ls -t target/windows/vigie-*-x64.msi | head -1)
  fi
fi
MSI=$(realpath "$MSI")
cargo build --release --locked
LINUX=$PWD/target/release/vigie

W=$(mktemp -d /tmp/vigie-msi.XXXXXX)
export WINEPREFIX=$W/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wineserver -k 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
step() { echo "test-msi: $*"; }
fail() { echo "test-msi: FAILED: $*" >&2; exit 1; }
T0=$(date +%s)

# The Linux side: two live-painted cameras, recorded; an export of cam001.
PORT=$((20000 + RANDOM % 20000))
"$LINUX" camsim --cameras 2 --listen "127.0.0.1:$PORT" --main-resolution 720p \
  --write-config "$W/cameras.toml" > "$W/camsim.log" 2>&1 < /dev/null &
PIDS+=($!)
for _ in $(seq 300); do
  [ -s "$W/cameras.toml" ] && break
  sleep 0.1
done
[ -s "$W/cameras.toml" ] || fail "the simulator wrote no cameras file: $(tail -5 "$W/camsim.log")"
"$LINUX" recorder --cameras "$W/cameras.toml" --data "$W/data" --segment-seconds 2 \
  > "$W/recorder.log" 2>&1 &
PIDS+=($!)
REC=$!

step "preparing a Windows prefix (wineboot)"
wineboot -i > "$W/wineboot.log" 2>&1
# Wine 8 lacks bcryptprimitives.dll (Windows 10 and later have it): a stand-in, in this test
# prefix only (packaging/windows/wine/).
x86_64-w64-mingw32-gcc -shared -O2 -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  packaging/windows/wine/bcryptprimitives.c packaging/windows/wine/bcryptprimitives.def -ladvapi32
step "installing $(basename "$MSI") (msiexec /i /qn)"
wine msiexec /i "$(winepath -w "$MSI")" /qn > "$W/install.log" 2>&1 ||
  fail "msiexec /i: $(tail -5 "$W/install.log")"
PF=$(winepath -u 'C:\Program Files\Vigie')
[ -f "$PF/bin/vigie.exe" ] || fail "no $PF/bin/vigie.exe after the install"
installed=$(find "$PF" -type f | wc -l)
step "installed $installed files, $(du -sh "$PF" | cut -f1)"
VIGIE=("wine" "$PF/bin/vigie.exe")
CONFDIR=$(winepath -u 'C:\ProgramData\Vigie')
[ -f "$CONFDIR/client.toml.example" ] || fail "no client.toml.example in C:\\ProgramData\\Vigie"
# The site's configuration, made from the model as an installer would.
CONF=$CONFDIR/client.toml
# (An address refused at once: a name to look up would wait on the resolver.)
{ cat "$CONFDIR/client.toml.example"; echo 'server = "https://127.0.0.1:9"'; } > "$CONF"
out=$("${VIGIE[@]}" recordings --camera cam001 --user rev --password-stdin < /dev/null 2>&1 |
  tr -d '\r') || true
grep -q '127.0.0.1:9' <<< "$out" || fail "vigie.exe did not take the server of $CONF: $out"
step "client.toml: the machine's server taken ($(tail -1 <<< "$out" | cut -c1-100))"

# A window keeps its log, and why it ended, in the user's log folder (no console from a menu).
out=$("${VIGIE[@]}" review --server https://127.0.0.1:9 --server-ca 'C:\no-such-ca.pem' 2>&1 |
  tr -d '\r') && fail "review with a missing CA file did not fail: $out"
log=$(find "$WINEPREFIX/drive_c/users" -path '*/AppData/Local/Vigie/logs/vigie-*.log' | head -1)
[ -n "$log" ] || fail "no log file under %LOCALAPPDATA%\\Vigie\\logs: $out"
grep -q 'no-such-ca.pem' "$log" || fail "$log does not say why the window ended: $(cat "$log")"
step "a window's log: %LOCALAPPDATA%\\Vigie\\logs\\$(basename "$log") says why it ended"

v=$("${VIGIE[@]}" --version 2>&1 | tr -d '\r')
[ "$v" = "vigie $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" ] ||
  fail "--version said: $v"
step "--version: $v"
h=$("${VIGIE[@]}" --help 2>&1 | tr -d '\r')
for c in live review still verify watch export; do
  grep -qE "^  $c " <<< "$h" || fail "--help lacks $c: $h"
done
for c in server recorder camsim demo; do
  if grep -qE "^  $c " <<< "$h"; then fail "--help offers the site command $c"; fi
done
step "--help: the workstation's commands, none of the site's"

# The export, made by the Linux build once 12 s are recorded.
sleep 12
kill -TERM "$REC" 2>/dev/null || fail "the recorder stopped early: $(tail -5 "$W/recorder.log")"
wait "$REC" || true
PW1='Admin-pass-for-msi-test-1'
PW2='Review-pass-for-msi-test-2'
printf '%s\n' "$PW1" | "$LINUX" users add admin --role administrator --data "$W/data" \
  --password-stdin > /dev/null
printf '%s\n%s\n' "$PW1" "$PW2" | "$LINUX" users add rev --role reviewer --cameras '*' \
  --data "$W/data" --password-stdin --user admin > /dev/null
FROM=$(date -u -d "@$(($(date +%s) - 9))" +%Y-%m-%dT%H:%M:%SZ)
TO=$(date -u -d "@$(($(date +%s) - 5))" +%Y-%m-%dT%H:%M:%SZ)
printf '%s\n' "$PW2" | "$LINUX" export --data "$W/data" --camera cam001 --from "$FROM" \
  --to "$TO" --out "$W/PV-MSI-1" --requisition PV-MSI-1 --officer "Test officer" \
  --reason "installer test" --user rev --password-stdin > "$W/export.log" 2>&1 ||
  fail "the Linux export: $(cat "$W/export.log"); the recorder said: $(tail -5 "$W/recorder.log")"
out=$("${VIGIE[@]}" verify "$(winepath -w "$W/PV-MSI-1")" 2>&1 | tr -d '\r') ||
  fail "vigie.exe verify refused the Linux export: $out"
step "verify: $(tail -1 <<< "$out")"
cp -r "$W/PV-MSI-1" "$W/PV-MSI-1-changed"
video=$(ls "$W/PV-MSI-1-changed"/*.mp4 | head -1)
printf 'X' | dd of="$video" bs=1 seek=1000 conv=notrunc status=none
if out=$("${VIGIE[@]}" verify "$(winepath -w "$W/PV-MSI-1-changed")" 2>&1); then
  fail "vigie.exe verify passed a changed export"
fi
grep -q "$(basename "$video")" <<< "$out" || fail "the refusal does not name the file: $out"
step "verify: a changed byte is refused, naming $(basename "$video")"

# Stills of the simulator's cam002, decoded through the installed GStreamer (libav: wine has
# no video decoding engine), each PNG checked for the camera's colour and a timecode stripe
# within the run:
# - drawn by the GPU path (wgpu's compositor). Wine reaches the host's Vulkan (lavapipe) only
#   from a window on its own virtual desktop, and its Direct3D 12 cannot compile wgpu's
#   shaders (no FXC), so the still runs on a virtual desktop with Vulkan asked for;
# - converted on the CPU (--no-gpu), for a machine without a usable GPU.
check_still() { # PNG BEFORE_MS AFTER_MS
  ffmpeg -v error -y -i "$1" -f rawvideo -pix_fmt rgb24 "$1.rgb"
  python3 - "$1.rgb" "$2" "$3" <<'EOF'
import colorsys, sys
data = open(sys.argv[1], "rb").read()
w, h = 1280, 720
assert len(data) == w * h * 3, f"{len(data)} bytes: not a 1280x720 picture"
px = lambda x, y: data[(y * w + x) * 3:(y * w + x) * 3 + 3]
# The simulator paints camera N in hue (N-1) x 137.508 degrees, saturation 0.7, value 0.75.
r, g, b = colorsys.hsv_to_rgb((137.508 % 360) / 360, 0.70, 0.75)
want = [round(c * 255) for c in (r, g, b)]
got = list(px(640, 200))
assert all(abs(a - b) <= 12 for a, b in zip(got, want)), f"colour {got}, cam002's is {want}"
# The timecode stripe: 48 cells on the middle row of the top max(8, h/16) rows, ms since 1970.
y = max(8, (h // 16) & ~1) // 2
t = 0
for k in range(48):
    x = min((2 * k + 1) * w // 96, w - 1)
    t = (t << 1) | (sum(px(x, y)) / 3 > 125)
before, after = int(sys.argv[2]), int(sys.argv[3])
assert before - 5000 <= t <= after, f"timecode {t} outside the still's run [{before}, {after}]"
print(f"cam002's colour {got}, timecode {t} (within the run)")
EOF
}
URL="rtsp://127.0.0.1:$PORT/cam002/main"
before=$(date +%s%3N)
WGPU_BACKEND=vulkan wine explorer /desktop=vigie,1280x1024 "$PF/bin/vigie.exe" still \
  --url "$URL" --timeout 30 --out "$(winepath -w "$W/cam002-gpu.png")" > "$W/still-gpu.log" 2>&1 || true
after=$(date +%s%3N)
[ -s "$W/cam002-gpu.png" ] || fail "still --url (GPU): $(tr -d '\r' < "$W/still-gpu.log" | tail -5)"
step "still (GPU): $(tr -d '\r' < "$W/still-gpu.log" | grep 'still: wrote' | sed 's/^still: wrote [^ ]* (//; s/)$//')"
step "still (GPU): $(check_still "$W/cam002-gpu.png" "$before" "$after")" ||
  fail "the GPU still is wrong"
before=$(date +%s%3N)
out=$("${VIGIE[@]}" still --url "$URL" --timeout 30 --no-gpu \
  --out "$(winepath -w "$W/cam002-cpu.png")" 2>&1 | tr -d '\r') || fail "still --url --no-gpu: $out"
after=$(date +%s%3N)
step "still (CPU): $(check_still "$W/cam002-cpu.png" "$before" "$after")" ||
  fail "the CPU still is wrong"

# A newer MSI (the same files, the patch number up) upgrades in place: one Vigie installed,
# the new version, the site's edited client.toml kept.
STAGE=$(dirname "$MSI")/stage
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
NEXT=$(awk -F. '{print $1 "." $2 "." $3 + 1}' <<< "$VERSION")
if [ -f "$STAGE/vigie.wxs" ]; then
  sed "s/Version=\"$VERSION\"/Version=\"$NEXT\"/" "$STAGE/vigie.wxs" > "$STAGE/vigie-next.wxs"
  (cd "$STAGE" && wixl -a x64 -o "$W/vigie-$NEXT-x64.msi" vigie-next.wxs)
  rm "$STAGE/vigie-next.wxs"
  wine msiexec /i "$(winepath -w "$W/vigie-$NEXT-x64.msi")" /qn > "$W/upgrade.log" 2>&1 ||
    fail "msiexec /i (upgrade): $(tail -5 "$W/upgrade.log")"
  products=$(wine reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s \
    2>/dev/null | tr -d '\r' | grep -cE 'DisplayName +REG_SZ +Vigie$' || true)
  [ "$products" -eq 1 ] || fail "$products Vigie products installed after the upgrade"
  wine reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s 2>/dev/null |
    tr -d '\r' | grep -qE "DisplayVersion +REG_SZ +$NEXT$" || fail "the upgrade did not install $NEXT"
  grep -q '^server = "https://127.0.0.1:9"' "$CONF" ||
    fail "the upgrade lost the site's client.toml"
  [ "$(find "$PF" -type f | wc -l)" -eq "$installed" ] || fail "the upgrade changed the file count"
  step "upgrade to $NEXT in place: one Vigie installed, the site's client.toml kept"
  MSI=$W/vigie-$NEXT-x64.msi
else
  step "no stage beside the MSI: the upgrade is not tried"
fi

step "uninstalling (msiexec /x /qn)"
wine msiexec /x "$(winepath -w "$MSI")" /qn > "$W/uninstall.log" 2>&1 ||
  fail "msiexec /x: $(tail -5 "$W/uninstall.log")"
left=$(find "$PF" -type f 2>/dev/null | wc -l)
[ "$left" -eq 0 ] || fail "$left files left in $PF: $(find "$PF" -type f | head -5)"
[ ! -e "$CONFDIR/client.toml.example" ] || fail "client.toml.example left behind"
[ -f "$CONF" ] || fail "the uninstall removed the site's client.toml, which it did not install"
step "uninstall: no installed file left (the site's client.toml stays)"
step "passed in $(($(date +%s) - T0)) s"
