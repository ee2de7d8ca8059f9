// The browser bundle in headless Chromium (WebGPU on SwiftShader): the committed small-config
// model on the committed photo gives Node's numbers (the same WGSL), and PyTorch's; weights from
// a streamed URL or a File; no Node module inside; clear errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import * as nodeApi from '../../src/index.ts';
import { nodePlatform } from '../../src/platform/node.ts';
import { Trans3DHead, type HeadResult } from '../../src/model/trans3dhead.ts';
import { gpu } from '../helpers.ts';
import { assertMatches, config, expected, maxAbsDiff } from '../model-helpers.ts';
import { openBrowser, type Browser } from './chromium.ts';

const DIR = 'test/fixtures/small';
const PHOTO = 'test/fixtures/astronaut-head.png';
const TOL = 1e-4;

let browser: Browser | undefined;
let failure: Error | undefined;
let nodeResult: HeadResult;
let nodeModel: Trans3DHead | undefined;

test.before(async () => {
  try { browser = await openBrowser(); } catch (e) { failure = e as Error; return; }
  await browser.page.goto(`${browser.url}/test/browser/blank.html`);
  nodeModel = await Trans3DHead.create(nodePlatform, { weights: `${DIR}/model.pth`, config: config(DIR), device: await gpu() });
  nodeResult = await nodeModel.run(PHOTO, { box: 'image' });
});
test.after(async () => {
  await nodeModel?.dispose();
  await browser?.close();
});

function page() {
  if (failure) throw failure;
  return browser!.page;
}

