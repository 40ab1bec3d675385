#!/usr/bin/env bash
# Installs the system packages Vigie needs to build, run and test on Debian 12 / Ubuntu 22.04+.
# Idempotent: packages already present are left alone and apt is not touched at all.
#   install-deps.sh           the Linux build, run and tests
#   install-deps.sh windows   the Windows workstation's cross-build and MSI (build-msi.sh)
#   install-deps.sh wine      the MSI's tests under wine (test-msi.sh)
set -euo pipefail

case "${1:-}" in
windows)
  PACKAGES=(gcc-mingw-w64-x86-64 mingw-w64-tools wixl msitools python3-pip unzip)
  ;;
wine)
  PACKAGES=(wine64 xvfb xauth mesa-vulkan-drivers libvulkan1 ffmpeg)
  ;;
*)
  PACKAGES=(
  pkg-config build-essential
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-x
  mesa-vulkan-drivers libvulkan1 xvfb xauth libxkbcommon-x11-0 libxkbcommon0
  libx11-6 libxcursor1 libxrandr2 libxi6 libwayland-client0 libegl1 x11-utils ffmpeg openssl
  openbox xdotool
)
  ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} system packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
