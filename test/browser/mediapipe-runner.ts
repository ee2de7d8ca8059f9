// Runs MediaPipe's own face detection (the npm package @mediapipe/face_detection: its WASM + WebGL
// solution) in Debian's headless Chromium on RGBA images, offline: every request the page makes is
// answered from the package folder by Playwright's router, nothing leaves the machine.
// Used by scripts/make-detect-fixtures.ts to record the reference detections.
import { existsSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.ts';
import type { RgbaImage } from '../detect-images.ts';

export interface MediaPipeFace {
  /** Pixels in the input image: box x, y, width, height. */
  box: [number, number, number, number];
  /** 6 x (x, y) pixels, MediaPipe's order. */
  keypoints: number[];
  /** Detection score, when the solution reports it (null otherwise). */
  score: number | null;
}

export function findPackage(): string {
  const candidates = [process.env.MEDIAPIPE_FACE_DETECTION, 'node_modules/@mediapipe/face_detection', '/tmp/fd/package'].filter(Boolean) as string[];
  const dir = candidates.find((d) => existsSync(join(d, 'face_detection.js')));
  if (!dir) {
    throw new Error('MediaPipe\'s face detection package is missing: npm install --no-save @mediapipe/face_detection ' +
      '(or set MEDIAPIPE_FACE_DETECTION to its unpacked folder)');
  }
  return dir;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
const PAGE = `<!doctype html><meta charset="utf-8"><script src="/mp/face_detection.js"></script><body></body>`;

/** Detections per image per model, in image pixels. */
export async function runMediaPipe(images: RgbaImage[], models: ('short' | 'full')[], minDetectionConfidence: number | null): Promise<Record<string, Record<string, MediaPipeFace[]>>> {
  const pkg = findPackage();
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  const logs: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await page.route('**/*', async (route) => {
      const url = new URL(route.request().url());
      if (url.hostname !== 'localhost') return route.abort();
      if (url.pathname === '/') return route.fulfill({ status: 200, contentType: 'text/html', body: PAGE });
      if (url.pathname.startsWith('/mp/')) {
        const file = join(pkg, url.pathname.slice(4).replace(/[^\w.-]/g, ''));
        if (existsSync(file)) return route.fulfill({ status: 200, contentType: TYPES[extname(file)] ?? 'application/octet-stream', body: readFileSync(file) });
      }
      return route.fulfill({ status: 404, body: 'not found' });
    });
    const out: Record<string, Record<string, MediaPipeFace[]>> = {};
    for (const model of models) {
      out[model] = {};
      // A fresh page per model: switching the model of a running solution takes effect some
      // frames later (the first frames after setOptions still came from the previous model).
      await page.goto('about:blank');
      await page.goto('http://localhost/');
      await page.evaluate(async ({ model, minDetectionConfidence }) => {
        const w = window as unknown as { fd?: any; FaceDetection: any };
        w.fd = new w.FaceDetection({ locateFile: (f: string) => `/mp/${f}` });
        // minDetectionConfidence stays unset by default: this build's option override drops the
        // rest of TensorsToDetections' options ("RET_CHECK failure ... options_.has_num_classes()").
        w.fd.setOptions(minDetectionConfidence === null ? { model, selfieMode: false } : { model, minDetectionConfidence, selfieMode: false });
        await w.fd.initialize();
      }, { model, minDetectionConfidence });
      for (const img of images) {
        const faces = await page.evaluate(async ({ width, height, pixels }) => {
          const w = window as unknown as { fd: any };
          const canvas = document.createElement('canvas');
          canvas.width = width; canvas.height = height;
          const ctx = canvas.getContext('2d')!;
          ctx.putImageData(new ImageData(new Uint8ClampedArray(pixels), width, height), 0, 0);
          const results = await new Promise<any>((resolve, reject) => {
            w.fd.onResults(resolve);
            w.fd.send({ image: canvas }).catch(reject);
          });
          return (results.detections as any[]).map((d) => ({
            bb: d.boundingBox, lm: d.landmarks,
            // The classification list (minified field) carries the score, when present.
            extra: Object.fromEntries(Object.entries(d).filter(([k]) => k !== 'boundingBox' && k !== 'landmarks')),
          }));
        }, { width: img.width, height: img.height, pixels: Array.from(img.data) });
        out[model][img.name] = faces.map((f) => {
          const { xCenter, yCenter, width, height } = f.bb;
          // The score sits in the detection's classification list, under minified names:
          // [{index: 0, <score>: 0.95}].
          const cls = Object.values(f.extra).find(Array.isArray)?.[0] as Record<string, unknown> | undefined;
          const score = cls ? Object.entries(cls).find(([k, v]) => k !== 'index' && typeof v === 'number')?.[1] as number | undefined : undefined;
          const extra = JSON.stringify(f.extra);
          return {
            box: [(xCenter - width / 2) * img.width, (yCenter - height / 2) * img.height, width * img.width, height * img.height],
            keypoints: (f.lm as { x: number; y: number }[]).flatMap((p) => [p.x * img.width, p.y * img.height]),
            score: score ?? null,
            ...(process.env.DEBUG_MEDIAPIPE ? { extra } : {}),
          } as MediaPipeFace;
        });
      }
    }
    return out;
  } catch (e) {
    throw new Error(`MediaPipe in Chromium failed: ${(e as Error).message}\n${logs.slice(-20).join('\n')}`);
  } finally {
    if (process.env.DEBUG_MEDIAPIPE) console.error(logs.join('\n'));
    await browser.close();
  }
}