/** Runs in the page: the bundle, the small model from a URL or a File, the photo through the browser's own decoder. */
async function runInBrowser(source: 'url' | 'file'): Promise<Record<string, number[]> & { progress: number[]; synthetic: boolean; adapter: string }> {
  return page().evaluate(async ({ source, dir, photo }) => {
    const T = await import('/dist/browser/trans3dhead.js' as string);
    const cfg = await (await fetch(`/${dir}/config.json`)).json();
    const progress: number[] = [];
    let weights: string | File = `/${dir}/model.pth`;
    if (source === 'file') weights = new File([await (await fetch(weights)).arrayBuffer()], 'model.pth');
    const model = await T.createModel({ weights, config: cfg, onProgress: (stage: string, f: number) => { if (stage === 'weights') progress.push(f); } });
    try {
      // Both image paths: the PNG as a Blob (decoded by the library), or an ImageBitmap.
      const blob = await (await fetch(`/${photo}`)).blob();
      const r = await model.run(source === 'url' ? blob : await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' }), { box: 'image' });
      const arr = (a: Float32Array) => Array.from(a);
      return {
        landmarks: arr(r.landmarks), landmarksCrop: arr(r.landmarksCrop), params: arr(r.params), rotation: arr(r.rotation),
        vertices: arr(r.vertices), projectedVertices: arr(r.projectedVertices), projectedVerticesCrop: arr(r.projectedVerticesCrop),
        landmarks3d: r.landmarks3d ? arr(r.landmarks3d) : [], pose: [r.pose.pitch, r.pose.yaw, r.pose.roll],
        projectedLandmarks3d: r.projectedLandmarks3d ? arr(r.projectedLandmarks3d) : [],
        projectedLandmarks3dCrop: r.projectedLandmarks3dCrop ? arr(r.projectedLandmarks3dCrop) : [],
        translation: arr(r.translation), scale: [r.scale], crop: r.crop,
        progress, synthetic: r.synthetic, adapter: model.adapter,
      };
    } finally { await model.dispose(); }
  }, { source, dir: DIR, photo: PHOTO });
}

function asResult(o: Record<string, number[]>): HeadResult {
  const f = (k: string) => new Float32Array(o[k]);
  const [pitch, yaw, roll] = o.pose;
  return {
    landmarks: f('landmarks'), landmarksCrop: f('landmarksCrop'), params: f('params'), rotation: f('rotation'), vertices: f('vertices'),
    projectedVertices: f('projectedVertices'), projectedVerticesCrop: f('projectedVerticesCrop'), landmarks3d: o.landmarks3d.length ? f('landmarks3d') : undefined,
    projectedLandmarks3d: o.projectedLandmarks3d.length ? f('projectedLandmarks3d') : undefined,
    projectedLandmarks3dCrop: o.projectedLandmarks3dCrop.length ? f('projectedLandmarks3dCrop') : undefined,
    translation: f('translation'), scale: o.scale[0], crop: (o as unknown as { crop: HeadResult['crop'] }).crop,
    pose: { pitch, yaw, roll, gimbalLock: false },
  } as HeadResult;
}

function assertEqualsNode(b: Record<string, number[]>, label: string): void {
  const n = nodeResult;
  const pairs: [string, ArrayLike<number>][] = [
    ['landmarks', n.landmarks], ['landmarksCrop', n.landmarksCrop], ['params', n.params], ['rotation', n.rotation],
    ['vertices', n.vertices], ['projectedVertices', n.projectedVertices], ['projectedVerticesCrop', n.projectedVerticesCrop],
    ['pose', [n.pose.pitch, n.pose.yaw, n.pose.roll]],
  ];
  if (n.landmarks3d) pairs.push(['landmarks3d', n.landmarks3d]);
  const report: string[] = [];
  for (const [k, ref] of pairs) {
    const d = maxAbsDiff(b[k], ref);
    report.push(`${k} ${d.toExponential(2)}`);
    assert.ok(d <= TOL, `${label}: ${k} differs from Node by ${d} > ${TOL}`);
  }
  console.log(`  ${label}: max |browser - node|: ${report.join(', ')}`);
}

test('the bundle reaches no Node module and exports the Node entry\'s API', async () => {
  const src = readFileSync('dist/browser/trans3dhead.js', 'utf8');
  const nodeImport = /\b(?:from|import|require)\s*\(?\s*["'](node:[^"']+|webgpu|pngjs|jpeg-js|fs|fs\/promises|path|os|url|module)["']/.exec(src);
  assert.is(nodeImport?.[0], undefined, 'no Node imports in the browser bundle');
  assert.ok(readFileSync('dist/browser/trans3dhead.js.map', 'utf8').includes('src/model/trans3dhead.ts'), 'source map names our sources');
  assert.ok(src.includes('@compute'), 'WGSL is inlined');
  const names = await page().evaluate(async () => Object.keys(await import('/dist/browser/trans3dhead.js' as string)).sort());
  // Platform-specific by nature: the download cache is a folder in Node (modelCacheDir()) and a
  // Cache Storage cache in browsers (MODEL_CACHE, its name); clearModelCache() is on both.
  const NODE_ONLY = new Set(['modelCacheDir']);
  for (const k of Object.keys(nodeApi)) if (!NODE_ONLY.has(k)) assert.ok(names.includes(k), `browser bundle exports ${k}`);
  assert.ok(names.includes('MODEL_CACHE') && names.includes('clearModelCache'), 'browser bundle exports its cache\'s name and clearModelCache');
  assert.ok(names.includes('OverlayRenderer'));
});

test('small model on the photo in Chromium equals Node within 1e-4, and PyTorch (weights from a streamed URL, PNG Blob)', async () => {
  const b = await runInBrowser('url');
  console.log(`  browser adapter: ${b.adapter}`);
  assert.ok(b.synthetic, 'synthetic FLAME is flagged');
  assert.ok(b.progress.length >= 2 && b.progress[b.progress.length - 1] === 1, `streamed with progress (${b.progress.join(', ')})`);
  assertEqualsNode(b, 'url weights');
  assertMatches(asResult(b), expected(DIR), '', 0, 'browser vs PyTorch');
});

test('weights from a File (.pth converted in the browser), an ImageBitmap: the same numbers', async () => {
  assertEqualsNode(await runInBrowser('file'), 'file weights');
});

test('clear errors: bad weight file, image too large, no WebGPU', async () => {
  const errs = await page().evaluate(async () => {
    const T = await import('/dist/browser/trans3dhead.js' as string);
    const out: Record<string, string> = {};
    const catchName = async (f: () => Promise<unknown>) => { try { await f(); return 'no error'; } catch (e) { return `${(e as Error).name}: ${(e as Error).message}`; } };
    out.badWeights = await catchName(() => T.createModel({ weights: new File([new Uint8Array(64).fill(7)], 'broken.safetensors') }));
    const cfg = await (await fetch('/test/fixtures/small/config.json')).json();
    const m = await T.createModel({ weights: '/test/fixtures/small/model.pth', config: cfg });
    out.tooLarge = await catchName(() => m.run({ data: new Uint8Array(4), width: 100000, height: 1 }, { box: 'image' }));
    out.notImage = await catchName(() => m.run(new File([new Uint8Array([1, 2, 3])], 'notes.png', { type: 'image/png' }), { box: 'image' }));
    await m.dispose();
    // A browser without WebGPU: the same code path, navigator.gpu missing.
    const gpu = Object.getOwnPropertyDescriptor(Navigator.prototype, 'gpu')!;
    Object.defineProperty(Navigator.prototype, 'gpu', { configurable: true, get: () => undefined });
    try { out.noWebGPU = await catchName(() => T.createDevice()); } finally { Object.defineProperty(Navigator.prototype, 'gpu', gpu); }
    return out;
  });
  assert.match(errs.badWeights, /^WeightFileError: .*broken\.safetensors/);
  assert.match(errs.tooLarge, /^InputError: .*too large/);
  assert.match(errs.notImage, /^InputError: notes\.png could not be decoded as an image/);
  assert.match(errs.noWebGPU, /^NoAdapterError: .*no WebGPU/);
});

test.run();
