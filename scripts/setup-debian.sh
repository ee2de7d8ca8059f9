#!/usr/bin/env bash
# System packages the tests, the CPU WebGPU fallback and the PyTorch reference need (Debian 12).
# SwiftShader comes with chromium; Dawn also needs the Vulkan loader, which chromium does not pull in.
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  libvulkan1 chromium \
  python3 python3-numpy python3-torch python3-torchvision python3-scipy python3-skimage python3-pil \
  >/dev/null
echo "system packages installed: libvulkan1 chromium python3-torch python3-torchvision python3-scipy python3-skimage"
