// Adapter-dependent kernel choices: the schedule (CPU register tiles or GPU workgroup tiles),
// and the one tile table the kernels read (gemm and the implicit-GEMM conv share an entry:
// the same matmul core). The adapter's kind comes from its report (platform/types.ts kindOf),
// the one definition describeAdapter also uses.
import type { AdapterKind, GpuContext } from '../platform/types.ts';
import { describeAdapter, pickOption } from '../platform/types.ts';
import type { Tuning } from './graph.ts';

/** Which schedules kernels use: 'cpu' = register-blocked (CPU adapters), 'gpu' = workgroup-memory tiles. */
export type ScheduleChoice = 'auto' | 'cpu' | 'gpu';
export const SCHEDULE_CHOICES: readonly ScheduleChoice[] = ['auto', 'cpu', 'gpu'];

/** Arithmetic of the matmul core (gemm, conv): 'f32', or 'f16' products with f32 accumulation. */
export type ComputePrecision = 'f32' | 'f16';
export const COMPUTE_CHOICES: readonly ComputePrecision[] = ['f32', 'f16'];

/**
 * A GEMM-like schedule. `registers`: each invocation owns TM x 4*TN4 outputs in registers, no
 * workgroup memory (TM shrinks for matrices of fewer rows). `tiled`: workgroup-memory tiles of
 * (WG_Y*TM) x (WG_X*4*TN4) x BK.
 */
export interface MatmulTiles { schedule: 'registers' | 'tiled'; TM: number; TN4: number; WG_X: number; WG_Y: number; BK: number }

export interface KindTiles {
  /** gemm and conv2d. */
  matmul: MatmulTiles;
  /** Register schedule of attention: at most maxTQ queries per invocation and regs vec4s per
   *  register array (queries x head-dim vec4s), keys in blocks of KB, WG invocations. */
  attention: { maxTQ: number; regs: number; KB: number; WG: number };
}

/**
 * Measured per adapter kind (bench/schedules.ts; pipeline compile time counts as much as speed:
 * every variant is compiled on each start).
 * - SwiftShader (Subzero JIT): 16 rows x 16 channels per invocation in 4x4 workgroups, 6.0-6.5
 *   GFLOP/s against 4.1-4.5 for 8x8 and 3.1-3.5 for 4x16 (worker CPU time, 2 cores); 16x32 and
 *   32x16 gain under 5% but take 2-3x longer to compile (~10-17 s each).
 * - lavapipe (llvmpipe: LLVM, invocations as 8 SIMD lanes): LLVM's compile time grows steeply
 *   with the unrolled tile (one gemm pipeline: 4x4 0.4 s, 8x8 1.4 s, 16x16 6-9 s CPU) while
 *   speed peaks at 4x4 in 8x8 workgroups (gemm 4096x256x256: 4x4 8.5, 8x8 5.9, 16x16 6.4
 *   GFLOP/s from process CPU time; the workgroup-memory schedule 2-3).
 * - GPUs: workgroup-memory tiles (not yet measured on one).
 */
const SWIFTSHADER: KindTiles = {
  matmul: { schedule: 'registers', TM: 16, TN4: 4, WG_X: 4, WG_Y: 4, BK: 4 },
  attention: { maxTQ: 16, regs: 64, KB: 4, WG: 4 },
};
export const TILES: Record<AdapterKind, KindTiles> = {
  swiftshader: SWIFTSHADER,
  // A CPU adapter we have not measured (WARP, ...) gets SwiftShader's choices.
  cpu: SWIFTSHADER,
  // Attention (413 queries x 64 keys, 8 heads of 32) on lavapipe, compile / steady CPU time:
  // TQ 1 KB 1 1.6-2.0 s / 24-27 ms, TQ 2 KB 1 4.4 s / 14 ms, TQ 1 KB 4 7-10 s / 28-53 ms,
  // TQ 8 KB 4 (SwiftShader's) 36 s; the workgroup-memory schedule 43 s / 42 ms.
  lavapipe: {
    matmul: { schedule: 'registers', TM: 4, TN4: 1, WG_X: 8, WG_Y: 8, BK: 4 },
    attention: { maxTQ: 1, regs: 64, KB: 1, WG: 64 },
  },
  // Only matmul is read for GPUs: attention has its own workgroup-memory schedule there.
  gpu: { matmul: { schedule: 'tiled', TM: 4, TN4: 1, WG_X: 16, WG_Y: 16, BK: 16 }, attention: { maxTQ: 1, regs: 0, KB: 16, WG: 64 } },
};

/** The table entry kernels use: GPU schedules unless `cpuLike` (forced either way by `schedule`). */
export function tilesFor(t: Tuning): KindTiles {
  if (!t.cpuLike) return TILES.gpu;
  return TILES[t.kind === 'gpu' ? 'cpu' : t.kind];
}

/** gemm/conv tiles for an M x N output: register tiles shrink to skinny outputs (no registers
 *  for rows or columns that do not exist). */
export function matmulTiles(t: Tuning, M: number, N: number): MatmulTiles {
  const base = tilesFor(t).matmul;
  if (base.schedule === 'tiled') return base;
  const TM = [16, 8, 4, 1].find((v) => v <= base.TM && v <= M) ?? 1;
  return { ...base, TM, TN4: Math.min(base.TN4, Math.ceil(N / 4)) };
}

/** The matmul core's F16 flag for these tiles: its tiled schedule sums K in groups of 4. */
export function f16Flag(t: Tuning, tiles: MatmulTiles, where: string): boolean {
  if (t.f16 && tiles.schedule === 'tiled' && tiles.BK % 4) throw new Error(`${where}: compute 'f16' needs BK to be a multiple of 4 (tiles have BK ${tiles.BK})`);
  return t.f16;
}

/**
 * Kernel choices for a device: CPU adapters get register-blocked schedules unless `schedule` (or
 * env TRANS3DHEAD_SCHEDULE) forces one, which is how the GPU schedules are tested on CPU adapters.
 * `compute` 'f16' (no env variable: tests and tolerances assume f32) needs `shader-f16`.
 */
export function tuningFor(ctx: GpuContext, schedule?: ScheduleChoice, compute?: ComputePrecision): Tuning {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
  const s = pickOption<ScheduleChoice>(schedule ? 'the schedule option' : 'TRANS3DHEAD_SCHEDULE', schedule ?? env?.TRANS3DHEAD_SCHEDULE, SCHEDULE_CHOICES, 'auto');
  const c = pickOption<ComputePrecision>('the compute option', compute, COMPUTE_CHOICES, 'f32');
  if (c === 'f16' && !ctx.device.features.has('shader-f16')) {
    throw new TypeError(`compute 'f16' needs the WebGPU feature shader-f16, which this device (${describeAdapter(ctx.adapter)}) lacks` +
      ` (SwiftShader has none; lavapipe from Mesa 25 and most GPUs have it). Use compute 'f32' (the default) or another adapter.`);
  }
  // The DEVICE's limits: a device gets the spec defaults unless it asked for more, whatever the adapter offers.
  const l = ctx.device.limits;
  return {
    kind: ctx.adapter.kind,
    cpuLike: s === 'auto' ? ctx.adapter.cpu : s === 'cpu',
    maxWorkgroupStorage: l.maxComputeWorkgroupStorageSize,
    maxInvocations: l.maxComputeInvocationsPerWorkgroup,
    maxWorkgroupsPerDim: l.maxComputeWorkgroupsPerDimension,
    maxStorageBuffers: l.maxStorageBuffersPerShaderStage,
    f16: c === 'f16',
  };
}
