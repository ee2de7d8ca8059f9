// The demo with several heads, live: Chromium's fake camera plays a generated video (two copies
// of the sample photo's head on one frame, one mirrored and drifting), the page runs runVideo
// frame after frame and draws every head. Saves a screenshot (.cache/browser/demo-heads.png;
// UPDATE_SCREENSHOT=1 also writes docs/demo-heads.png, the README's).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { PNG } from 'pngjs';
import { openBrowser, type Browser } from './chromium.ts';

// The BlazeFace .tflite as the page can fetch it (the server serves no node_modules): set
// TRANS3DHEAD_DETECTOR_URL (a path under the repository) to run the real detector in the page.
const DETECTOR_URL = process.env.TRANS3DHEAD_DETECTOR_URL;
// redetect=1: the small test model is untrained, its landmarks cannot carry a track.
const SMALL = 'weights=/test/fixtures/small/model.pth&config=/test/fixtures/small/config.json&redetect=1' + (DETECTOR_URL ? `&detectorFile=${encodeURIComponent(DETECTOR_URL)}` : '');
const SHOT = '.cache/browser/demo-heads.png';
const VIDEO = '.cache/browser/two-heads.y4m';
const W = 640, H = 480, FRAMES = 20;

/** A Y4M (4:2:0, full-range BT.601) video: the head photo twice per frame, the right one mirrored and drifting. */
function makeVideo(): void {
  const head = PNG.sync.read(readFileSync('test/fixtures/astronaut-head.png'));
  const frames: Buffer[] = [Buffer.from(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\n`)];
  for (let f = 0; f < FRAMES; f++) {
    const rgb = new Uint8Array(W * H * 3).fill(90);
    const paste = (ox: number, oy: number, mirror: boolean) => {
      for (let y = 0; y < head.height; y++) for (let x = 0; x < head.width; x++) {
        const X = ox + x, Y = oy + y;
        if (X < 0 || Y < 0 || X >= W || Y >= H) continue;
        const sx = mirror ? head.width - 1 - x : x;
        for (let k = 0; k < 3; k++) rgb[(Y * W + X) * 3 + k] = head.data[(y * head.width + sx) * 4 + k];
      }
    };
    paste(60, 130, false);
    paste(380 + Math.round(20 * Math.sin((f / FRAMES) * 2 * Math.PI)), 120, true);
    const Yp = Buffer.alloc(W * H), U = Buffer.alloc((W / 2) * (H / 2)), V = Buffer.alloc((W / 2) * (H / 2));
    for (let i = 0; i < W * H; i++) Yp[i] = Math.round(0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2]);
    for (let y = 0; y < H / 2; y++) for (let x = 0; x < W / 2; x++) {
      const i = (2 * y * W + 2 * x) * 3;
      const [r, g, b] = [rgb[i], rgb[i + 1], rgb[i + 2]];
      U[y * (W / 2) + x] = Math.max(0, Math.min(255, Math.round(128 - 0.168736 * r - 0.331264 * g + 0.5 * b)));
      V[y * (W / 2) + x] = Math.max(0, Math.min(255, Math.round(128 + 0.5 * r - 0.418688 * g - 0.081312 * b)));
    }
    frames.push(Buffer.from('FRAME\n'), Yp, U, V);
  }
  mkdirSync('.cache/browser', { recursive: true });
  writeFileSync(VIDEO, Buffer.concat(frames));
}

let browser: Browser | undefined;
let failure: Error | undefined;
test.before(async () => {
  makeVideo();
  try {
    browser = await openBrowser({ args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${VIDEO}`] });
  } catch (e) { failure = e as Error; }
});
test.after(async () => { await browser?.close(); });

interface DemoState { status: string; error: string; runs: number; heads: number; noDetector: string; timings: { detectorMs: number; trans3dheadMs: number } }

