// The Node side of the platform split: Dawn through the `webgpu` package, with the
// SwiftShader fallback for GPU-less Linux machines.
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { create, globals } from 'webgpu';
import { cache, decodeImage, loadBytes } from './node-io.ts';
import type { Platform } from './types.ts';
import {
  adapterReport, deviceDescriptor, NoAdapterError, sharedDevice,
  type DeviceOptions, type GpuContext,
} from './types.ts';

const SWIFTSHADER_ICD = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
];
const VULKAN_LOADER = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1', '/usr/lib/libvulkan.so.1', '/usr/lib64/libvulkan.so.1'];

/** Linux without GPU device nodes cannot have a hardware adapter: skip the probe (and its
 * warnings about software drivers Dawn rejects) and go straight to SwiftShader. */
function mayHaveGpu(): boolean {
  if (process.platform !== 'linux') return true;
  try {
    if (readdirSync('/dev/dri').some((f) => f.startsWith('renderD'))) return true;
  } catch { /* no /dev/dri */ }
  return existsSync('/dev/nvidia0') || existsSync('/dev/dxg');
}

// dawn.node looks `setImmediate` up on the global object for each tick of its event polling
// loop; while our GPU awaits are pending it gets a 1 ms timer instead, so the loop sleeps
// instead of spinning a core (measured on SwiftShader: a 1024^3 GEMM 2.3 s -> 1.5 s wall,
// main-thread CPU 500 ms -> 100 ms).
let settling = 0;
let outerSetImmediate = globalThis.setImmediate;
const politeSetImmediate = ((fn: (...a: unknown[]) => void, ...args: unknown[]) => setTimeout(fn, 1, ...args)) as unknown as typeof setImmediate;

async function settle<T>(start: () => Promise<T>): Promise<T> {
  if (settling++ === 0) {
    outerSetImmediate = globalThis.setImmediate;
    globalThis.setImmediate = politeSetImmediate;
  }
  try {
    return await start();
  } finally {
    if (--settling === 0) globalThis.setImmediate = outerSetImmediate;
  }
}

let globalsInstalled = false;
let noticeShown = false;
// Dawn's GPU objects keep Node's event loop alive; we hold them here so release() can drop them.
const live = new Set<{ gpu: GPU | null; device: GPUDevice | null }>();

function installGlobals(): void {
  if (globalsInstalled) return;
  // GPUBufferUsage, GPUShaderStage, ... are globals in browsers; Dawn exports them separately.
  for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  globalsInstalled = true;
}

function dawnFlags(opts: DeviceOptions): string[] {
  // Dawn quantises timestamps to ~65 us unless told otherwise; profile mode needs real ones.
  const enable = ['allow_unsafe_apis', ...(opts.enableToggles ?? [])];
  return [`enable-dawn-features=${enable.join(',')}`, 'disable-dawn-features=timestamp_quantization'];
}

async function requestAdapter(opts: DeviceOptions): Promise<{ gpu: GPU; adapter: GPUAdapter | null }> {
  const gpu = create(dawnFlags(opts));
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  return { gpu, adapter };
}

/** Creates a fresh device. Most callers want the shared one from getDevice(). */
export async function createDevice(opts: DeviceOptions = {}): Promise<GpuContext & { release(): void }> {
  installGlobals();
  // The Vulkan loader complains on stderr without it; SwiftShader needs it to be valid.
  process.env.XDG_RUNTIME_DIR ??= tmpdir();
  const forced = Boolean(process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES);
  let gpu: GPU | null = null;
  let adapter: GPUAdapter | null = null;
  if (forced || mayHaveGpu()) ({ gpu, adapter } = await requestAdapter(opts));
  let swiftshader = false;
  if (!adapter && !forced) {
    const icd = SWIFTSHADER_ICD.find(existsSync);
    if (icd) {
      process.env.VK_ICD_FILENAMES = icd;
      ({ gpu, adapter } = await requestAdapter(opts));
      swiftshader = Boolean(adapter);
      if (adapter && !noticeShown && !opts.quiet) {
        noticeShown = true;
        process.stderr.write(`trans3dhead: no GPU adapter found; using SwiftShader (${icd}), a CPU implementation of Vulkan. Figures are CPU figures.\n`);
      }
    }
  }
  if (!adapter) {
    const loader = VULKAN_LOADER.some(existsSync);
    const icd = SWIFTSHADER_ICD.some(existsSync);
    const missing = [!loader && 'the Vulkan loader (Debian/Ubuntu: apt-get install libvulkan1)',
      !icd && "SwiftShader (Debian: apt-get install chromium, which ships /usr/lib/chromium/vk_swiftshader_icd.json)"].filter(Boolean);
    throw new NoAdapterError('No WebGPU adapter found. Install a GPU driver with Vulkan support, or for a CPU fallback on Linux ' +
      (missing.length ? `install ${missing.join(' and ')}.` : 'check that VK_ICD_FILENAMES points at a working Vulkan driver.'));
  }
  const device = await adapter.requestDevice(deviceDescriptor(adapter));
  const report = adapterReport(adapter, 'dawn-node', swiftshader);
  const holder: { gpu: GPU | null; device: GPUDevice | null } = { gpu: gpu!, device };
  live.add(holder);
  // Uncaptured errors are bugs in our kernels: say so loudly instead of computing wrong numbers.
  device.addEventListener('uncapturederror', (ev) => {
    process.stderr.write(`trans3dhead: WebGPU error: ${(ev as GPUUncapturedErrorEvent).error.message}\n`);
  });
  return {
    device, adapter: report, timestamps: device.features.has('timestamp-query'), settle,
    release() {
      if (!holder.device) return;
      holder.device.destroy();
      holder.device = null;
      holder.gpu = null;
      live.delete(holder);
    },
  };
}

const shared = sharedDevice(createDevice);

/** The process-wide device, created on first use. */
export const getDevice = shared.get;

/** Destroys the shared device and every device from createDevice(), so Node can exit. */
export async function releaseDevice(): Promise<void> {
  await shared.release();
  for (const h of [...live]) { h.device?.destroy(); h.device = null; h.gpu = null; live.delete(h); }
}



export const nodePlatform: Platform = { name: 'node', getDevice, loadBytes, decodeImage, cache };
