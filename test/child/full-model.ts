// Child process for test/adapters.test.ts: the full-size model on the seeded default weights and
// the sample photo (bench/seeded-model.ts, as the GPU check's expected outputs), on the adapter /
// limits / schedule chosen by the TRANS3DHEAD_* environment variables; writes the outputs and
// the adapter to the JSON file named by argv[2].
import { writeFileSync } from 'node:fs';
import { releaseDevice } from '../../src/platform/node.ts';
import { runWhole, seededModel } from '../../bench/seeded-model.ts';

const t0 = performance.now();
const { model } = await seededModel();
const r = await runWhole(model);
const firstMs = performance.now() - t0;
writeFileSync(process.argv[2], JSON.stringify({
  adapter: model.ctx.adapter, tuning: model.tuning, firstMs,
  landmarks: [...r.landmarks], params: [...r.params], rotation: [...r.rotation], pose: r.pose,
  vertices: [...r.vertices], projected: [...r.projectedVertices],
}));
await model.dispose();
await releaseDevice();
