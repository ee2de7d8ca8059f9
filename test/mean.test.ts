import { test } from 'uvu';
import { meanTokens } from '../src/kernels/mean.ts';
import { meanTokensRef } from './reference/mean.ts';
import { assertClose, newGraph, randomArray, runGraph } from './helpers.ts';

test('mean over tokens: [B, S, d] -> [B, d]', async () => {
  for (const [B, S, d, seed] of [[1, 64, 256, 1], [3, 64, 32, 2], [2, 1, 5, 3], [1, 300, 70, 4]]) {
    const g = await newGraph();
    const X = randomArray(B * S * d, seed, 5);
    g.output('y', meanTokens(g, g.input('x', [B, S, d])));
    const out = await runGraph(g, { x: X });
    assertClose(out.y, meanTokensRef(X, B, S, d), { atol: 1e-6, rtol: 1e-5 }, `mean ${B}x${S}x${d}`);
  }
});

test.run();
