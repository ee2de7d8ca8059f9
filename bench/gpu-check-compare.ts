// The GPU check's comparison of a result with the CPU adapter's (bench/gpu-check.ts): what
// travels in .gpucheck/expected.json, and the tolerances. Kept apart so a test can exercise it.
import type { HeadResult } from '../src/model/trans3dhead.ts';

// GPU vs CPU adapter, same weights and input. CI bounds each CPU adapter against PyTorch by the
// end-to-end tolerances (test/model-helpers.ts: 0.05 px, params 1e-3, rotation 1e-3, 0.05 deg,
// vertices 1e-4); an adapter within those of PyTorch is within twice those of another adapter.
export const TOLERANCES = { px: 0.1, params: 2e-3, rotation: 2e-3, poseDeg: 0.1, vertices: 2e-4, verticesSumAbsRel: 1e-4 };
/** Every VERTEX_STRIDE-th vertex travels in the expected JSON (with sums over all of them). */
export const VERTEX_STRIDE = 50;

const round = (xs: ArrayLike<number>) => Array.from(xs, (x) => Number(x.toPrecision(8)));

/** The subset of a result that travels: small, and enough to catch any wrong kernel. */
export function summarise(r: HeadResult) {
  const V = r.vertices.length / 3;
  const pick = (a: Float32Array, d: number) => { const o: number[] = []; for (let v = 0; v < V; v += VERTEX_STRIDE) for (let c = 0; c < d; c++) o.push(a[v * d + c]); return o; };
  let sumAbs = 0;
  for (const x of r.vertices) sumAbs += Math.abs(x);
  return {
    landmarks: round(r.landmarks), params: round(r.params), rotation: round(r.rotation),
    pose: { pitch: r.pose.pitch, yaw: r.pose.yaw, roll: r.pose.roll },
    vertices: round(pick(r.vertices, 3)), projectedVertices: round(pick(r.projectedVertices, 2)),
    verticesSumAbs: sumAbs, landmarks3d: r.landmarks3d ? round(r.landmarks3d) : undefined,
  };
}
export type Summary = ReturnType<typeof summarise>;

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) { const d = Math.abs(a[i] - b[i]); m = Number.isNaN(d) ? Infinity : Math.max(m, d); }
  return m;
};

/** Max |difference| per output and whether each is within TOLERANCES. */
export function compare(got: Summary, exp: Summary) {
  const T = TOLERANCES;
  const rows: [string, number, number][] = [
    ['landmarks (px)', maxDiff(got.landmarks, exp.landmarks), T.px],
    ['params', maxDiff(got.params, exp.params), T.params],
    ['rotation', maxDiff(got.rotation, exp.rotation), T.rotation],
    ['pose (deg)', maxDiff([got.pose.pitch, got.pose.yaw, got.pose.roll], [exp.pose.pitch, exp.pose.yaw, exp.pose.roll]), T.poseDeg],
    [`vertices (every ${VERTEX_STRIDE}th)`, maxDiff(got.vertices, exp.vertices), T.vertices],
    [`projected vertices (px, every ${VERTEX_STRIDE}th)`, maxDiff(got.projectedVertices, exp.projectedVertices), T.px],
    ['sum |vertices| (relative)', Math.abs(got.verticesSumAbs - exp.verticesSumAbs) / exp.verticesSumAbs, T.verticesSumAbsRel],
  ];
  if (exp.landmarks3d) rows.push(['landmarks3d', got.landmarks3d ? maxDiff(got.landmarks3d, exp.landmarks3d) : Infinity, T.vertices]);
  const checks = rows.map(([name, maxAbsDiff, tol]) => ({ name, maxAbsDiff, tol, ok: maxAbsDiff <= tol }));
  return { ok: checks.every((c) => c.ok), checks };
}

