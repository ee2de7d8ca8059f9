/** CPU reference for elementwise act(a + b), b broadcast (b[i % b.length]). */
export function elementwiseRef(op: 'add' | 'relu' | 'addRelu' | 'copy', a: ArrayLike<number>, b?: ArrayLike<number>): Float32Array {
  const y = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    let v = a[i] + (b ? b[i % b.length] : 0);
    if (op === 'relu' || op === 'addRelu') v = Math.max(v, 0);
    y[i] = v;
  }
  return y;
}
