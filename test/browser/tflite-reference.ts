// An independent TFLite interpreter as a second reference: TensorFlow's own TFLite runtime built
// for the web (npm @tensorflow/tfjs-tflite, WASM, with @tensorflow/tfjs-core and -backend-cpu),
// run in headless Chromium, offline. It gives the detector's RAW outputs (regressors and score
// logits) for a given input tensor, which MediaPipe's solution does not expose: with them the
// post-processing is checked end to end against MediaPipe's detections before (and independently
// of) our own detector graph, and our graph's raw outputs can be compared tensor by tensor.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openOfflinePage } from './chromium.ts';

export interface RawOutputs { regressors: Float32Array; scores: Float32Array }

export function findTfjs(): string {
  const candidates = [process.env.TFJS_TFLITE_MODULES, 'node_modules'].filter(Boolean) as string[];
  const dir = candidates.find((d) => existsSync(join(d, '@tensorflow/tfjs-tflite/dist/tf-tflite.min.js')));
  if (!dir) {
    throw new Error('the TFLite reference needs @tensorflow/tfjs-tflite: npm install --save-dev ' +
      '@tensorflow/tfjs-tflite@0.0.1-alpha.10 @tensorflow/tfjs-core@4.9.0 @tensorflow/tfjs-backend-cpu@4.9.0 (or set TFJS_TFLITE_MODULES to a node_modules folder that has them)');
  }
  return dir;
}

const PAGE = `<!doctype html><meta charset="utf-8">
<script src="/m/@tensorflow/tfjs-core/dist/tf-core.min.js"></script>
<script src="/m/@tensorflow/tfjs-backend-cpu/dist/tf-backend-cpu.min.js"></script>
<script src="/m/@tensorflow/tfjs-tflite/dist/tf-tflite.min.js"></script><body></body>`;

export interface ReferenceJob { modelFile: string; size: number; inputs: Float32Array[] }

/** Runs each job's model on its NHWC input tensors (size x size x 3), one browser for all; raw outputs per job. */
export async function runTfliteReference(jobs: ReferenceJob[]): Promise<RawOutputs[][]> {
  const modules = findTfjs();
  const { page, logs, close } = await openOfflinePage(PAGE, (path) => {
    const job = /^\/model(\d+)\.tflite$/.exec(path);
    if (job) return jobs[Number(job[1])]?.modelFile ?? null;
    if (path.startsWith('/m/') && !path.includes('..')) return join(modules, decodeURIComponent(path.slice(3)));
    return null;
  });
  try {
    await page.goto('http://localhost/');
    await page.evaluate(async () => {
      const g = window as unknown as { tf: any; tflite: any };
      await g.tf.setBackend('cpu');
      g.tflite.setWasmPath('/m/@tensorflow/tfjs-tflite/wasm/');
    });
    const out: RawOutputs[][] = [];
    for (let j = 0; j < jobs.length; j++) {
      const { size, inputs } = jobs[j];
      await page.evaluate(async (j) => {
        const g = window as unknown as { tflite: any; model: any };
        const buf = await (await fetch(`/model${j}.tflite`)).arrayBuffer();
        g.model = await g.tflite.loadTFLiteModel(buf, { numThreads: 1 });
      }, j);
      const results: RawOutputs[] = [];
      for (const input of inputs) {
        // The tensor travels as base64 of its float32 bytes (a JSON array of 110k numbers is slow).
        const b64 = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('base64');
        const r = await page.evaluate(async ({ b64, size }) => {
          const g = window as unknown as { tf: any; model: any };
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const x = g.tf.tensor(new Float32Array(bytes.buffer), [1, size, size, 3], 'float32');
          const y = g.model.predict(x);
          const tensors: any[] = Array.isArray(y) ? y : y.shape ? [y] : Object.values(y);
          const res = tensors.map((t) => ({ shape: t.shape as number[], data: Array.from(t.dataSync() as Float32Array) }));
          x.dispose(); tensors.forEach((t) => t.dispose());
          return res;
        }, { b64, size });
        // Two outputs: [1, N, 16] regressors and [1, N, 1] score logits (whatever their order).
        const reg = r.find((t) => t.shape[t.shape.length - 1] === 16);
        const sc = r.find((t) => t.shape[t.shape.length - 1] === 1);
        if (!reg || !sc) throw new Error(`unexpected outputs: ${r.map((t) => `[${t.shape}]`).join(', ')}`);
        results.push({ regressors: Float32Array.from(reg.data), scores: Float32Array.from(sc.data) });
      }
      out.push(results);
    }
    return out;
  } catch (e) {
    throw new Error(`TFLite reference in Chromium failed: ${(e as Error).message}\n${logs.slice(-20).join('\n')}`);
  } finally {
    await close();
  }
}
