// The browser side of the platform split: navigator.gpu.
import { adapterReport, deviceDescriptor, NoAdapterError, type DeviceOptions, type GpuContext } from './types.ts';

export async function createDevice(opts: DeviceOptions = {}): Promise<GpuContext & { release(): void }> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new NoAdapterError('This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome, Edge or Safari, or enable WebGPU in its settings.');
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new NoAdapterError('WebGPU is present but no adapter was found: the GPU may be blocklisted; check chrome://gpu.');
  const device = await adapter.requestDevice(deviceDescriptor(adapter));
  return {
    device, adapter: adapterReport(adapter, 'browser', false), timestamps: device.features.has('timestamp-query'), busyWaits: false,
    release() { device.destroy(); },
  };
}

let shared: Promise<GpuContext & { release(): void }> | null = null;

export function getDevice(opts: DeviceOptions = {}): Promise<GpuContext> {
  shared ??= createDevice(opts).catch((e) => { shared = null; throw e; });
  return shared;
}

export async function releaseDevice(): Promise<void> {
  const s = shared;
  shared = null;
  if (s) (await s.catch(() => null))?.release();
}

