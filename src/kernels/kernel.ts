// A kernel is one WGSL file plus one declaration of its bindings and uniforms, made here:
//
//   const GEMM = kernel({ name: 'gemm', source,
//     inputs: { a: 'A', b: 'A', 'bias?': 'E' }, outputs: { c: 'E' },
//     uniforms: { M: 'u32', N: 'u32', eps: 'f32' } });
//   GEMM.add(g, name, { inputs: { a, b, bias }, outputs: { c }, uniforms: { M, N, eps }, ... });
//
// The WGSL file declares no bindings and no uniform struct: the declaration generates
// `@group(0) @binding(i) var<storage, read> a: array<A>;` (inputs, in declared order),
// `var<storage, read_write>` for outputs, and `struct Params {...}` + `var<uniform> p: Params;`,
// and the same declaration packs the uniform bytes. compile.ts builds the bind group layout from
// the node in the same order (inputs read-only storage, outputs storage, then the uniform), so
// binding numbers, access modes and uniform offsets cannot drift apart.
// Element types are WGSL type names: 'f32', 'vec4f', 'u32', or an alias the file declares
// per variant (`alias E = vec4f;` under //#if VEC4).
// An optional binding ('bias?') absent from a node is not declared, and the flag BIAS (the name
// upper-cased) is set to whether it is present, for the //#if blocks that use it.
// Mismatches are caught when the node is added, before any GPU work: a shader variant that
// uses an absent binding or an undeclared uniform field, or leaves a bound one unused, and
// uniform values of a missing, extra or ill-typed field (a float for a u32).
import type { Graph, Tensor } from '../graph/graph.ts';
import { specialize } from './wgsl.ts';

export type UniformType = 'u32' | 'i32' | 'f32' | 'vec4u' | 'vec4i' | 'vec4f';
type Flags = Record<string, boolean | number>;

type Required<S extends string> = S extends `${string}?` ? never : S;
type Optional<S extends string> = S extends `${infer N}?` ? N : never;
/** Tensors by binding name: required names must be given, optional ones ('bias?') may be. */
export type Bound<S extends string> = { [K in Required<S>]: Tensor } & { [K in Optional<S>]?: Tensor | undefined };
type UniformValue<T extends UniformType> = T extends `vec4${string}` ? readonly [number, number, number, number] : number;
export type UniformValues<U extends Record<string, UniformType>> = { [K in keyof U]: UniformValue<U[K]> };

export interface KernelSpec<I extends string, O extends string, U extends Record<string, UniformType>> {
  /** Kernel name: the profiling label of its nodes. */
  name: string;
  /** WGSL text (see wgsl.ts for //#if, {{X}}, //#for). */
  source: string;
  /** Binding name (suffix '?' when optional) -> array element type, in binding order. */
  inputs: Record<I, string>;
  outputs: Record<O, string>;
  /** Uniform field -> type, in struct order; read in WGSL as p.<field>. */
  uniforms?: U;
  /** Part libraries for `//#include <library>.<part> [NAME=expr]` lines (see includeParts). */
  include?: Record<string, string>;
}

export interface Launch<I extends string, O extends string, U extends Record<string, UniformType>> {
  inputs: Bound<I>;
  outputs: Bound<O>;
  uniforms: UniformValues<U>;
  /** Specialisation flags and values (wgsl.ts); optional-binding flags are added here. */
  flags?: Flags;
  entryPoint?: string;
  /** WGSL `override` constants (tile shapes, workgroup sizes). */
  constants?: Record<string, number>;
  workgroups: readonly [number, number, number];
  flops?: number;
}

interface Slot { name: string; type: string; optional: boolean; flag: string }

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SCALAR: Record<UniformType, 'u32' | 'i32' | 'f32'> = { u32: 'u32', i32: 'i32', f32: 'f32', vec4u: 'u32', vec4i: 'i32', vec4f: 'f32' };
const UNIFORM_LAYOUT: Record<UniformType, { align: number; words: number }> = {
  u32: { align: 1, words: 1 }, i32: { align: 1, words: 1 }, f32: { align: 1, words: 1 },
  vec4u: { align: 4, words: 4 }, vec4i: { align: 4, words: 4 }, vec4f: { align: 4, words: 4 },
};

