// onnxruntime-node on the CPU, for bench/peers.ts (run in its own process so a time bound can end it):
//   node --import ./scripts/register.mjs bench/peers/ort-node.ts META.json [frames] [seconds] [threads]
// One warm-up frame, then timed frames until `frames` or `seconds`; the last line is JSON.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { compareOutputs, loadMeta, median } from './common.ts';

const [metaPath, frames = '10', seconds = '20', threads = String(cpus().length)] = process.argv.slice(2);
const meta = loadMeta(metaPath);
const dir = dirname(metaPath);
const bytes = readFileSync(join(dir, meta.input.file));
const input = new ort.Tensor('float32', new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4), meta.input.shape);

const t0 = performance.now();
const session = await ort.InferenceSession.create(join(dir, meta.onnx), {
  executionProviders: ['cpu'], intraOpNumThreads: Number(threads), interOpNumThreads: 1, graphOptimizationLevel: 'all',
});
const loadMs = performance.now() - t0;
let t = performance.now();
const out = await session.run({ input });
const firstMs = performance.now() - t;
const ms: number[] = [];
const start = performance.now();
while (ms.length < Number(frames) && performance.now() - start < Number(seconds) * 1000) {
  t = performance.now();
  await session.run({ input });
  ms.push(performance.now() - t);
}
const m = median(ms);
const pkg = JSON.parse(readFileSync(new URL('../../node_modules/onnxruntime-node/package.json', import.meta.url), 'utf8'));
console.log(JSON.stringify({
  fps: 1000 / m, msMedian: m, msMin: Math.min(...ms), frames: ms.length, batch: 1, firstMs, loadMs, threads: Number(threads),
  ...compareOutputs(meta, { params: out.params.data as Float32Array, landmarks: out.landmarks.data as Float32Array }),
  version: pkg.version,
}));
await session.release();
