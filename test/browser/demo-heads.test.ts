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

const SMALL = 'weights=/test/fixtures/small/model.pth&config=/test/fixtures/small/config.json';
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

interface DemoState { status: string; error: string; runs: number; heads: number; noDetector: boolean; timings: { detectorMs: number; trans3dheadMs: number } }

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
  if (existsSync('src/detect/detector.ts')) {
    assert.not.ok(s.noDetector, 'the detector is built in');
    assert.is(s.heads, 2, 'both heads found and aligned');
  } else {
    // Until the BlazeFace detector is built in, the page says so and aligns the whole frame.
    assert.ok(s.noDetector);
    assert.match(await p.textContent('#heads') ?? '', /no face detector built in/);
  }
  mkdirSync('.cache/browser', { recursive: true });
  await p.screenshot({ path: SHOT, fullPage: true });
  if (process.env.UPDATE_SCREENSHOT === '1') copyFileSync(SHOT, 'docs/demo-heads.png');
  console.log(`  ${s.runs} frames, ${s.heads} heads; screenshot: ${SHOT}`);
  await p.click('#webcam');
  await p.waitForFunction(() => document.getElementById('webcam')!.textContent === 'Webcam');
});

test.run();
