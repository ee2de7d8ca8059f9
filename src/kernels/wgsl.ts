// A tiny WGSL specialiser shared by all kernels: `//#if FLAG` / `//#else` / `//#endif` lines
// drop bindings and code a variant does not use ('auto' layouts reject unused bindings),
// `{{NAME}}` inserts a number where WGSL needs a const-expression (register array sizes),
// and `@binding(#)` numbers bindings in textual order (inputs, outputs, uniforms).

export function specialize(source: string, flags: Record<string, boolean | number> = {}): string {
  const out: string[] = [];
  const stack: { active: boolean; taken: boolean }[] = [];
  const active = () => stack.every((s) => s.active);
  for (const line of source.split('\n')) {
    const m = /^\s*\/\/#(if|else|endif)\s*(!?)(\w*)/.exec(line);
    if (m) {
      if (m[1] === 'if') {
        if (!(m[3] in flags)) throw new Error(`WGSL flag ${m[3]} not given`);
        const v = Boolean(flags[m[3]]) !== (m[2] === '!');
        stack.push({ active: v, taken: v });
      } else if (m[1] === 'else') {
        const top = stack[stack.length - 1];
        if (!top) throw new Error('//#else without //#if');
        top.active = !top.taken;
      } else if (!stack.pop()) throw new Error('//#endif without //#if');
      continue;
    }
    if (active()) out.push(line);
  }
  if (stack.length) throw new Error('unterminated //#if');
  let binding = 0;
  return out.join('\n')
    .replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
      if (!(k in flags)) throw new Error(`WGSL value ${k} not given`);
      return String(Number(flags[k]));
    })
    .replace(/@binding\(#\)/g, () => `@binding(${binding++})`);
}

/** Packs a uniform block: plain numbers are u32 (i32 when negative), {f: x} is f32. 16-byte padded. */
export function uniforms(...fields: (number | { f: number })[]): ArrayBuffer {
  const bytes = new ArrayBuffer(Math.max(16, Math.ceil(fields.length / 4) * 16));
  const view = new DataView(bytes);
  fields.forEach((v, i) => {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new Error(`uniform field ${i}: ${v} is not an integer (wrap floats as {f: x})`);
      if (v < 0) view.setInt32(i * 4, v, true); else view.setUint32(i * 4, v, true);
    } else view.setFloat32(i * 4, v.f, true);
  });
  return bytes;
}

export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);
