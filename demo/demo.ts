// The demo page. It imports the package's browser bundle (scripts/build.mjs maps
// '../src/browser.ts' to dist/browser/trans3dhead.js), so it runs exactly what the package ships.
// URL parameters: weights=, flame=, config= (JSON or a URL), stripPrefix=, detectorFile= (BlazeFace .tflite URL),
// redetect=N (video: detect at least every N frames), sample=1, run=1.
import {
  createModel, getDevice, describeAdapter, OverlayRenderer, parseWeights, weightsToSafetensors,
  type GpuContext, type HeadResult, type OverlayFrame, type Trans3DHead, type Trans3DHeadConfig,
} from '../src/browser.ts';

const SAMPLE = new URL('../test/fixtures/astronaut-head.png', document.baseURI).href; // relative to the page (/demo/)
const DISPLAY_MAX = 2048; // the photo shown is at most this big; the model gets the full image
const MAX_SIDE = 16384; // src/model/image.ts

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const canvas = $<HTMLCanvasElement>('overlay');
const boxCanvas = $<HTMLCanvasElement>('boxes');
const video = $<HTMLVideoElement>('video');
const params = new URLSearchParams(location.search);

interface Photo { input: ImageBitmap; display: ImageBitmap; width: number; height: number; name: string }
type ModelSource = { weights?: string | File; flame?: string | File; config?: Partial<Trans3DHeadConfig>; stripPrefix?: string };

/** What the page shows, for people and for the browser tests (window.trans3dheadDemo). */
const state = {
  status: 'starting' as 'starting' | 'ready' | 'loading' | 'running' | 'done' | 'error' | 'no-webgpu',
  error: '' as string,
  runs: 0,
  /** The largest head's result (null when no head was found). */
  result: null as HeadResult | null,
  /** Heads aligned in the last frame, and the time per stage (ms) of that frame. */
  heads: 0,
  timings: { detectorMs: 0, trans3dheadMs: 0 },
  /** Why there is no face detector ('' when there is one): the whole image is then the head crop. */
  noDetector: '',
  adapter: '',
  stages: null as { stage: string; ms: number }[] | null,
};
(window as unknown as { trans3dheadDemo: typeof state }).trans3dheadDemo = state;

let ctx: GpuContext | null = null;
let model: Trans3DHead | null = null;
let modelKey = '';
let renderer: OverlayRenderer | null = null;
let photo: Photo | null = null;
let lastFrame: OverlayFrame[] | null = null;
let busy = false;
let webcam: MediaStream | null = null;
/** Live input (webcam or a video file) runs runVideo frame by frame while this is set. */
let live: 'webcam' | 'file' | null = null;

// ---------------------------------------------------------------- messages and progress

function showError(e: unknown, context = ''): void {
  const err = e as Error;
  const name = err?.name ?? '';
  const what = name === 'NoAdapterError' ? 'WebGPU is not available' :
    name === 'WeightFileError' ? 'This weight/FLAME file cannot be used' :
    name === 'InputError' ? 'This image cannot be used' :
    name === 'DeviceLostError' ? 'The GPU device was lost' : context || 'Error';
  const msg = `${what}: ${err?.message ?? String(e)}`;
  $('error').textContent = msg;
  $('error').hidden = false;
  state.error = msg;
  if (state.status !== 'no-webgpu') state.status = 'error';
  console.error(e);
}

function clearError(): void { $('error').hidden = true; state.error = ''; }

function progress(label: string | null, fraction?: number): void {
  $('progress').hidden = label === null;
  if (label === null) return;
  $('progress-label').textContent = label;
  const bar = $<HTMLProgressElement>('progress-bar');
  if (fraction === undefined) bar.removeAttribute('value'); // indeterminate
  else bar.value = fraction;
}

function setBusy(b: boolean): void {
  busy = b;
  const ready = !!ctx && !b;
  for (const id of ['run', 'profile', 'load', 'sample']) $<HTMLButtonElement>(id).disabled = !ready || (id !== 'load' && id !== 'sample' && !photo);
}

// ---------------------------------------------------------------- images

async function decode(blob: Blob, name: string): Promise<ImageBitmap> {
  try {
    // No colour management: the same pixels Node's PNG/JPEG decoders give, so the same numbers.
    return await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw Object.assign(new Error(`${name} could not be decoded as an image (${blob.type || 'unknown type'}, ${blob.size} bytes). Use a PNG, JPEG or WebP photo.`), { name: 'InputError' });
  }
}

