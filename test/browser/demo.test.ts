// The demo page driven in headless Chromium: sample photo, run, overlay drawn by the WebGPU
// render pass (checked on screen pixels), the pose shown equals the result, per-stage GPU times,
// a fake webcam, and the error messages. Saves a screenshot (.cache/browser/demo.png;
// UPDATE_SCREENSHOT=1 also writes docs/demo.png, the README's).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync } from 'node:fs';
import { PNG } from 'pngjs';
import type { Page } from 'playwright-core';
import { openBrowser, type Browser } from './chromium.ts';

const SMALL = 'weights=/test/fixtures/small/model.pth&config=/test/fixtures/small/config.json';
const SHOT = '.cache/browser/demo.png';
const RUN_TIMEOUT = 240_000;

let browser: Browser | undefined;
let failure: Error | undefined;

test.before(async () => {
  // A fake camera (a generated test pattern) lets the webcam path run headless.
  try { browser = await openBrowser({ args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'] }); } catch (e) { failure = e as Error; }
});
test.after(async () => { await browser?.close(); });

function page(): Page {
  if (failure) throw failure;
  return browser!.page;
}

interface DemoState { status: string; error: string; runs: number; adapter: string; result: { pose: { pitch: number; yaw: number; roll: number } } | null; stages: { stage: string; ms: number }[] | null }
const demoState = (p: Page) => p.evaluate(() => (window as unknown as { trans3dheadDemo: DemoState }).trans3dheadDemo);

async function open(p: Page, query: string): Promise<void> {
  await p.goto(`${browser!.url}/demo/?${query}`);
  await p.waitForFunction(() => ['ready', 'no-webgpu', 'error'].includes((window as unknown as { trans3dheadDemo?: DemoState }).trans3dheadDemo?.status ?? ''), null, { timeout: 60_000 });
}

/** Clicks and waits for the run counter to move (or an error). */
async function clickAndRun(p: Page, selector: string, runsBefore: number): Promise<DemoState> {
  await p.click(selector);
  await p.waitForFunction((n) => { const s = (window as unknown as { trans3dheadDemo: DemoState }).trans3dheadDemo; return s.runs > n || s.status === 'error'; }, runsBefore, { timeout: RUN_TIMEOUT, polling: 250 });
  const s = await demoState(p);
  assert.is(s.error, '', 'no error shown');
  return s;
}

async function canvasPixels(p: Page): Promise<PNG> {
  return PNG.sync.read(await p.locator('#overlay').screenshot());
}

function countDiff(a: PNG, b: PNG): number {
  assert.is(a.width, b.width);
  let n = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    if (Math.abs(a.data[i] - b.data[i]) + Math.abs(a.data[i + 1] - b.data[i + 1]) + Math.abs(a.data[i + 2] - b.data[i + 2]) > 30) n++;
  }
  return n;
}

test('demo: sample photo, run, overlay on the canvas, the pose shown equals the result', async () => {
  const p = page();
  await open(p, SMALL);
  const s0 = await demoState(p);
  assert.is(s0.status, 'ready', s0.error);
  assert.match(await p.textContent('#adapter') ?? '', /adapter: .*swiftshader/i);
  await p.click('#sample');
  await p.waitForFunction(() => !(document.getElementById('run') as HTMLButtonElement).disabled);
  const s = await clickAndRun(p, '#run', 0);
  assert.ok(s.result, 'a result');

  // The pose on the page is the result's, to the two decimals shown.
  for (const k of ['pitch', 'yaw', 'roll'] as const) {
    const shown = Number((await p.textContent(`#${k}`))!.replace('°', ''));
    assert.ok(Math.abs(shown - s.result!.pose[k]) <= 0.005 + 1e-9, `${k}: shown ${shown}, result ${s.result!.pose[k]}`);
  }
  assert.not.ok(await p.isHidden('#synthetic'), 'the "not a real prediction" notice is shown (synthetic FLAME)');
  assert.match(await p.textContent('#fps') ?? '', /\d/);

  // The overlay canvas shows the photo and the drawing: not blank, and each layer changes pixels.
  const all = await canvasPixels(p);
  let lo = 255, hi = 0;
  for (let i = 0; i < all.data.length; i += 4) { lo = Math.min(lo, all.data[i + 1]); hi = Math.max(hi, all.data[i + 1]); }
  assert.ok(hi - lo > 100, `the canvas is not blank (green ${lo}..${hi})`);
  const layerPixels: Record<string, number> = {};
  for (const id of ['show-mesh', 'show-landmarks', 'show-axes']) {
    await p.uncheck(`#${id}`);
    layerPixels[id] = countDiff(all, await canvasPixels(p));
    await p.check(`#${id}`);
  }
  console.log(`  canvas ${all.width}x${all.height}, pixels each layer draws: ${JSON.stringify(layerPixels)}`);
  for (const [id, n] of Object.entries(layerPixels)) assert.ok(n > 50, `${id}: the layer draws (${n} pixels changed)`);

  mkdirSync('.cache/browser', { recursive: true });
  await p.screenshot({ path: SHOT, fullPage: true });
  if (process.env.UPDATE_SCREENSHOT === '1') copyFileSync(SHOT, 'docs/demo.png');
  console.log(`  screenshot: ${SHOT}`);
});

test('demo: GPU time per stage', async () => {
  const p = page();
  const before = (await demoState(p)).runs;
  const s = await clickAndRun(p, '#profile', before);
  assert.ok(s.stages && s.stages.length >= 4, 'stages listed');
  for (const want of ['preprocess', 'params_branch', 'landmark_branch', 'flame']) assert.ok(s.stages!.some((x) => x.stage === want), `stage ${want}`);
  assert.ok(s.stages!.every((x) => x.ms >= 0 && Number.isFinite(x.ms)));
  assert.not.ok(await p.isHidden('#stages'));
});

test('demo: webcam (Chromium\'s fake camera) runs frame after frame, then stops', async () => {
  const p = page();
  const before = (await demoState(p)).runs;
  await p.click('#webcam');
  await p.waitForFunction((n) => { const s = (window as unknown as { trans3dheadDemo: DemoState }).trans3dheadDemo; return s.runs >= n + 2 || s.status === 'error'; }, before, { timeout: RUN_TIMEOUT, polling: 250 });
  assert.is((await demoState(p)).error, '');
  assert.match(await p.textContent('#image-info') ?? '', /webcam: \d+x\d+/);
  await p.click('#webcam');
  await p.waitForFunction(() => document.getElementById('webcam')!.textContent === 'Webcam');
});

test('demo: clear messages for a bad weight file, a file that is no image, an image too large', async () => {
  const p = page();
  await open(p, SMALL);
  await p.setInputFiles('#photo-file', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not a PNG at all') });
  await p.waitForSelector('#error:not([hidden])');
  assert.match(await p.textContent('#error') ?? '', /This image cannot be used: notes\.png could not be decoded as an image/);

  const wide = new PNG({ width: 16385, height: 1 });
  wide.data.fill(128);
  await p.setInputFiles('#photo-file', { name: 'panorama.png', mimeType: 'image/png', buffer: PNG.sync.write(wide) });
  await p.waitForFunction(() => /too large/.test(document.getElementById('error')!.textContent ?? ''));
  assert.match(await p.textContent('#error') ?? '', /panorama\.png is 16385x1: too large/);

  await p.setInputFiles('#weights-file', { name: 'broken.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.alloc(64, 7) });
  await p.click('#load');
  await p.waitForFunction(() => /weight\/FLAME file/.test(document.getElementById('error')!.textContent ?? ''));
  assert.match(await p.textContent('#error') ?? '', /This weight\/FLAME file cannot be used: .*broken\.safetensors/);
});

test('demo: without WebGPU the page says so', async () => {
  page();
  const p = await browser!.context.newPage();
  try {
    await p.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { configurable: true, get: () => undefined }));
    await open(p, '');
    const s = await demoState(p);
    assert.is(s.status, 'no-webgpu');
    assert.match(await p.textContent('#error') ?? '', /WebGPU is not available: This browser has no WebGPU/);
    assert.ok(await p.isDisabled('#run'));
  } finally { await p.close(); }
});

test.run();
