// A tiny WGSL specialiser shared by all kernels: `//#if FLAG` / `//#else` / `//#endif` lines
// drop bindings and code a variant does not use ('auto' layouts reject unused bindings),
// `{{NAME}}` inserts a number where WGSL needs a const-expression (register array sizes),
// `//#for i in 0..N` / `//#endfor` repeats lines with `$i` replaced (N a number or a value name):
// SwiftShader's Subzero JIT keeps function-scope arrays in memory, so register tiles must be
// plain scalars/vectors, unrolled in the source;
// and `@binding(#)` numbers bindings in textual order (inputs, outputs, uniforms).

export function specialize(source: string, flags: Record<string, boolean | number> = {}): string {
  return number(conditionals(unroll(source.split('\n'), flags), flags).join('\n'), flags);
}

function unroll(lines: string[], flags: Record<string, boolean | number>): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*\/\/#for\s+(\w+)\s+in\s+(\w+)\.\.(\w+)\s*$/.exec(lines[i]);
    if (!m) {
      if (/^\s*\/\/#endfor/.test(lines[i])) throw new Error('//#endfor without //#for');
      out.push(lines[i]);
      continue;
    }
    let depth = 1, j = i + 1;
    for (; j < lines.length && depth; j++) {
      if (/^\s*\/\/#for\s/.test(lines[j])) depth++;
      else if (/^\s*\/\/#endfor/.test(lines[j])) depth--;
    }
    if (depth) throw new Error('unterminated //#for');
    const bound = (v: string) => {
      const n = /^\d+$/.test(v) ? Number(v) : flags[v];
      if (typeof n !== 'number') throw new Error(`WGSL loop bound ${v} not given`);
      return n;
    };
    const body = unroll(lines.slice(i + 1, j - 1), flags);
    const re = new RegExp(`\\$${m[1]}(?![A-Za-z0-9])`, 'g');
    for (let v = bound(m[2]); v < bound(m[3]); v++) for (const l of body) out.push(l.replace(re, String(v)));
    i = j - 1;
  }
  return out;
}

function conditionals(lines: string[], flags: Record<string, boolean | number>): string[] {
  const out: string[] = [];
  const stack: { active: boolean; taken: boolean }[] = [];
  const active = () => stack.every((s) => s.active);
  for (const line of lines) {
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
  return out;
}

function number(text: string, flags: Record<string, boolean | number>): string {
  let binding = 0;
  return text
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
