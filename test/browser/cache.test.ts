// Model files from a URL in the browser (headless Chromium, SwiftShader): the first load
// downloads with progress in bytes and keeps the file in Cache Storage; a second visit (page
// reloaded) downloads nothing and reports the same bytes. The file is an int8 one
// (`convert --dtype int8`), so compact weights also run in the browser, equal to Node's run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { nodePlatform } from '../../src/platform/node.ts';
import { Trans3DHead } from '../../src/model/trans3dhead.ts';
import { compactWeightsToSafetensors, parseWeights } from '../../src/model/weights.ts';
import { gpu } from '../helpers.ts';
import { config, maxAbsDiff } from '../model-helpers.ts';
import { openBrowser, type Browser } from './chromium.ts';

const DIR = 'test/fixtures/small';
const PHOTO = 'test/fixtures/astronaut-head.png';
const WEIGHTS = '/models/small-int8.safetensors';

const src = parseWeights(new Uint8Array(readFileSync(`${DIR}/model.pth`)), 'model.pth', { config: config(DIR) });
const int8 = compactWeightsToSafetensors(src.sd, src.config, 'int8');

let browser: Browser | undefined;
let failure: Error | undefined;
let downloads = 0;

test.before(async () => {
  try { browser = await openBrowser(); } catch (e) { failure = e as Error; return; }
  // The served repository hides .cache/: the converted file is served from memory here.
  await browser.context.route(`**${WEIGHTS}`, (route) => {
    downloads++;
    return route.fulfill({ status: 200, body: Buffer.from(int8), headers: { 'content-type': 'application/octet-stream', 'content-length': String(int8.length) } });
  });
  await browser.page.goto(`${browser.url}/test/browser/blank.html`);
});
test.after(async () => { await browser?.close(); });

function page() {
  if (failure) throw failure;
  return browser!.page;
}

async function visit(): Promise<{ bytes: { loaded: number; total: number }[]; params: number[]; landmarks: number[]; cached: boolean }> {
  return page().evaluate(async ({ weights, dir, photo }) => {
    const T = await import('/dist/browser/trans3dhead.js' as string);
    const cfg = await (await fetch(`/${dir}/config.json`)).json();
    const bytes: { loaded: number; total: number }[] = [];
    const model = await T.createModel({ weights, config: cfg, onProgress: (stage: string, _f: number, b?: { loaded: number; total: number }) => { if (stage === 'weights' && b) bytes.push(b); } });
    try {
      const r = await model.run(await (await fetch(`/${photo}`)).blob(), { box: 'image' });
      const cache = await caches.open(T.MODEL_CACHE);
      return { bytes, params: Array.from(r.params as Float32Array), landmarks: Array.from(r.landmarks as Float32Array), cached: !!(await cache.match(new URL(weights, location.href).href)) };
    } finally { await model.dispose(); }
  }, { weights: WEIGHTS, dir: DIR, photo: PHOTO });
}

test('second visit reads the weights from Cache Storage: no download, same bytes and numbers; progress in bytes', async () => {
  await page().evaluate(async () => { const T = await import('/dist/browser/trans3dhead.js' as string); await T.clearModelCache(); });
  downloads = 0;
  const first = await visit();
  assert.is(downloads, 1, 'first visit downloads the file once');
  assert.ok(first.cached, 'and keeps it in Cache Storage');
  const last = first.bytes[first.bytes.length - 1]!;
  assert.equal(last, { loaded: int8.length, total: int8.length }, 'progress ends at the file size');
  assert.ok(first.bytes.every((b, i) => b.total === int8.length && (i === 0 || b.loaded >= first.bytes[i - 1]!.loaded)), 'bytes grow, total known');

  await page().reload();
  const second = await visit();
  assert.is(downloads, 1, 'the second visit downloads nothing');
  assert.equal(second.bytes[second.bytes.length - 1], { loaded: int8.length, total: int8.length });
  assert.equal(second.params, first.params);

  // The int8 file in the browser gives Node's numbers for the same file (the same WGSL).
  const model = await Trans3DHead.create(nodePlatform, { weights: int8, config: config(DIR), device: await gpu() });
  try {
    const n = await model.run(PHOTO, { box: 'image' });
    assert.ok(maxAbsDiff(first.params, n.params) <= 1e-4, `params ${maxAbsDiff(first.params, n.params)}`);
    assert.ok(maxAbsDiff(first.landmarks, n.landmarks) <= 1e-3, `landmarks ${maxAbsDiff(first.landmarks, n.landmarks)}`);
  } finally { await model.dispose(); }

  await page().evaluate(async () => { const T = await import('/dist/browser/trans3dhead.js' as string); await T.clearModelCache(); });
  await page().reload();
  await visit();
  assert.is(downloads, 2, 'after clearModelCache the file is downloaded again');

  // cache: false (the option Node shares) downloads although the file is cached.
  await page().evaluate(async ({ weights, dir }) => {
    const T = await import('/dist/browser/trans3dhead.js' as string);
    const cfg = await (await fetch(`/${dir}/config.json`)).json();
    await (await T.createModel({ weights, config: cfg, cache: false, warmUp: false })).dispose();
  }, { weights: WEIGHTS, dir: DIR });
  assert.is(downloads, 3, 'cache: false downloads');
});

test.run();