function checkSize(w: number, h: number, name: string): void {
  const maxBytes = Math.min(Number(ctx?.adapter.limits.maxStorageBufferBindingSize) || 134217728, 1 << 30);
  if (w > MAX_SIDE || h > MAX_SIDE || w * h * 4 > maxBytes) {
    throw Object.assign(new Error(`${name} is ${w}x${h}: too large for this GPU (largest side ${MAX_SIDE}, at most ${(maxBytes / 4 / 1e6).toFixed(0)} megapixels). Crop it to the head or downscale it.`), { name: 'InputError' });
  }
}

async function setPhoto(input: ImageBitmap, name: string): Promise<void> {
  checkSize(input.width, input.height, name);
  const s = Math.min(1, DISPLAY_MAX / Math.max(input.width, input.height));
  const display = s < 1 ? await createImageBitmap(input, { resizeWidth: Math.round(input.width * s), resizeHeight: Math.round(input.height * s), resizeQuality: 'high' }) : input;
  if (photo && photo.display !== photo.input) photo.display.close();
  if (photo && photo.input !== input) photo.input.close();
  photo = { input, display, width: input.width, height: input.height, name };
  lastFrame = null;
  $('image-info').textContent = `${name}: ${input.width}x${input.height}`;
  if (renderer) { renderer.setPhoto(display, photo); renderer.draw(); } else drawPlain(display);
  setBusy(busy);
}

/** Before a model (and its renderer) exists: show the photo with a plain 2D copy on a stand-in canvas. */
function drawPlain(img: ImageBitmap): void {
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  c.getContext('2d')!.drawImage(img, 0, 0);
  c.id = 'preview';
  c.className = 'preview';
  c.style.cssText = 'width:100%;max-width:768px;border-radius:6px';
  document.getElementById('preview')?.remove();
  canvas.hidden = true;
  canvas.before(c);
}

async function loadSample(): Promise<void> {
  const r = await fetch(SAMPLE);
  if (!r.ok) throw new Error(`cannot load the sample photo (${SAMPLE}): HTTP ${r.status}`);
  await setPhoto(await decode(await r.blob(), 'astronaut-head.png'), 'astronaut-head.png (sample)');
}

// ---------------------------------------------------------------- model

async function configOverrides(): Promise<Partial<Trans3DHeadConfig> | undefined> {
  const text = ($<HTMLInputElement>('config').value || params.get('config') || '').trim();
  if (!text) return undefined;
  let json = text;
  if (!text.startsWith('{')) {
    const r = await fetch(text);
    if (!r.ok) throw new Error(`cannot load the config ${text}: HTTP ${r.status}`);
    json = await r.text();
  }
  try { return JSON.parse(json); } catch (e) { throw new Error(`the config overrides are not valid JSON: ${(e as Error).message}`); }
}

function sources(): ModelSource {
  const file = (id: string) => $<HTMLInputElement>(id).files?.[0];
  const url = (id: string, p: string) => $<HTMLInputElement>(id).value.trim() || params.get(p) || undefined;
  return {
    weights: file('weights-file') ?? url('weights-url', 'weights'),
    flame: file('flame-file') ?? url('flame-url', 'flame'),
    stripPrefix: $<HTMLInputElement>('strip-prefix').value.trim() || params.get('stripPrefix') || undefined,
  };
}

const describe = (s: string | File | undefined) => (s === undefined ? '' : typeof s === 'string' ? s : `file:${s.name}:${s.size}:${s.lastModified}`);

