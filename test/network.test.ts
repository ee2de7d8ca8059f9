// The network's weights are validated and packed once (packNetwork): every graph built from
// them, whatever its image size or batch, references the same host arrays, so the WeightCache
// uploads each weight once; only per-shape constants belong to a graph.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { DEFAULT_TUNING, type Graph } from '../src/graph/graph.ts';
import { buildNetwork, packNetwork } from '../src/model/network.ts';
import { syntheticFlame } from '../src/model/synthetic-flame.ts';
import { parseWeights } from '../src/model/weights.ts';

const DIR = 'test/fixtures/small';

test('network: graphs of other sizes and batches share every packed weight array', () => {
  const cfg = JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8'));
  const w = parseWeights(new Uint8Array(readFileSync(`${DIR}/model.pth`)), 'model.pth', { config: cfg });
  const weights = packNetwork(w.sd, w.config, syntheticFlame(0));
  const tuning = { ...DEFAULT_TUNING, cpuLike: true };
  const g1 = buildNetwork(tuning, weights, { width: 100, height: 80, channels: 4, batch: 1 });
  const g2 = buildNetwork(tuning, weights, { width: 64, height: 64, channels: 3, batch: 3 });
  const shared = (g: Graph) => new Set(g.tensors.filter((t) => t.kind === 'weight' && !t.graphOwned).map((t) => t.data));
  const a = shared(g1), b = shared(g2);
  assert.ok(a.size > 100, `${a.size} weights`);
  assert.equal([...a].filter((x) => !b.has(x)).length, 0, 'a weight array of graph 1 missing from graph 2');
  assert.equal([...b].filter((x) => !a.has(x)).length, 0, 'a weight array of graph 2 missing from graph 1');
  // Per-shape data (the positional encoding of the grid, avg_face per batch item) is the graph's own.
  const owned = g2.tensors.filter((t) => t.graphOwned).map((t) => t.name).sort();
  assert.equal(owned, ['landmark_branch.avg_face_scaled_b3', 'pos_embed_8x8x32']);
});

test.run();
