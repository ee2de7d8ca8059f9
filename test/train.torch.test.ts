// The Python training package (python/trans3dhead_train) under Debian's PyTorch: its unittest
// modules (each loss term on a hand-computed case, the benchmark metrics on known predictions,
// the DAD-3DHeads-format reader on test/fixtures/dad3dheads-mini, one training step, a short
// overfit, checkpoints/resume/schedule, evaluation's map back), and the trainer's weight files
// read by our own loader (what `trans3dhead run --weights` uses).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseWeights } from '../src/model/weights.ts';

const PY = '/usr/bin/python3';

function python(args: string[], timeoutMs = 8 * 60 * 1000) {
  const r = spawnSync(PY, args, { cwd: 'python', encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
  assert.ok(!r.error, `could not run ${PY} (${r.error?.message}): the training tests need Debian's PyTorch ` +
    '(apt-get install python3-torch python3-torchvision python3-scipy python3-pil)');
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

// One uvu test per Python module, so a failure names its area; unittest's own count must match.
for (const [mod, count] of [['test_losses', 6], ['test_metrics', 6], ['test_dataset', 7], ['test_training', 4]] as const) {
  test(`python trans3dhead_train.tests.${mod}`, () => {
    const { status, out } = python(['-m', 'unittest', '-v', `trans3dhead_train.tests.${mod}`]);
    assert.is(status, 0, out.slice(-6000));
    assert.match(out, new RegExp(`Ran ${count} tests? in`), out.slice(-3000));
    assert.match(out, /\nOK\s*$/m);
    assert.not.match(out, /skipped/i, 'no test may be skipped');
  });
}

test('trainer weight files load with our loader (SPEC keys, config in the safetensors metadata)', () => {
  const dir = mkdtempSync(join(tmpdir(), 't3dh-weights-'));
  try {
    const { status, out } = python(['-c', [
      'import torch, sys',
      'from trans3dhead_ref.model import Trans3DHead',
      'from trans3dhead_train.train import save_weights',
      'from trans3dhead_train.tests.util import TINY',
      'torch.manual_seed(0)',
      `save_weights(Trans3DHead(TINY), ${JSON.stringify(dir)}, {"epoch": 1})`,
    ].join('\n')]);
    assert.is(status, 0, out);
    const st = parseWeights(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))), 'model.safetensors');
    assert.equal({ image_size: st.config.image_size, width: st.config.backbone.width, d: st.config.d_model, nhead: st.config.nhead },
      { image_size: 64, width: 4, d: 16, nhead: 2 });
    // The .pth carries no config: shapes give all but nhead and image_size, which the user passes.
    const pth = parseWeights(new Uint8Array(readFileSync(join(dir, 'model.pth'))), 'model.pth', { config: { nhead: 2, image_size: 64 } });
    assert.is(pth.sd.size, st.sd.size + [...pth.sd.keys()].filter((k) => k.endsWith('num_batches_tracked')).length);
    const a = st.sd.get('landmark_branch.query_init.weight')!;
    const b = pth.sd.get('landmark_branch.query_init.weight')!;
    assert.equal(Array.from(a.shape), [68 * 16, 16]);
    assert.equal(Array.from(a.data).slice(0, 8), Array.from(b.data).slice(0, 8));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