export class Kernel<I extends string, O extends string, U extends Record<string, UniformType>> {
  readonly name: string;
  private readonly inputs: Slot[];
  private readonly outputs: Slot[];
  private readonly fields: { name: string; type: UniformType; word: number }[] = [];
  private readonly words: number;
  /** The WGSL with its //#include lines expanded. */
  private readonly source: string;

  constructor(private readonly spec: KernelSpec<I, O, U>) {
    this.name = spec.name;
    const where = `kernel ${spec.name}`;
    this.source = includeParts(spec.source, spec.include ?? {}, where);
    const stripped = stripComments(this.source);
    if (/@binding|var\s*<\s*(storage|uniform)/.test(stripped)) {
      throw new Error(`${where}: the WGSL declares its own bindings; declare them in the kernel() declaration instead (they are generated)`);
    }
    if (/\bstruct\s+Params\b/.test(stripped)) throw new Error(`${where}: the WGSL declares struct Params; declare the uniforms in the kernel() declaration instead`);
    const slots = (rec: Record<string, string>): Slot[] => Object.entries(rec).map(([key, type]) => {
      const optional = key.endsWith('?');
      const name = optional ? key.slice(0, -1) : key;
      if (!IDENT.test(name) || name === 'p') throw new Error(`${where}: bad binding name '${key}'`);
      if (!IDENT.test(type.replace(/<\w+>/, ''))) throw new Error(`${where}: bad element type '${type}' for ${name}`);
      return { name, type, optional, flag: name.toUpperCase() };
    });
    this.inputs = slots(spec.inputs);
    this.outputs = slots(spec.outputs);
    const names = [...this.inputs, ...this.outputs].map((s) => s.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw new Error(`${where}: binding ${dup} declared twice`);
    if (this.outputs.length === 0) throw new Error(`${where}: a kernel needs at least one output`);
    let word = 0;
    for (const [name, type] of Object.entries(spec.uniforms ?? {}) as [string, UniformType][]) {
      const l = UNIFORM_LAYOUT[type];
      if (!l) throw new Error(`${where}: uniform ${name} has unknown type ${type}`);
      if (!IDENT.test(name)) throw new Error(`${where}: bad uniform name '${name}'`);
      word = Math.ceil(word / l.align) * l.align;
      this.fields.push({ name, type, word });
      word += l.words;
    }
    this.words = word;
  }

  /** Specialised WGSL for these present bindings and flags, declarations included; checked. */
  shader(present: { inputs: readonly string[]; outputs: readonly string[] }, flags: Flags = {}, node = this.name): string {
    const where = `kernel ${this.name} (node ${node})`;
    const all = { ...flags };
    for (const s of [...this.inputs, ...this.outputs]) {
      if (!s.optional) continue;
      const has = present.inputs.includes(s.name) || present.outputs.includes(s.name);
      if (s.flag in flags && Boolean(flags[s.flag]) !== has) throw new Error(`${where}: flag ${s.flag} is set from whether ${s.name} is bound; do not pass it`);
      all[s.flag] = has;
    }
    // WGSL wants `enable` directives before every declaration: a variant's (an included part's)
    // are moved to the top, ahead of the generated bindings.
    const enables: string[] = [];
    const body = specialize(this.source, all).replace(/^[ \t]*(enable\s+[\w\s,]+;)[ \t]*(\/\/.*)?$/gm, (_, e: string) => { if (!enables.includes(e)) enables.push(e); return ''; });
    const used = identifiers(body);
    const lines: string[] = [...enables, `// Bindings of kernel ${this.name}, generated from its declaration (src/kernels/kernel.ts).`];
    let binding = 0;
    const declare = (slots: Slot[], names: readonly string[], access: string) => {
      for (const s of slots) {
        const bound = names.includes(s.name);
        if (!bound) {
          if (used.has(s.name)) throw new Error(`${where}: the shader uses ${s.name}, which this node does not bind; wrap that use in //#if ${s.flag}`);
          continue;
        }
        if (!used.has(s.name)) throw new Error(`${where}: ${s.name} is bound but this shader variant never uses it; drop it from the node or the declaration`);
        lines.push(`@group(0) @binding(${binding++}) var<storage, ${access}> ${s.name}: array<${s.type}>;`);
      }
    };
    // An indexed name that is neither a binding of this kernel nor declared in the shader is
    // a binding the declaration lacks: say so here rather than as a WGSL compile error.
    const local = declaredNames(body);
    for (const m of stripComments(body).matchAll(/(\.\s*)?\b([A-Za-z_]\w*)\s*\[/g)) {
      const n = m[2];
      if (m[1] || local.has(n) || [...this.inputs, ...this.outputs].some((s) => s.name === n)) continue;
      throw new Error(`${where}: the shader indexes ${n}[...], which is not a binding of the declaration (${[...this.inputs, ...this.outputs].map((s) => s.name).join(', ')}) nor declared in the shader`);
    }
    declare(this.inputs, present.inputs, 'read');
    declare(this.outputs, present.outputs, 'read_write');
    const fieldsUsed = new Set([...body.replace(/\/\/.*$/gm, '').matchAll(/\bp\s*\.\s*([A-Za-z_]\w*)/g)].map((m) => m[1]));
    for (const f of fieldsUsed) {
      if (!this.fields.some((x) => x.name === f)) throw new Error(`${where}: the shader reads p.${f}, which the declaration's uniforms do not have (${this.fields.map((x) => x.name).join(', ') || 'none'})`);
    }
    // A declared field a variant does not read is fine (elementwise's nb when b is not bound).
    if (this.fields.length) {
      lines.push(`struct Params { ${this.fields.map((f) => `${f.name}: ${f.type}`).join(', ')} }`);
      lines.push(`@group(0) @binding(${binding++}) var<uniform> p: Params;`);
    }
    return lines.join('\n') + '\n' + body;
  }

  /** Packs the uniform values by their declared types; a missing, extra or ill-typed field throws. */
  pack(values: Record<string, number | readonly number[]>, node = this.name): ArrayBuffer | undefined {
    const where = `kernel ${this.name} (node ${node})`;
    const extra = Object.keys(values).filter((k) => !this.fields.some((f) => f.name === k));
    if (extra.length) throw new Error(`${where}: uniforms ${extra.join(', ')} are not declared`);
    if (!this.fields.length) return undefined;
    const bytes = new ArrayBuffer(Math.max(16, Math.ceil(this.words / 4) * 16));
    const view = new DataView(bytes);
    for (const f of this.fields) {
      const v = values[f.name];
      if (v === undefined) throw new Error(`${where}: uniform ${f.name} not given`);
      const scalar = SCALAR[f.type];
      const list = (f.type.startsWith('vec4') ? v : [v]) as readonly unknown[];
      if (!Array.isArray(list) || list.length !== UNIFORM_LAYOUT[f.type].words) throw new Error(`${where}: uniform ${f.name} (${f.type}) given ${JSON.stringify(v)}`);
      list.forEach((x, i) => {
        const o = (f.word + i) * 4;
        if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`${where}: uniform ${f.name} (${f.type}) is ${x}`);
        if (scalar === 'f32') view.setFloat32(o, x, true);
        else if (!Number.isInteger(x) || (scalar === 'u32' ? x < 0 || x > 0xffffffff : x < -0x80000000 || x > 0x7fffffff)) {
          throw new Error(`${where}: uniform ${f.name} (${f.type}) is ${x}, not a ${scalar}`);
        } else if (scalar === 'u32') view.setUint32(o, x, true);
        else view.setInt32(o, x, true);
      });
    }
    return bytes;
  }

  /** Adds one dispatch of this kernel to g. */
  add(g: Graph, node: string, l: Launch<I, O, U>): void {
    const pick = (slots: Slot[], given: Record<string, Tensor | undefined>, what: string): Tensor[] => {
      const extra = Object.keys(given).filter((k) => !slots.some((s) => s.name === k));
      if (extra.length) throw new Error(`kernel ${this.name} (node ${node}): ${what} ${extra.join(', ')} not declared`);
      const out: Tensor[] = [];
      for (const s of slots) {
        const t = given[s.name];
        if (t) out.push(t);
        else if (!s.optional) throw new Error(`kernel ${this.name} (node ${node}): ${what} ${s.name} not given`);
      }
      return out;
    };
    const ins = l.inputs as Record<string, Tensor | undefined>, outs = l.outputs as Record<string, Tensor | undefined>;
    const inputs = pick(this.inputs, ins, 'input');
    const outputs = pick(this.outputs, outs, 'output');
    const names = (r: Record<string, Tensor | undefined>) => Object.keys(r).filter((k) => r[k]);
    const shader = this.shader({ inputs: names(ins), outputs: names(outs) }, l.flags, node);
    g.add(this.name, node, inputs, outputs, {
      shader, entryPoint: l.entryPoint, constants: l.constants,
      uniforms: this.pack(l.uniforms as Record<string, number | readonly number[]>, node),
      workgroups: l.workgroups, flops: l.flops,
    });
  }
}

export function kernel<I extends string, O extends string, U extends Record<string, UniformType> = Record<never, UniformType>>(spec: KernelSpec<I, O, U>): Kernel<I, O, U> {
  return new Kernel(spec);
}

/**
 * Expands `//#include lib.part NAME=expr` lines with the text between `//#part part` and
 * `//#endpart` in library `lib`, `%NAME%` in it replaced by expr (the rest of the line). Parts
 * are plain text: they may hold //#if, //#for and {{X}}, specialised with the including file.
 * Text of a library outside its parts is commentary.
 */
export function includeParts(source: string, libraries: Record<string, string>, where = 'WGSL'): string {
  const parts = new Map<string, string>();
  for (const [lib, text] of Object.entries(libraries)) {
    for (const m of text.matchAll(/^\/\/#part\s+(\w+)\s*\n([\s\S]*?)^\/\/#endpart\s*$/gm)) parts.set(`${lib}.${m[1]}`, m[2]);
  }
  return source.replace(/^[ \t]*\/\/#include\b(.*)$/gm, (_, rest: string) => {
    const m = /^\s+([\w.]+)(?:\s+(\w+)=(.*))?\s*$/.exec(rest);
    if (!m) throw new Error(`${where}: bad //#include line '//#include${rest}' (expected //#include lib.part [NAME=expr])`);
    const text = parts.get(m[1]);
    if (text === undefined) throw new Error(`${where}: //#include ${m[1]}: no such part (have ${[...parts.keys()].join(', ') || 'none'})`);
    const wanted = [...new Set([...text.matchAll(/%(\w+)%/g)].map((x) => x[1]))];
    const given = m[2] ? [m[2]] : [];
    if (wanted.join() !== given.join()) throw new Error(`${where}: //#include ${m[1]} takes ${wanted.map((w) => w + '=...').join(' ') || 'no argument'}, given ${given.join(' ') || 'none'}`);
    return (m[2] ? text.split(`%${m[2]}%`).join(m[3].trim()) : text).replace(/\n$/, '');
  });
}

/** Names the WGSL declares itself: var/let/const/override/alias/fn names, parameters and struct fields. */
function declaredNames(src: string): Set<string> {
  const s = new Set<string>();
  const code = stripComments(src);
  for (const m of code.matchAll(/\b(?:var(?:\s*<[^>]*>)?|let|const|override|alias|fn|struct)\s+([A-Za-z_]\w*)/g)) s.add(m[1]);
  for (const m of code.matchAll(/\b([A-Za-z_]\w*)\s*:(?!:)/g)) s.add(m[1]);
  return s;
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

/** Identifiers the code refers to (member names after '.' excluded), comments stripped. */
function identifiers(src: string): Set<string> {
  const s = new Set<string>();
  for (const m of stripComments(src).matchAll(/(\.\s*)?\b([A-Za-z_]\w*)\b/g)) if (!m[1]) s.add(m[2]);
  return s;
}
