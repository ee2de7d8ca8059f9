import type { AdapterKind, GpuContext } from '../platform/types.ts';
import { pickOption } from '../platform/types.ts';
import type { Tuning } from './graph.ts';

/** Which schedules kernels use: 'cpu' = register-blocked (CPU adapters), 'gpu' = workgroup-memory tiles. */
export type ScheduleChoice = 'auto' | 'cpu' | 'gpu';
export const SCHEDULE_CHOICES: readonly ScheduleChoice[] = ['auto', 'cpu', 'gpu'];

/**
 * Kernel choices for a device: CPU adapters get register-blocked schedules unless `schedule` (or
 * env TRANS3DHEAD_SCHEDULE) forces one, which is how the GPU schedules are tested on CPU adapters.
 */
export function tuningFor(ctx: GpuContext, schedule?: ScheduleChoice): Tuning {
  const s = pickOption<ScheduleChoice>(schedule ? 'the schedule option' : 'TRANS3DHEAD_SCHEDULE', schedule ?? (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.TRANS3DHEAD_SCHEDULE, SCHEDULE_CHOICES, 'auto');
  // The DEVICE's limits: a device gets the spec defaults unless it asked for more, whatever the adapter offers.
  const l = ctx.device.limits;
  return {
    cpuLike: s === 'auto' ? ctx.adapter.cpu : s === 'cpu',
    adapter: ctx.adapter.kind as AdapterKind,
    maxWorkgroupStorage: l.maxComputeWorkgroupStorageSize,
    maxInvocations: l.maxComputeInvocationsPerWorkgroup,
    maxWorkgroupsPerDim: l.maxComputeWorkgroupsPerDimension,
    maxStorageBuffers: l.maxStorageBuffersPerShaderStage,
  };
}
