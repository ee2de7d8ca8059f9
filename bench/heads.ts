// npm run bench:heads: the face detector's ms per frame on this adapter, and the whole pipeline
// (detect + one batched Trans3DHead run) in FPS with 1 and 4 heads, on composites of the sample
// photo (640x480: the head once, centred; and 2x2). Also video: runVideo's tracking frames.
//   --detector short|full (default short)  --detector-file f.tflite  --fake-detector (fixed faces: times alignment alone,
//   for when the BlazeFace detector is not built in)  --weights/--flame (default: built-in)
//   --config c.json (config overrides, e.g. test/fixtures/small/config.json)  --frames N (default 10)  --json out.json
import { readFileSync, writeFileSync } from 'node:fs';
import { nodePlatform, releaseDevice } from '../src/platform/node.ts';
import { Trans3DHead } from '../src/model/trans3dhead.ts';
import { decodeImage } from '../src/platform/node-io.ts';
import type { Face, FaceDetector } from '../src/detect/types.ts';
import type { RawImage } from '../src/platform/types.ts';

const arg = (name: string, def?: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : def; };
const frames = Number(arg('--frames', '10'));
const kind = arg('--detector', 'short') as 'short' | 'full';
const fake = process.argv.includes('--fake-detector');
const W = 640, H = 480;

const head = await decodeImage('test/fixtures/astronaut-head.png');
/** Pastes the head photo, unscaled, centred in each of cols x rows cells of a grey W x H canvas. */
function composite(cols: number, rows: number): { image: RawImage; faces: Face[] } {
  const data = new Uint8Array(W * H * 4).fill(96);
  const faces: Face[] = [];
  const c = head.channels ?? 4, src = head.data as Uint8Array;
  for (let gy = 0; gy < rows; gy++) for (let gx = 0; gx < cols; gx++) {
    const ox = Math.floor((gx + 0.5) * (W / cols) - head.width / 2), oy = Math.floor((gy + 0.5) * (H / rows) - head.height / 2);
    for (let y = 0; y < head.height; y++) for (let x = 0; x < head.width; x++) {
      const X = ox + x, Y = oy + y;
      if (X < 0 || Y < 0 || X >= W || Y >= H) continue;
      for (let k = 0; k < 3; k++) data[(Y * W + X) * 4 + k] = src[(y * head.width + x) * c + k];
    }
    // For --fake-detector: a face box about where the photo's face is (timing only).
    const s = 0.45 * head.width, cx = ox + head.width / 2, cy = oy + head.height * 0.5;
    const rel = [[-0.2, -0.1], [0.2, -0.1], [0, 0.05], [0, 0.25], [-0.45, 0], [0.45, 0]];
    faces.push({ box: { x: cx - s / 2, y: cy - s / 2, width: s, height: s }, keypoints: Float32Array.from(rel.flatMap(([u, v]) => [cx + s * u, cy + s * v])), score: 1 });
  }
  return { image: { data, width: W, height: H, channels: 4 }, faces };
}
const scenes = { one: composite(1, 1), four: composite(2, 2) };

let fakeFaces: Face[] = [];
const fakeDetector: FaceDetector = { detect: async () => fakeFaces.map((f) => ({ ...f })), dispose: async () => {} };
const configFile = arg('--config');
const model = await Trans3DHead.create(nodePlatform, { weights: arg('--weights'), flame: arg('--flame'), config: configFile ? JSON.parse(readFileSync(configFile, 'utf8')) : undefined, detector: fake ? fakeDetector : kind, detectorFile: arg('--detector-file') });
console.log(`adapter: ${model.adapter}; detector: ${fake ? 'fake (fixed faces: alignment alone)' : `BlazeFace ${kind} range`}`);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
async function time(fn: () => Promise<unknown>): Promise<{ median: number; first: number }> {
  const t0 = performance.now();
  await fn();
  const first = performance.now() - t0;
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < frames; i++) { const t = performance.now(); await fn(); ms.push(performance.now() - t); }
  return { median: median(ms), first };
}

const out: Record<string, unknown> = { adapter: model.ctx.adapter, detector: fake ? 'fake' : kind, frames };
try {
  for (const [name, scene] of Object.entries(scenes)) {
    fakeFaces = scene.faces;
    const found = await model.detect(scene.image);
    const det = await time(() => model.detect(scene.image));
    const heads = (await model.run(scene.image)).length;
    const all = await time(() => model.run(scene.image));
    model.resetVideo();
    let t = 0;
    const video = await time(() => model.runVideo(scene.image, (t += 33)));
    console.log(`${name} (${W}x${H}): ${found.length} faces, ${heads} heads aligned\n` +
      `  detector ${det.median.toFixed(1)} ms/frame (first ${det.first.toFixed(0)} ms)\n` +
      `  detect + align ${all.median.toFixed(1)} ms/frame = ${(1000 / all.median).toFixed(2)} FPS (${(1000 * heads / all.median).toFixed(2)} heads/s)\n` +
      `  runVideo (tracking frames, detector every 30) ${video.median.toFixed(1)} ms/frame = ${(1000 / video.median).toFixed(2)} FPS`);
    out[name] = { faces: found.length, heads, detectorMs: det.median, detectorFirstMs: det.first, pipelineMs: all.median, pipelineFps: 1000 / all.median, videoMs: video.median };
  }
} finally {
  await model.dispose();
  await releaseDevice();
}
const json = arg('--json');
if (json) { writeFileSync(json, JSON.stringify(out, null, 2)); console.log(`wrote ${json}`); }
