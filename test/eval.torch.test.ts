// src/eval (metrics, reader, ground truth) agrees with python/trans3dhead_train/metrics.py and
// dataset.py: a synthetic split (python/make_synthetic_dad.py, the synthetic FLAME), perturbed-
// truth predictions and Python's metrics for them (test/child/eval_agreement.py); the TypeScript
// side reads the same split itself and scores the same predictions.
// Tolerance: 1e-9 relative (both sides f64; they differ only in summation order and in the SVD
// algorithm of the Procrustes step); Z5 is a count ratio and must be equal (1e-12).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DadDataset } from '../src/eval/dataset.ts';
import { evaluateDataset, findSubsets, flameEmbedding } from '../src/eval/evaluate.ts';
import { decodeImage } from '../src/platform/node-io.ts';
import { syntheticFlame } from '../src/model/synthetic-flame.ts';

const py = (...args: string[]) => {
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', timeout: 300_000 });
  assert.is(r.status, 0, `python3 ${args.join(' ')}: ${r.stderr || r.error?.message} (needs Debian's python3-torch, python3-scipy, python3-pil)`);
};

test('TS metrics equal Python\'s on the same predictions of a synthetic split (overall, per item, per attribute)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 't3dh-eval-agree-'));
  py('python/make_synthetic_dad.py', '--out', dir, '--train', '1', '--val', '3', '--min-size', '96', '--max-size', '128');
  py('test/child/eval_agreement.py', dir, join(dir, 'python.json'));
  const ref = JSON.parse(readFileSync(join(dir, 'python.json'), 'utf8'));

  const flame = syntheticFlame(0);
  const emb = flameEmbedding(flame);
  assert.ok(emb, 'the synthetic FLAME carries the 68-landmark embedding');
  const subsets = findSubsets(flame.V, { dir: join(dir, 'subsets') });
  const ds = DadDataset.open(dir, 'val');
  const r = await evaluateDataset(ds, async (_img, _box, i) => ref.predictions[i], decodeImage, emb, subsets, flame.V);

  const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
  const check = (got: number, want: number, what: string) => {
    const tol = what.includes('z5') ? 1e-12 : 1e-9;
    assert.ok(rel(got, want) <= tol, `${what}: TS ${got} vs Python ${want} (rel ${rel(got, want).toExponential(2)} > ${tol})`);
  };
  assert.equal(Object.keys(r.overall).sort(), Object.keys(ref.overall).sort());
  for (const k of Object.keys(ref.overall)) check(r.overall[k], ref.overall[k], `overall ${k}`);
  ref.records.forEach((rec: Record<string, number>, i: number) => { for (const k of Object.keys(rec)) check(r.items[i][k] as number, rec[k], `item ${i} ${k}`); });
  assert.equal(Object.keys(r.attributes).sort(), Object.keys(ref.attributes).sort());
  for (const [m, per] of Object.entries(ref.attributes as Record<string, Record<string, Record<string, number>>>)) {
    for (const [an, vals] of Object.entries(per)) for (const [av, v] of Object.entries(vals)) check(r.attributes[m][an][av], v, `${m} by ${an}=${av}`);
  }
  // Not vacuous: the predictions are off (every metric away from its perfect value).
  assert.ok(ref.overall.nme > 1 && ref.overall.pose_error > 0.01 && ref.overall.z5 < 0.99 && ref.overall.chamfer > 0.01 && ref.overall.mae_mean > 0.5);
});

test.run();
