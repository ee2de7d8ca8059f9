import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cropGeometry, cropToImage, preprocess, preprocessParams, PREPROCESS_PARAMS, roundHalfEven, wordsPerImage, type Box } from '../src/kernels/preprocess.ts';
import { preprocessRef } from './reference/preprocess.ts';
import { assertClose, newGraph, rng, runGraph } from './helpers.ts';

function image(w: number, h: number, c: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: w * h * c }, () => Math.floor(r() * 256));
}

function packWords(bytes: Uint8Array[], words: number): Uint32Array {
  const out = new Uint8Array(words * 4 * bytes.length);
  bytes.forEach((b, i) => out.set(b, i * words * 4));
  return new Uint32Array(out.buffer);
}

// The kernel computes source coordinates in f32 (as PyTorch does), the reference in f64: a few
// f32 ulps at ~300 px (~6e-5 px) times the gradient of noise images (up to 255 grey levels per
// pixel) is ~0.015 grey, i.e. ~2e-4 after /255/std. Everything else is f32 rounding of O(2) values.
const tol = { atol: 2e-4, rtol: 1e-5 };

test('roundHalfEven is Python round()', () => {
  assert.equal([0.5, 1.5, 2.5, 2.4, 2.6, 255.5, 3].map(roundHalfEven), [0, 2, 2, 2, 3, 256, 3]);
});

test('geometry: k, resized size, centred padding, map back', () => {
  const g = cropGeometry({ x: 10, y: 20, width: 180, height: 220 });
  assert.is(g.outH, 256);
  assert.is(g.outW, roundHalfEven(180 * 256 / 220));
  assert.is(g.padLeft, (256 - g.outW) >> 1);
  assert.is(g.padTop, 0);
  const [x, y] = cropToImage(g, g.padLeft, 0);
  assert.ok(Math.abs(x - 10) < 1e-9 && Math.abs(y - 20) < 1e-9);
});

test('preprocess kernel = CPU reference: RGBA and RGB, up- and down-scaling, boxes in and partly out', async () => {
  const cases: { w: number; h: number; c: 3 | 4; box?: Box; outC: 3 | 4 }[] = [
    { w: 180, h: 220, c: 4, outC: 4 },
    { w: 97, h: 61, c: 3, outC: 4 },
    { w: 301, h: 300, c: 3, outC: 3 },
    { w: 640, h: 480, c: 4, box: { x: 200, y: 100, width: 150, height: 190 }, outC: 4 },
    { w: 120, h: 100, c: 3, box: { x: -30, y: 60, width: 90, height: 70 }, outC: 4 },
    { w: 7, h: 5, c: 4, outC: 4 },
  ];
  for (const [i, cs] of cases.entries()) {
    const box = cs.box ?? { x: 0, y: 0, width: cs.w, height: cs.h };
    const batch = 2;
    const imgs = [image(cs.w, cs.h, cs.c, i), image(cs.w, cs.h, cs.c, 100 + i)];
    const words = wordsPerImage(cs.w, cs.h, cs.c);
    const g = await newGraph();
    const pix = g.input('pixels', [batch * words], 'u32');
    const par = g.input('params', [batch, PREPROCESS_PARAMS]);
    g.output('x', preprocess(g, pix, par, { width: cs.w, height: cs.h, channels: cs.c }, { batch, outChannels: cs.outC }));
    const params = new Float32Array(batch * PREPROCESS_PARAMS);
    preprocessParams(cropGeometry(box), params, 0);
    preprocessParams(cropGeometry(box), params, PREPROCESS_PARAMS);
    const { x } = await runGraph(g, { pixels: packWords(imgs, words), params });
    const n = 256 * 256 * cs.outC;
    for (let b = 0; b < batch; b++) {
      assertClose(x.subarray(b * n, (b + 1) * n), preprocessRef(imgs[b], cs.w, cs.h, cs.c, box, 256, cs.outC), tol, `case ${i} image ${b}`);
    }
  }
});

test.run();
