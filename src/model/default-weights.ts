// The built-in default model: full-size, seeded, UNTRAINED weights with SPEC.md's names, so the
// engine runs end to end before a user has a checkpoint. Its numbers are not a prediction.
import type { StateDict } from '../io/tensor.ts';
import { expectedShapes, type Trans3DHeadConfig } from './config.ts';

export const DEFAULT_WEIGHTS_SEED = 20261124;

function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** A 68-point iBUG-style face layout in normalised crop coordinates (x right, y down). */
function averageFace(): Float32Array {
  const pts: [number, number][] = [];
  for (let i = 0; i < 17; i++) { // jaw: a U from ear to ear
    const a = Math.PI * (1 - i / 16);
    pts.push([0.5 + 0.33 * Math.cos(a), 0.42 + 0.38 * Math.sin(a) * (i > 0 && i < 16 ? 1 : 0.9)]);
  }
  for (let i = 0; i < 10; i++) { // eyebrows: left outer -> inner, then right inner -> outer
    const t = (i % 5) / 4;
    const x = i < 5 ? 0.24 + 0.2 * t : 0.56 + 0.2 * t;
    pts.push([x, 0.33 - 0.03 * Math.sin(Math.PI * (i < 5 ? t : 1 - t))]);
  }
  for (let i = 0; i < 4; i++) pts.push([0.5, 0.4 + 0.045 * i]); // nose bridge
  for (let i = 0; i < 5; i++) pts.push([0.44 + 0.03 * i, 0.6 - 0.01 * Math.abs(i - 2)]); // nostrils
  for (const cx of [0.36, 0.64]) for (let i = 0; i < 6; i++) { // eyes
    const a = Math.PI - (2 * Math.PI * i) / 6;
    pts.push([cx + 0.055 * Math.cos(a), 0.41 - 0.02 * Math.sin(a)]);
  }
  for (let i = 0; i < 12; i++) { const a = Math.PI - (2 * Math.PI * i) / 12; pts.push([0.5 + 0.11 * Math.cos(a), 0.72 - 0.04 * Math.sin(a)]); } // outer lips
  for (let i = 0; i < 8; i++) { const a = Math.PI - (2 * Math.PI * i) / 8; pts.push([0.5 + 0.07 * Math.cos(a), 0.72 - 0.015 * Math.sin(a)]); } // inner lips
  return Float32Array.from(pts.flat());
}

/**
 * Seeded weights with trained-like scales: He-normal convs, BatchNorm near identity with the
 * last BN of each residual branch damped (activations stay O(1) through 16 blocks), Xavier
 * linears, small prediction heads (params ~0.1, landmarks near the average face).
 */
export function defaultWeights(cfg: Trans3DHeadConfig, seed = DEFAULT_WEIGHTS_SEED): StateDict {
  const sd: StateDict = new Map();
  let k = 0;
  for (const [key, shape] of expectedShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const rand = gaussian(seed + 7919 * k++);
    const fill = (std: number, mean = 0) => { for (let i = 0; i < n; i++) data[i] = mean + std * rand(); };
    const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : shape[0];
    const fanOut = shape[0];
    if (key === 'landmark_branch.avg_face') data.set(averageFace());
    else if (/\.(bn\d|downsample\.1)\.weight$/.test(key)) fill(0.05, /bn3/.test(key) ? 0.2 : 1);
    else if (/\.(bn\d|downsample\.1)\.running_var$/.test(key)) for (let i = 0; i < n; i++) data[i] = 1 + 0.2 * Math.abs(rand());
    else if (/\.(bn\d|downsample\.1)\.(bias|running_mean)$/.test(key)) fill(0.05);
    else if (/conv\d\.weight$|downsample\.0\.weight$/.test(key)) fill(Math.sqrt(2 / fanIn));
    else if (/norm\d?\.weight$/.test(key)) fill(0.05, 1);
    else if (key.endsWith('query_embed.weight')) fill(1);
    else if (key.startsWith('params_branch.head.')) fill(key.endsWith('weight') ? 0.1 / Math.sqrt(cfg.d_model) : 0);
    else if (/residual_heads\.\d+\.layers\.2\./.test(key)) fill(key.endsWith('weight') ? 0.02 / Math.sqrt(cfg.d_model) : 0);
    else if (key.endsWith('.weight') || key.endsWith('in_proj_weight')) fill(Math.sqrt(2 / (fanIn + fanOut)));
    else fill(0.02); // biases
    sd.set(key, { shape: [...shape], data });
  }
  return sd;
}
