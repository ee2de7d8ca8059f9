// A tiny WGSL specialiser shared by all kernels. Directives are whole lines starting `//#`:
// `//#if COND` / `//#elif COND` / `//#else` / `//#endif` drop code a variant does not use; COND is flag names with `!`, `&&`, `||` and
// parentheses. `//#for i in A..B` / `//#endfor` repeats lines with `$i` replaced (A, B numbers or
// value names): SwiftShader's Subzero JIT keeps function-scope arrays in memory, so register
// tiles must be plain scalars/vectors, unrolled in the source. `{{NAME}}` inserts a number where
// WGSL needs a const-expression (register array sizes). (Bindings and the uniform struct are
// generated from each kernel's declaration: kernel.ts.) Everything is strict: an unknown directive, a
// trailing token, a second `//#else`, a flag not given or a stray `$name` is an error, and code
// in an inactive branch (loop bounds included) needs none of its flags.

type Flags = Record<string, boolean | number>;
type Cond = { op: 'flag'; name: string } | { op: '!'; a: Cond } | { op: '&&' | '||'; a: Cond; b: Cond };
type Item =
  | { kind: 'line'; text: string; line: number }
  | { kind: 'if'; branches: { cond: Cond | null; body: Item[] }[]; line: number }
  | { kind: 'for'; v: string; from: string; to: string; body: Item[]; line: number };

export function specialize(source: string, flags: Flags = {}): string {
  const out: string[] = [];
  emit(parse(source.split('\n')), flags, new Map(), out);
  return number(out.join('\n'), flags);
}

const IDENT = /^[A-Za-z_]\w*$/;

function parse(lines: string[]): Item[] {
  const root: Item[] = [];
  // Open blocks, innermost last; `body` is where the next line goes.
  const open: { item: Item & { kind: 'if' | 'for' }; body: Item[]; sawElse?: boolean }[] = [];
  const body = () => (open.length ? open[open.length - 1].body : root);
  lines.forEach((text, i) => {
    const line = i + 1;
    const m = /^\s*\/\/#(\w*)(.*)$/.exec(text);
    if (!m) { body().push({ kind: 'line', text, line }); return; }
    const [, name, restRaw] = m;
    const rest = restRaw.trim();
    const err = (msg: string) => new Error(`WGSL line ${line} (${text.trim()}): ${msg}`);
    const top = open[open.length - 1];
    const noArgs = () => { if (rest) throw err(`unexpected "${rest}" after //#${name}`); };
    const closeTop = (kind: 'if' | 'for') => {
      if (!top) throw err(`//#end${kind} without //#${kind}`);
      if (top.item.kind !== kind) throw err(`//#end${kind} closes the //#${top.item.kind} of line ${top.item.line}`);
      open.pop();
    };
    switch (name) {
      case 'if': {
        const item: Item = { kind: 'if', branches: [{ cond: parseCond(rest, err), body: [] }], line };
        body().push(item);
        open.push({ item, body: item.branches[0].body });
        break;
      }
      case 'elif': case 'else': {
        if (!top || top.item.kind !== 'if') throw err(`//#${name} without //#if`);
        if (top.sawElse) throw err(`//#${name} after the //#else of the //#if of line ${top.item.line}`);
        if (name === 'else') noArgs();
        const branch = { cond: name === 'elif' ? parseCond(rest, err) : null, body: [] as Item[] };
        top.item.branches.push(branch);
        top.body = branch.body;
        top.sawElse = name === 'else';
        break;
      }
      case 'endif': noArgs(); closeTop('if'); break;
      case 'for': {
        const f = /^([A-Za-z_]\w*)\s+in\s+(\w+)\.\.(\w+)$/.exec(rest);
        if (!f) throw err('expected //#for NAME in A..B');
        for (const b of [f[2], f[3]]) if (!/^\d+$/.test(b) && !IDENT.test(b)) throw err(`loop bound ${b} is neither a number nor a value name`);
        for (const o of open) if (o.item.kind === 'for' && o.item.v === f[1]) throw err(`loop variable ${f[1]} is already the variable of line ${o.item.line}`);
        const item: Item = { kind: 'for', v: f[1], from: f[2], to: f[3], body: [], line };
        body().push(item);
        open.push({ item, body: item.body });
        break;
      }
      case 'endfor': noArgs(); closeTop('for'); break;
      default: throw err(`unknown directive //#${name} (known: if, elif, else, endif, for, endfor)`);
    }
  });
  const top = open[open.length - 1];
  if (top) throw new Error(`WGSL line ${top.item.line}: unterminated //#${top.item.kind}`);
  return root;
}

