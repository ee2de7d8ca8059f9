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

/**
 * Tile shape of the matmul core (shaders/matmul.wgsl), shared by gemm and conv2d. `registers`:
 * TM x 4*TN4 outputs per invocation in registers, no workgroup memory (CPU adapters).
 * `tiled`: workgroup-memory tiles of (WG_Y*TM) x (WG_X*4*TN4) x BK (GPUs).
 */
export interface MatmulTiles { schedule: 'registers' | 'tiled'; TM: number; TN4: number; WG_X: number; WG_Y: number; BK: number }

/** The one tile table: default matmul tiles for an adapter and an M x N output. */
export function matmulTiles(t: Tuning, M: number, N: number): MatmulTiles {
  if (t.cpuLike) {
    // SwiftShader (measured, ResNet-50 shapes, worker-thread CPU time on 2 cores): 16 rows x 16
    // columns per invocation in 4x4 workgroups runs convs at 6.0-6.5 GFLOP/s against 4.1-4.5
    // for 8x8 and 3.1-3.5 for 4x16 (GEMMs 25-35% faster than 8x8: more FMAs per gathered
    // load); 16x32 and 32x16 gain under 5% but take 2-3x longer to compile (~10-17 s each).
    // Smaller tiles for skinny outputs.
    return { schedule: 'registers', TM: M >= 16 ? 16 : M >= 8 ? 8 : M >= 4 ? 4 : 1, TN4: Math.min(4, Math.ceil(N / 4)), WG_X: 4, WG_Y: 4, BK: 4 };
  }
  return { schedule: 'tiled', TM: 4, TN4: 1, WG_X: 16, WG_Y: 16, BK: 16 };
}
