// The Chromium side of bench/peers/browser.ts: runs one peer per call and returns its timing.
// Plain JavaScript, served as is. Frames: one warm-up (reported as firstMs, it includes shader
// compilation), then timed frames until `frames` or `seconds`, whichever comes first.
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b), n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const log = (s) => console.log(`[peers] ${s}`);

async function timeFrames(name, run, frames, seconds, deadline) {
  // Timed frames stop at `frames`, after `seconds`, or when the next one would likely end past
  // `deadline` (epoch ms; the caller's overall time bound).
  let t = performance.now();
  const first = await run();
  const firstMs = performance.now() - t;
  log(`${name}: warm-up ${(firstMs / 1000).toFixed(1)} s`);
  const ms = [];
  const start = performance.now();
  const fits = () => Date.now() + (ms.length ? median(ms) : firstMs) <= (deadline ?? Infinity);
  while (ms.length < frames && performance.now() - start < seconds * 1000 && fits()) {
    t = performance.now();
    await run();
    ms.push(performance.now() - t);
    log(`${name}: frame ${ms.length} ${(ms.at(-1) / 1000).toFixed(2)} s`);
  }
  if (!ms.length) {
    // No time for a timed frame: the warm-up (it includes compiling shaders) bounds ms/frame from above.
    return { first, result: { fps: 1000 / firstMs, msMedian: firstMs, frames: 0, batch: 1, firstMs, note: 'warm-up frame only (includes shader compilation): a lower bound on FPS' } };
  }
  const m = median(ms);
  return { first, result: { fps: 1000 / m, msMedian: m, msMin: Math.min(...ms), frames: ms.length, batch: 1, firstMs } };
}

async function adapterInfo() {
  const a = await navigator.gpu?.requestAdapter();
  if (!a) return 'no WebGPU adapter';
  const i = a.info ?? {};
  return [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ') + (a.isFallbackAdapter ? ' (fallback adapter)' : '');
}

/** ONNX Runtime Web: build = the dist file (ort.min.mjs: JSEP WebGPU + WASM; ort.webgpu.min.mjs: native WebGPU EP). */
async function ortWeb({ build, ep, meta, frames, seconds, deadline, threads }) {
  const ort = await import(`/ort/${build}`);
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.logLevel = 'error';
  const [model, input] = await Promise.all([
    fetch(`/model/${meta.onnx}`).then((r) => r.arrayBuffer()),
    fetch(`/model/${meta.input.file}`).then((r) => r.arrayBuffer()),
  ]);
  let t = performance.now();
  const session = await ort.InferenceSession.create(new Uint8Array(model), { executionProviders: [ep], graphOptimizationLevel: 'all' });
  const loadMs = performance.now() - t;
  log(`ort-web ${ep} (${build}): session ${(loadMs / 1000).toFixed(1)} s`);
  const x = new ort.Tensor('float32', new Float32Array(input), meta.input.shape);
  const { first, result } = await timeFrames(`ort-web ${ep} (${build})`, () => session.run({ input: x }), frames, seconds, deadline);
  const diff = (a, b) => b.reduce((m, v, i) => Math.max(m, Math.abs(a[i] - v)), 0);
  const out = {
    ...result, loadMs, threads: ep === 'wasm' ? threads : undefined, version: ort.env.versions?.web,
    maxAbsDiffParams: diff(first.params.data, meta.outputs.params[1]),
    maxAbsDiffLandmarks: diff(first.landmarks.data, meta.outputs.landmarks[1]),
    adapter: ep === 'webgpu' ? await adapterInfo() : `WASM, ${threads} threads, crossOriginIsolated ${self.crossOriginIsolated}`,
  };
  await session.release();
  return out;
}

/** Our engine from the browser bundle (npm run build -> dist/browser), whole pipeline on the photo. */
async function ours({ bundle, frames, seconds, deadline }) {
  const lib = await import(`/ours/${bundle}`);
  let t = performance.now();
  const model = await lib.createModel({});
  const loadMs = performance.now() - t;
  const image = await createImageBitmap(await (await fetch('/image')).blob());
  const { result } = await timeFrames('ours', () => model.run(image), frames, seconds, deadline);
  const a = model.adapter ?? model.ctx?.adapter;
  const out = { ...result, loadMs, adapter: typeof a === 'string' ? a : a ? JSON.stringify(a) : await adapterInfo() };
  await model.dispose();
  return out;
}

window.peers = { ortWeb, ours, adapterInfo };
window.peersReady = true;
