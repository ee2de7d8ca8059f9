// Runs MediaPipe's own face detection (the npm package @mediapipe/face_detection: its WASM + WebGL
// solution) in Debian's headless Chromium on RGBA images, offline: every request the page makes is
// answered from the package folder by Playwright's router, nothing leaves the machine.
// Used by scripts/make-detect-fixtures.ts to record the reference detections.
import { join } from 'node:path';
import { openOfflinePage } from './chromium.ts';
import type { RgbaImage } from '../detect-images.ts';
import { findPackage } from '../detect-parity-helpers.ts';

export interface MediaPipeFace {
  /** Pixels in the input image: box x, y, width, height. */
  box: [number, number, number, number];
  /** 6 x (x, y) pixels, MediaPipe's order. */
  keypoints: number[];
  /** Detection score, when the solution reports it (null otherwise). */
  score: number | null;
}

const PAGE = `<!doctype html><meta charset="utf-8"><script src="/mp/face_detection.js"></script><body></body>`;

/**
 * One MediaPipe run: the solution's model option, and optionally another .tflite of the package
 * served in place of the one the solution asks for (same graph, same options, other weights).
 */
export interface MediaPipeVariant { name: string; model: 'short' | 'full'; replace?: { requested: string; file: string } }

/** Detections per variant per image, in image pixels. */
export async function runMediaPipe(images: RgbaImage[], variants: MediaPipeVariant[], minDetectionConfidence: number | null): Promise<Record<string, Record<string, MediaPipeFace[]>>> {
  const pkg = findPackage();
  let current: MediaPipeVariant | undefined;
  const { page, logs, close } = await openOfflinePage(PAGE, (path) => {
    if (!path.startsWith('/mp/')) return null;
    let name = path.slice(4).replace(/[^\w.-]/g, '');
    if (current?.replace && name === current.replace.requested) name = current.replace.file;
    return join(pkg, name);
  });
  try {
    const out: Record<string, Record<string, MediaPipeFace[]>> = {};
    for (const variant of variants) {
      current = variant;
      const model = variant.model;
      const key = variant.name;
      out[key] = {};
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
        out[key][img.name] = faces.map((f) => {
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
    await close();
  }
}
