import type { GpuContext } from '../platform/types.ts';
import type { Tuning } from './graph.ts';

/** Kernel choices for an adapter: CPU adapters get register-blocked schedules. */
export function tuningFor(ctx: GpuContext): Tuning {
  const l = ctx.adapter.limits;
  return {
    cpuLike: ctx.adapter.isFallbackAdapter,
    maxWorkgroupStorage: l.maxComputeWorkgroupStorageSize || 16384,
    maxInvocations: l.maxComputeInvocationsPerWorkgroup || 256,
    maxWorkgroupsPerDim: l.maxComputeWorkgroupsPerDimension || 65535,
    subgroups: ctx.adapter.features.includes('subgroups'),
  };
}
