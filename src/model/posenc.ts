// DETR's PositionEmbeddingSine(d/2, temperature 10000, normalize, scale 2*pi) without a mask
// (SPEC section 2): a constant [H*W, d] computed once on the CPU. Every step is rounded to f32 in
// DETR's order (Math.fround), so the table matches PyTorch's to the last bit or two.

const f = Math.fround;
const cache = new Map<string, Float32Array>();

/** pos[(y*W + x)*d + c]: channels [0, d/2) encode y, [d/2, d) encode x, sin/cos interleaved. */
export function sinePositionEmbedding(H: number, W: number, d: number, temperature = 10000): Float32Array {
  if (!Number.isInteger(H) || !Number.isInteger(W) || H < 1 || W < 1) throw new Error(`position embedding: bad grid ${H}x${W}`);
  if (!Number.isInteger(d) || d < 2 || d % 2 !== 0) throw new Error(`position embedding: d_model ${d} must be even`);
  const key = `${H},${W},${d},${temperature}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const npf = d / 2;
  const scale = f(2 * Math.PI);
  const eps = f(1e-6);
  const dimT = new Float64Array(npf);
  for (let i = 0; i < npf; i++) dimT[i] = f(Math.pow(temperature, f(f(2 * Math.floor(i / 2)) / npf)));
  // y_embed = cumsum / (last + eps) * scale, the same for x.
  const embed = (v: number, n: number) => f(f(f(v + 1) / f(n + eps)) * scale);
  const enc = (out: Float32Array, base: number, e: number) => {
    for (let i = 0; i < npf; i++) {
      const a = f(e / dimT[i]);
      out[base + i] = f(i % 2 === 0 ? Math.sin(a) : Math.cos(a));
    }
  };
  const pos = new Float32Array(H * W * d);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const base = (y * W + x) * d;
    enc(pos, base, embed(y, H));          // pos_y first
    enc(pos, base + npf, embed(x, W));    // then pos_x
  }
  cache.set(key, pos);
  return pos;
}
