// Child process for test/adapters.test.ts: the full-size built-in model on the sample photo, on
// the adapter / limits / schedule chosen by the TRANS3DHEAD_* environment variables; writes the
// outputs and the adapter to the JSON file named by argv[2].
import { writeFileSync } from 'node:fs';
import { nodePlatform, releaseDevice } from '../../src/platform/node.ts';
import { Trans3DHead } from '../../src/model/trans3dhead.ts';

const t0 = performance.now();
const model = await Trans3DHead.create(nodePlatform, {});
const r = await model.run('test/fixtures/astronaut-head.png', { box: 'image' });
const firstMs = performance.now() - t0;
writeFileSync(process.argv[2], JSON.stringify({
  adapter: model.ctx.adapter, tuning: model.tuning, firstMs,
  landmarks: [...r.landmarks], params: [...r.params], rotation: [...r.rotation], pose: r.pose,
  vertices: [...r.vertices], projected: [...r.projectedVertices],
}));
await model.dispose();
await releaseDevice();
