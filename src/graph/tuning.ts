import type { GpuContext } from '../platform/types.ts';
import type { Tuning } from './graph.ts';

/** Kernel choices for an adapter: CPU adapters get register-blocked schedules. */
export function tuningFor(ctx: GpuContext): Tuning {
  // The DEVICE's limits: a device gets the spec defaults unless it asked for more, whatever the adapter offers.
  const l = ctx.device.limits;
  return {
    cpuLike: ctx.adapter.isFallbackAdapter,
    maxWorkgroupStorage: l.maxComputeWorkgroupStorageSize,
    maxInvocations: l.maxComputeInvocationsPerWorkgroup,
    maxWorkgroupsPerDim: l.maxComputeWorkgroupsPerDimension,
    subgroups: ctx.adapter.features.includes('subgroups'),
  };
}
