#!/usr/bin/env bash
# System packages the tests, the two CPU WebGPU adapters and the PyTorch reference need (Debian 12).
# - SwiftShader comes with chromium; Dawn also needs the Vulkan loader, which chromium does not pull in.
# - lavapipe: Debian 12's own Mesa 22 is too old for Dawn; Mesa 25 from bookworm-backports works.
#   The backports suite is added by copying the machine's own Debian source entry, so whatever
#   mirror this machine is set up with is the one used.
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
src=/etc/apt/sources.list.d/debian.sources
bp=/etc/apt/sources.list.d/trans3dhead-backports.sources
if ! grep -rqs "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  if [ -f "$src" ]; then
    # The first deb822 stanza (the main archive), with its suites replaced by backports.
    awk -v s="${codename}-backports" 'BEGIN{RS=""; ORS="\n\n"} NR==1{gsub(/Suites:[^\n]*/, "Suites: " s); print}' "$src" | $SUDO tee "$bp" >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    grep -E '^deb .*debian/? ' /etc/apt/sources.list | head -1 | awk -v s="${codename}-backports" '{$3=s; print}' | $SUDO tee /etc/apt/sources.list.d/trans3dhead-backports.list >/dev/null
  fi
fi

$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  libvulkan1 chromium \
  python3 python3-numpy python3-torch python3-torchvision python3-scipy python3-skimage python3-pil \
  >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends -t "${codename}-backports" mesa-vulkan-drivers >/dev/null
echo "system packages installed: libvulkan1 chromium (SwiftShader) mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) (lavapipe) python3-torch python3-torchvision python3-scipy python3-skimage"
