// Shared by the peer runners: the export's metadata (python/export_onnx.py writes it) and small helpers.
import { readFileSync } from 'node:fs';

export interface ExportMeta {
  onnx: string;
  pth: string;
  config: Record<string, unknown>;
  weights: string;
  parameters: number;
  opset: number;
  input: { name: string; shape: number[]; file: string; image: string };
  /** PyTorch's outputs on the input: name -> [shape, flat values]. */
  outputs: Record<'params' | 'landmarks', [number[], number[]]>;
  included: string;
  excluded: string;
}

/** What every peer runner prints as its last line. */
export interface PeerResult {
  fps: number;
  msMedian: number;
  /** The fastest timed frame: on a shared machine, the least disturbed. */
  msMin?: number;
  frames: number;
  batch: number;
  firstMs?: number;
  loadMs?: number;
  threads?: number;
  maxAbsDiffParams?: number;
  maxAbsDiffLandmarks?: number;
  version?: string;
  adapter?: string;
  note?: string;
}

export const loadMeta = (path: string): ExportMeta => JSON.parse(readFileSync(path, 'utf8'));

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Max |peer - PyTorch| per output: shows the peer ran the same model on the same input. */
export function compareOutputs(meta: ExportMeta, out: { params: ArrayLike<number>; landmarks: ArrayLike<number> }) {
  const diff = (a: ArrayLike<number>, b: number[]) => b.reduce((m, v, i) => Math.max(m, Math.abs(a[i] - v)), 0);
  return { maxAbsDiffParams: diff(out.params, meta.outputs.params[1]), maxAbsDiffLandmarks: diff(out.landmarks, meta.outputs.landmarks[1]) };
}