test('demo: live video with two heads, every head drawn, times per stage shown', async () => {
  if (failure) throw failure;
  const p = browser!.page;
  await p.goto(`${browser!.url}/demo/?${SMALL}`);
  await p.waitForFunction(() => (window as unknown as { trans3dheadDemo?: DemoState }).trans3dheadDemo?.status === 'ready', null, { timeout: 60_000 });
  await p.click('#webcam');
  await p.waitForFunction(() => { const s = (window as unknown as { trans3dheadDemo: DemoState }).trans3dheadDemo; return s.runs >= 4 || s.status === 'error'; }, null, { timeout: 300_000, polling: 250 });
  const s = await p.evaluate(() => (window as unknown as { trans3dheadDemo: DemoState }).trans3dheadDemo);
  assert.is(s.error, '');
  assert.match(await p.textContent('#image-info') ?? '', /webcam: 640x480/);
  assert.match(await p.textContent('#align-ms') ?? '', /\d+(\.\d)? ms/);
  if (existsSync('src/detect/detector.ts') && DETECTOR_URL) {
    assert.is(s.noDetector, '', 'the detector runs');
    assert.is(s.heads, 2, 'both heads found and aligned');
  } else {
    // Without the BlazeFace detector (or its file), the page says so and aligns the whole frame.
    assert.match(s.noDetector, /no BlazeFace detector|face detector file/);
    assert.match(await p.textContent('#heads') ?? '', /whole image: no face detector/);
  }
  mkdirSync('.cache/browser', { recursive: true });
  await p.screenshot({ path: SHOT, fullPage: true });
  if (process.env.UPDATE_SCREENSHOT === '1') copyFileSync(SHOT, 'docs/demo-heads.png');
  console.log(`  ${s.runs} frames, ${s.heads} heads; screenshot: ${SHOT}`);
  await p.click('#webcam');
  await p.waitForFunction(() => document.getElementById('webcam')!.textContent === 'Webcam');
});

test('runVideo in the page on an HTMLVideoElement and on a VideoFrame (fake detector): heads, track ids, timestamps', async () => {
  if (failure) throw failure;
  const p = browser!.page;
  const out = await p.evaluate(async () => {
    const T = await import('/dist/browser/trans3dhead.js' as string);
    const cfg = await (await fetch('/test/fixtures/small/config.json')).json();
    // Two fixed faces on the 640x480 camera frame (where the generated video pastes the heads).
    const face = (cx: number, cy: number, s: number) => ({ box: { x: cx - s / 2, y: cy - s / 2, width: s, height: s }, keypoints: new Float32Array([cx - 0.2 * s, cy - 0.1 * s, cx + 0.2 * s, cy - 0.1 * s, cx, cy, cx, cy + 0.25 * s, cx - 0.45 * s, cy, cx + 0.45 * s, cy]), score: 0.9 });
    let calls = 0;
    const detector = { detect: async () => { calls++; return [face(150, 250, 100), face(470, 240, 90)]; }, dispose: async () => {} };
    const model = await T.createModel({ weights: '/test/fixtures/small/model.pth', config: cfg, detector, warmUp: false });
    const video = document.createElement('video');
    video.muted = true;
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    await video.play();
    while (video.readyState < 2) await new Promise((r) => setTimeout(r, 20));
    try {
      const a = await model.runVideo(video, 10);
      const frame = new VideoFrame(video, { timestamp: 0 });
      let b;
      try { b = await model.runVideo(frame, 20); } finally { frame.close(); }
      let error = '';
      try { await model.runVideo(video, 20); } catch (e) { error = `${(e as Error).name}: ${(e as Error).message}`; }
      return { a: a.map((r: { trackId: number; crop: { box: unknown } }) => [r.trackId, r.crop.box]), b: b.map((r: { trackId: number }) => r.trackId), calls, error };
    } finally {
      for (const t of (video.srcObject as MediaStream).getTracks()) t.stop();
      await model.dispose();
    }
  });
  assert.is(out.a.length, 2, JSON.stringify(out));
  assert.equal(out.a.map((x: unknown[]) => x[0]), [1, 2], 'largest first, ids from detection');
  assert.is(out.b.length, 2, 'the VideoFrame ran (tracked or re-detected)');
  assert.match(out.error, /InputError: runVideo: timestamp 20 ms is not after the previous frame's 20 ms/);
});

test.run();