async function ensureModel(): Promise<Trans3DHead> {
  const src = sources();
  src.config = await configOverrides();
  const key = JSON.stringify([describe(src.weights), describe(src.flame), src.config ?? null, src.stripPrefix ?? null]);
  if (model && key === modelKey) return model;
  const old = model;
  model = null;
  lastFrame = null;
  renderer?.dispose();
  renderer = null;
  await old?.dispose();
  const span: Record<string, [number, number, string]> = { weights: [0, 0.6, 'loading weights'], flame: [0.6, 0.75, 'loading FLAME'], device: [0.75, 0.8, 'getting the GPU device'] };
  progress(src.weights ? 'loading weights' : 'making the built-in default weights', 0);
  const m = await createModel({
    weights: src.weights, flame: src.flame, config: src.config, stripPrefix: src.stripPrefix, device: ctx!,
    // The BlazeFace .tflite: ?detectorFile=URL (the page cannot read node_modules).
    detectorFile: params.get('detectorFile') ?? undefined,
    onProgress: (stage, f) => {
      const [a, b, label] = span[stage] ?? [0.8, 0.8, stage];
      progress(`${label}${f > 0 && f < 1 ? ` ${(100 * f).toFixed(0)}%` : ''}`, a + (b - a) * f);
    },
  });
  progress('compiling the render pipelines', 0.8);
  renderer = await OverlayRenderer.create(m.ctx.device, canvas, { faces: m.flame.faces, vertices: m.flame.V, landmarks: m.config.num_landmarks });
  model = m;
  modelKey = key;
  const name = (s: string | File | undefined, none: string) => (s === undefined ? none : typeof s === 'string' ? s.split('/').pop()! : s.name);
  const c = m.config;
  $('model-info').textContent = `weights: ${name(src.weights, 'built-in default (untrained)')}; FLAME: ${name(src.flame, 'synthetic')}; ` +
    `d_model ${c.d_model}, ${c.num_layers} layers, ResNet width ${c.backbone.width}`;
  const fake = [m.synthetic.weights && '<b>the built-in untrained weights</b>', m.synthetic.flame && '<b>the synthetic FLAME</b> (a stand-in head model)'].filter(Boolean);
  $('synthetic-what').innerHTML = fake.join(' and ');
  $('synthetic').hidden = fake.length === 0;
  $<HTMLButtonElement>('save-safetensors').disabled = src.weights === undefined;
  document.getElementById('preview')?.remove();
  canvas.hidden = false;
  if (photo) { renderer.setPhoto(photo.display, photo); renderer.draw(); }
  return m;
}

