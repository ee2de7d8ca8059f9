// The Node side of the platform split: Dawn through the `webgpu` package, with the
// SwiftShader fallback for GPU-less Linux machines.
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { create, globals } from 'webgpu';
import { cache, decodeImage, loadBytes } from './node-io.ts';
import type { Platform } from './types.ts';
import {
  ADAPTER_CHOICES, adapterReport, deviceDescriptor, kindOf, LIMITS_MODES, NoAdapterError, pickOption, sharedDevice,
  type AdapterChoice, type DeviceOptions, type GpuContext, type LimitsMode,
} from './types.ts';

// The CPU Vulkan drivers we know, by preference for 'auto' (see README: lavapipe gives the
// faster first result and steady frame on this project's machines), each with where it lives.
const CPU_ICDS: Record<'lavapipe' | 'swiftshader', { paths: string[]; install: string }> = {
  lavapipe: {
    paths: ['/usr/share/vulkan/icd.d/lvp_icd.json', '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json', '/usr/share/vulkan/icd.d/lvp_icd.aarch64.json'],
    install: "Mesa 25's lavapipe (Debian 12: add bookworm-backports, then apt-get install -t bookworm-backports mesa-vulkan-drivers; Mesa 22's is too old for Dawn)",
  },
  swiftshader: {
    paths: ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json'],
    install: 'SwiftShader (Debian: apt-get install chromium, which ships /usr/lib/chromium/vk_swiftshader_icd.json)',
  },
};
const AUTO_CPU_ORDER = ['lavapipe', 'swiftshader'] as const;
const VULKAN_LOADER = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1', '/usr/lib/libvulkan.so.1', '/usr/lib64/libvulkan.so.1'];

/** Linux without GPU device nodes cannot have a hardware adapter: skip the probe (and its
 * warnings about software drivers Dawn rejects) and go straight to the CPU drivers. */
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

async function tryIcd(opts: DeviceOptions, icd: string): Promise<{ gpu: GPU; adapter: GPUAdapter | null }> {
  // The Vulkan loader reads the variable when Dawn creates its instance, i.e. in create().
  process.env.VK_ICD_FILENAMES = icd;
  return requestAdapter(opts);
}

/**
 * Creates a fresh device on the adapter chosen by opts.adapter / TRANS3DHEAD_ADAPTER ('auto': a
 * hardware GPU, else the best CPU driver installed). Most callers want the shared one from getDevice().
 */
export async function createDevice(opts: DeviceOptions = {}): Promise<GpuContext & { release(): void }> {
  installGlobals();
  const choice = pickOption<AdapterChoice>(opts.adapter ? 'the adapter option' : 'TRANS3DHEAD_ADAPTER', opts.adapter ?? process.env.TRANS3DHEAD_ADAPTER, ADAPTER_CHOICES, 'auto');
  const limitsMode = pickOption<LimitsMode>(opts.limits ? 'the limits option' : 'TRANS3DHEAD_LIMITS', opts.limits ?? process.env.TRANS3DHEAD_LIMITS, LIMITS_MODES, 'adapter');
  // The Vulkan loader complains on stderr without it; SwiftShader needs it to be valid.
  process.env.XDG_RUNTIME_DIR ??= tmpdir();
  // A driver the user forced with the loader's own variables is respected under 'auto'.
  const forced = choice === 'auto' && Boolean(process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES);
  let gpu: GPU | null = null;
  let adapter: GPUAdapter | null = null;
  let chosenCpu: string | null = null;
  const tried: string[] = [];
  if (forced || choice === 'gpu' || (choice === 'auto' && mayHaveGpu())) {
    ({ gpu, adapter } = await requestAdapter(opts));
    // Without device nodes Dawn may still find a CPU driver through the loader's search path;
    // 'gpu' means hardware, and 'auto' then takes the CPU drivers in our order.
    if (adapter && !forced && kindOf(adapter.info ?? {}, Boolean(adapter.info?.isFallbackAdapter)) !== 'gpu') adapter = null;
    if (!adapter) tried.push('a hardware GPU');
  }
  if (!adapter && !forced && choice !== 'gpu') {
    for (const name of choice === 'auto' ? AUTO_CPU_ORDER : [choice]) {
      const icd = CPU_ICDS[name].paths.find(existsSync);
      if (!icd) { tried.push(`${name} (not installed)`); continue; }
      ({ gpu, adapter } = await tryIcd(opts, icd));
      if (adapter && kindOf(adapter.info ?? {}, true) !== name) adapter = null;
      if (adapter) { chosenCpu = `${name} (${icd})`; break; }
      tried.push(`${name} (${icd} gave no adapter)`);
    }
  }
  if (!adapter) {
    const loader = VULKAN_LOADER.some(existsSync);
    const wanted = choice === 'auto' ? AUTO_CPU_ORDER : choice === 'gpu' ? [] : [choice];
    const missing = [!loader && 'the Vulkan loader (Debian/Ubuntu: apt-get install libvulkan1)',
      ...wanted.filter((n) => !CPU_ICDS[n].paths.some(existsSync)).map((n) => CPU_ICDS[n].install)].filter(Boolean);
    const what = choice === 'gpu' ? 'No hardware GPU adapter found (TRANS3DHEAD_ADAPTER=gpu). Install a GPU driver with Vulkan support, or choose a CPU adapter (TRANS3DHEAD_ADAPTER=auto).'
      : forced ? `No WebGPU adapter from VK_ICD_FILENAMES/VK_DRIVER_FILES (${process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES}): check that it points at a working Vulkan driver, or unset it.`
        : `No WebGPU adapter found (tried ${tried.join(', ') || 'nothing'}). Install a GPU driver with Vulkan support, or for a CPU fallback on Linux ` +
          (missing.length ? `install ${missing.join(' or ')}.` : 'check that the Vulkan drivers work (vulkaninfo).');
    throw new NoAdapterError(what);
  }
  if (chosenCpu && !noticeShown && !opts.quiet) {
    noticeShown = true;
    process.stderr.write(`trans3dhead: using ${chosenCpu}, a CPU implementation of Vulkan${choice === 'auto' ? ' (no GPU adapter found)' : ''}; figures are CPU figures. Choose with TRANS3DHEAD_ADAPTER=auto|gpu|swiftshader|lavapipe.\n`);
  }
  const device = await adapter.requestDevice(deviceDescriptor(adapter, limitsMode));
  const report = adapterReport(adapter, device, 'dawn-node', chosenCpu !== null, limitsMode);
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