/** COND := OR; OR := AND ('||' AND)*; AND := NOT ('&&' NOT)*; NOT := '!' NOT | '(' OR ')' | NAME. */
function parseCond(src: string, err: (msg: string) => Error): Cond {
  const tokens = src.match(/\|\||&&|[!()]|[A-Za-z_]\w*|\S+/g) ?? [];
  let k = 0;
  const expect = (what: string): never => { throw err(tokens[k] === undefined ? `condition ends where ${what} was expected` : `unexpected "${tokens[k]}" where ${what} was expected`); };
  const or = (): Cond => {
    let a = and();
    while (tokens[k] === '||') { k++; a = { op: '||', a, b: and() }; }
    return a;
  };
  const and = (): Cond => {
    let a = not();
    while (tokens[k] === '&&') { k++; a = { op: '&&', a, b: not() }; }
    return a;
  };
  const not = (): Cond => {
    const t = tokens[k];
    if (t === '!') { k++; return { op: '!', a: not() }; }
    if (t === '(') {
      k++;
      const a = or();
      if (tokens[k] !== ')') expect('")"');
      k++;
      return a;
    }
    if (t !== undefined && IDENT.test(t)) { k++; return { op: 'flag', name: t }; }
    return expect('a flag name');
  };
  const c = or();
  if (k < tokens.length) expect('"&&", "||" or the end of the condition');
  return c;
}

/** Every flag named in a condition must be given, also where the value does not decide it (typos). */
function evaluate(c: Cond, flags: Flags, line: number): boolean {
  switch (c.op) {
    case 'flag':
      if (!(c.name in flags)) throw new Error(`WGSL line ${line}: flag ${c.name} not given`);
      return Boolean(flags[c.name]);
    case '!': return !evaluate(c.a, flags, line);
    case '&&': { const a = evaluate(c.a, flags, line), b = evaluate(c.b, flags, line); return a && b; }
    case '||': { const a = evaluate(c.a, flags, line), b = evaluate(c.b, flags, line); return a || b; }
  }
}

function emit(items: Item[], flags: Flags, vars: Map<string, number>, out: string[]): void {
  for (const it of items) {
    if (it.kind === 'line') {
      let text = it.text;
      for (const [v, n] of vars) text = text.replace(new RegExp(`\\$${v}(?![A-Za-z0-9])`, 'g'), String(n));
      const stray = /\$[A-Za-z_]\w*/.exec(text);
      if (stray) throw new Error(`WGSL line ${it.line}: ${stray[0]} is not a loop variable here`);
      out.push(text);
    } else if (it.kind === 'if') {
      const taken = it.branches.map((b) => b.cond === null || evaluate(b.cond, flags, it.line)).indexOf(true);
      if (taken >= 0) emit(it.branches[taken].body, flags, vars, out);
    } else {
      const bound = (b: string) => {
        const n = /^\d+$/.test(b) ? Number(b) : flags[b];
        if (!Number.isInteger(n) || (n as number) < 0) throw new Error(`WGSL line ${it.line}: loop bound ${b} ${b in flags ? `is ${flags[b]}, not a count` : 'not given'}`);
        return n as number;
      };
      const from = bound(it.from), to = bound(it.to);
      for (let n = from; n < to; n++) emit(it.body, flags, new Map(vars).set(it.v, n), out);
    }
  }
}

function number(text: string, flags: Record<string, boolean | number>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    if (!(k in flags)) throw new Error(`WGSL value ${k} not given`);
    return String(Number(flags[k]));
  });
}

export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/**
 * `total` invocations in workgroups of `wg` laid out as a 2D grid, since one dimension holds at
 * most maxPerDim workgroups: the shader's flat index is gid.x + gid.y * pitch.
 */
export function grid1d(total: number, maxPerDim: number, wg = 64): { workgroups: [number, number, number]; pitch: number } {
  const groups = ceilDiv(total, wg);
  const gx = Math.min(groups, maxPerDim);
  return { workgroups: [gx, ceilDiv(groups, gx), 1], pitch: gx * wg };
}