/** The converter, in the page: re-reads the weights (a .pth, say) and offers our .safetensors. */
async function saveSafetensors(): Promise<void> {
  const src = sources();
  if (!src.weights) return;
  const bytes = typeof src.weights === 'string' ? new Uint8Array(await (await fetch(src.weights)).arrayBuffer()) : new Uint8Array(await src.weights.arrayBuffer());
  const name = typeof src.weights === 'string' ? src.weights.split('/').pop()! : src.weights.name;
  const w = parseWeights(bytes, name, { config: await configOverrides(), stripPrefix: src.stripPrefix });
  const out = weightsToSafetensors(w.sd, w.config);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([out as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  a.download = name.replace(/\.(pth|pt|bin|ckpt|safetensors)$/i, '') + '.safetensors';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---------------------------------------------------------------- running and drawing

const fmtDeg = (v: number) => `${v.toFixed(2)}°`;

function show(results: HeadResult[], wallMs: number, fps?: number): void {
  const r = results[0];
  $('pitch').textContent = r ? fmtDeg(r.pose.pitch) : '–';
  $('yaw').textContent = r ? fmtDeg(r.pose.yaw) : '–';
  $('roll').textContent = r ? fmtDeg(r.pose.roll) : '–';
  $('run-ms').textContent = `${wallMs.toFixed(0)} ms`;
  $('fps').textContent = (fps ?? 1000 / wallMs).toFixed(fps !== undefined && fps >= 10 ? 0 : 2);
  $('heads').textContent = state.noDetector ? '1 (whole image: no face detector)' : String(results.length);
  $('heads').title = state.noDetector;
  $('detector-ms').textContent = state.noDetector ? 'none' : state.timings.detectorMs ? `${state.timings.detectorMs.toFixed(1)} ms` : (live ? 'tracking' : '–');
  $('align-ms').textContent = `${state.timings.trans3dheadMs.toFixed(1)} ms`;
}

/** Head boxes (the crop, green) and face detections (yellow) on the 2D canvas over the overlay. */
function drawBoxes(): void {
  boxCanvas.width = canvas.width; boxCanvas.height = canvas.height;
  const g = boxCanvas.getContext('2d')!;
  g.clearRect(0, 0, boxCanvas.width, boxCanvas.height);
  if (!renderer || !lastFrame || !$<HTMLInputElement>('show-boxes').checked) return;
  const s = renderer.scale;
  g.lineWidth = Math.max(1.5, canvas.width / 400);
  g.font = `${Math.max(11, Math.round(canvas.width / 45))}px system-ui, sans-serif`;
  for (const [i, { result: r }] of lastFrame.entries()) {
    if (!r.face && r.trackId === undefined) continue; // a given box or the whole image: nothing to show
    const b = r.crop.box;
    g.strokeStyle = '#3ddc84';
    g.strokeRect(b.x * s, b.y * s, b.width * s, b.height * s);
    g.fillStyle = '#3ddc84';
    g.fillText(`${r.trackId !== undefined ? `#${r.trackId}` : `${i + 1}`}  ${r.pose.yaw.toFixed(0)}° yaw`, b.x * s + 4, b.y * s + g.lineWidth + 12);
    if (r.face) {
      const f = r.face.box;
      g.strokeStyle = '#ffd54a';
      g.strokeRect(f.x * s, f.y * s, f.width * s, f.height * s);
    }
  }
}

function redraw(): void {
  if (!renderer || !photo) return;
  renderer.draw(lastFrame ?? undefined, {
    mesh: $<HTMLInputElement>('show-mesh').checked,
    landmarks: $<HTMLInputElement>('show-landmarks').checked,
    axes: $<HTMLInputElement>('show-axes').checked,
  });
  drawBoxes();
}

function showStages(stages: { stage: string; ms: number }[], total: number): void {
  const body = $('stages').querySelector('tbody')!;
  body.textContent = '';
  const max = Math.max(...stages.map((s) => s.ms), 1e-9);
  for (const s of [...stages, { stage: 'total', ms: total }]) {
    const tr = body.insertRow();
    tr.insertCell().textContent = s.stage;
    tr.insertCell().textContent = s.ms.toFixed(2);
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.width = `${s.stage === 'total' ? 0 : Math.round((120 * s.ms) / max)}px`;
    tr.insertCell().append(bar);
  }
  $('stages').hidden = false;
}

/** Every head of the image (or, live, of the video frame), whole image when detection is off or not built in. */
async function heads(m: Trans3DHead, p: Photo, timestampMs?: number): Promise<HeadResult[]> {
  if (!$<HTMLInputElement>('detect-heads').checked || state.noDetector) return [await m.run(p.input, { box: 'image' })];
  try {
    const every = Math.max(1, Math.round(Number($<HTMLInputElement>('redetect').value) || 30));
    if (timestampMs !== undefined) return await m.runVideo(p.input, timestampMs, { smoothing: $<HTMLInputElement>('smooth').checked, redetectEvery: every });
    return await m.run(p.input);
  } catch (e) {
    // No BlazeFace detector built in, or no .tflite given (?detectorFile=): say so, use the whole image.
    if (!/no BlazeFace detector|face detector file/.test((e as Error).message)) throw e;
    state.noDetector = (e as Error).message;
    console.warn((e as Error).message);
    return [await m.run(p.input, { box: 'image' })];
  }
}

/** One image (or live frame) through the model, then one render pass from the graphs' output buffers. */
async function runOnce(profile = false, timestampMs?: number): Promise<void> {
  if (!photo) throw new Error('choose a photo first');
  const m = await ensureModel();
  const p = photo;
  if (!live) progress('compiling GPU pipelines (once per image size)…');
  await m.prepare(p.width, p.height, 4, 1);
  if (!live) progress(profile ? 'running with GPU timestamps…' : 'running…');
  state.status = 'running';
  const t0 = performance.now();
  let results: HeadResult[];
  if (profile) {
    const out = await m.profile(p.input, { box: 'image' });
    results = [out.result];
    const byStage = new Map<string, number>();
    for (const n of out.profile.nodes) byStage.set(n.stage || n.kernel, (byStage.get(n.stage || n.kernel) ?? 0) + n.ms);
    state.stages = [...byStage].map(([stage, ms]) => ({ stage, ms }));
    showStages(state.stages, out.profile.gpuMs);
  } else results = await heads(m, p, timestampMs);
  const wall = performance.now() - t0;
  if (photo !== p) return; // a new photo came in meanwhile
  state.timings = { ...m.timings };
  if (profile) state.timings = { detectorMs: 0, trans3dheadMs: wall };
  lastFrame = results.flatMap((r) => { const src = m.renderSource(r); return src ? [{ graph: src.graph, batch: src.batch, result: r }] : []; });
  renderer!.setPhoto(p.display, p);
  redraw();
  show(results, wall);
  state.result = results[0] ?? null;
  state.heads = results.length;
  state.runs++;
  state.status = 'done';
  progress(null);
}

/** Webcam or video file: frame after frame through runVideo (tracking between detections). */
async function liveLoop(): Promise<void> {
  let frames = 0, t0 = performance.now(), fps = 0;
  (await ensureModel()).resetVideo();
  while (live) {
    if (video.readyState < 2) { await new Promise((r) => setTimeout(r, 50)); continue; }
    const bitmap = await createImageBitmap(video);
    const name = live === 'webcam' ? 'webcam' : 'video';
    if (!photo || photo.width !== bitmap.width || photo.height !== bitmap.height || !photo.name.startsWith(name)) await setPhoto(bitmap, name);
    else { photo.input.close(); photo = { ...photo, input: bitmap, display: bitmap }; }
    const tr = performance.now();
    await runOnce(false, tr);
    frames++;
    const now = performance.now();
    if (now - t0 > 1000) { fps = (frames * 1000) / (now - t0); frames = 0; t0 = now; }
    if (fps) show(lastFrame?.map((f) => f.result) ?? [], now - tr, fps);
  }
}

async function stopLive(): Promise<void> {
  if (webcam) for (const t of webcam.getTracks()) t.stop();
  webcam = null;
  live = null;
  video.pause();
  video.srcObject = null;
  const button = $('webcam');
  button.classList.remove('active');
  button.textContent = 'Webcam';
}

async function playVideoFile(f: File): Promise<void> {
  await stopLive();
  video.src = URL.createObjectURL(f);
  video.loop = true;
  try { await video.play(); } catch (e) {
    throw Object.assign(new Error(`${f.name} cannot be played here (${(e as Error).message}); try an MP4 (H.264) or WebM file`), { name: 'InputError' });
  }
  live = 'file';
  await guarded(liveLoop, 'Video');
}

async function toggleWebcam(): Promise<void> {
  const button = $('webcam');
  if (webcam) { await stopLive(); return; }
  await stopLive();
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser gives no camera access here (it needs https or localhost)');
  try {
    webcam = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  } catch (e) {
    throw new Error(`no webcam: ${(e as Error).message}`);
  }
  video.removeAttribute('src');
  video.srcObject = webcam;
  await video.play();
  live = 'webcam';
  button.classList.add('active');
  button.textContent = 'Stop webcam';
  await guarded(liveLoop, 'Webcam');
}

// ---------------------------------------------------------------- wiring

async function guarded(fn: () => Promise<void>, context: string): Promise<void> {
  if (busy && fn !== liveLoop) return;
  clearError();
  setBusy(true);
  try { await fn(); } catch (e) {
    showError(e, context);
    if (live) await stopLive().catch(() => {});
  } finally { progress(null); setBusy(false); }
}

function wire(): void {
  $('sample').addEventListener('click', () => guarded(loadSample, 'Sample photo'));
  $<HTMLInputElement>('photo-file').addEventListener('change', (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f) guarded(async () => setPhoto(await decode(f, f.name), f.name), 'Photo');
  });
  $('webcam').addEventListener('click', () => { if (webcam) toggleWebcam(); else toggleWebcam().catch((e) => showError(e, 'Webcam')); });
  $('load').addEventListener('click', () => guarded(async () => { await ensureModel(); state.status = 'ready'; }, 'Model'));
  $('run').addEventListener('click', () => guarded(() => runOnce(false), 'Run'));
  $('profile').addEventListener('click', () => guarded(() => runOnce(true), 'Profile'));
  $('save-safetensors').addEventListener('click', () => guarded(saveSafetensors, 'Convert'));
  for (const id of ['show-mesh', 'show-landmarks', 'show-axes', 'show-boxes']) $(id).addEventListener('change', redraw);
  $<HTMLInputElement>('video-file').addEventListener('change', (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f) playVideoFile(f).catch((e) => showError(e, 'Video'));
  });
  for (const id of ['weights-file', 'flame-file']) {
    $(id).addEventListener('change', () => { $<HTMLInputElement>(id.replace('file', 'url')).value = ''; });
  }
  window.addEventListener('unhandledrejection', (ev) => showError(ev.reason));
}

async function start(): Promise<void> {
  wire();
  for (const [p, id] of [['weights', 'weights-url'], ['flame', 'flame-url'], ['stripPrefix', 'strip-prefix'], ['redetect', 'redetect']]) {
    const v = params.get(p);
    if (v) $<HTMLInputElement>(id).value = v;
  }
  try {
    ctx = await getDevice();
  } catch (e) {
    state.status = 'no-webgpu';
    $('adapter').textContent = 'no WebGPU adapter';
    showError(e);
    return;
  }
  state.adapter = describeAdapter(ctx.adapter);
  $('adapter').textContent = `adapter: ${state.adapter}${ctx.timestamps ? '' : ' (no timestamp queries: GPU time per stage unavailable)'}`;
  if (!ctx.timestamps) $<HTMLButtonElement>('profile').title = 'this adapter has no timestamp-query';
  ctx.device.lost.then((info) => { if (info.reason !== 'destroyed') showError(Object.assign(new Error(info.message), { name: 'DeviceLostError' })); });
  state.status = 'ready';
  setBusy(false);
  if (params.get('sample') === '1') await guarded(loadSample, 'Sample photo');
  if (params.get('run') === '1' && photo) await guarded(() => runOnce(false), 'Run');
}

start();
