#!/usr/bin/env bash
# The GPU check's one command (bench/README.md, "GPU check"), for a Linux x86-64 machine with no
# package registry and no node_modules: unpacks .gpucheck/ (made here by
# scripts/prepare-gpu-check.mjs) into a temporary folder, brings the Vulkan loader and finds the
# NVIDIA driver when the system has none, and runs the bundled check from the repo root.
#   bash scripts/gpu-check.sh [--quick] [--batches 1,8,32] [--out file] ...   (bench/gpu-check.ts)
# Writes $OUT/gpu-check.json and $OUT/gpu-check.log when OUT is set, else .cache/gpu-check.json.
set -euo pipefail
cd "$(dirname "$0")/.."
G=.gpucheck
for f in node.xz runtime.tar.xz expected.json; do
  if [ ! -f "$G/$f" ]; then
    echo "gpu-check: $G/$f is missing: run 'node scripts/prepare-gpu-check.mjs' on a machine with node_modules, then carry $G" >&2
    exit 2
  fi
done

R="${TMPDIR:-/tmp}/trans3dhead-gpucheck.$$"
rm -rf "$R"
mkdir -p "$R"
trap 'rm -rf "$R"' EXIT
unxz_to_stdout() {
  if command -v xz >/dev/null 2>&1; then xz -dc "$1"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"
  fi
}
unxz_to_stdout "$G/runtime.tar.xz" | tar -xf - -C "$R"
unxz_to_stdout "$G/node.xz" > "$R/node"
chmod +x "$R/node"
if ! "$R/node" --version >/dev/null; then
  echo "gpu-check: cannot run $R/node (x86-64 Linux Node, glibc >= 2.28); if ${TMPDIR:-/tmp} is mounted noexec, set TMPDIR to another folder" >&2
  exit 2
fi
RT="$R/runtime"

# Vulkan: the system's loader if it has one, else the carried one (Debian's libvulkan1).
if [ -n "${GPUCHECK_CARRIED_VULKAN:-}" ] || ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  echo "gpu-check: using the carried Vulkan loader ($RT/vk/libvulkan.so.1)"
  export LD_LIBRARY_PATH="$RT/vk${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# The NVIDIA driver's Vulkan manifest, where the image mounts the driver outside the usual folders.
NV=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] && [ -f "$NV" ] &&
   ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
  echo "gpu-check: VK_DRIVER_FILES=$NV"
  export VK_DRIVER_FILES="$NV"
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv || true
fi

run() { "$R/node" "$RT/bundle/bench/gpu-check.mjs" --tests "$RT/bundle/test" --expected "$G/expected.json" "$@"; }
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  run "$@" 2>&1 | tee "$OUT/gpu-check.log"
else
  run "$@"
fi
