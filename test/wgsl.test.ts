// The WGSL specialiser (src/kernels/wgsl.ts): conditionals, unrolling, values and binding
// numbers, and a clear error for every malformed directive (issue 13, item 5). CPU only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { specialize } from '../src/kernels/wgsl.ts';

const src = (...lines: string[]) => lines.join('\n');
const lines = (text: string) => text.split('\n').filter((l) => l !== '');

function throwsWith(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  let msg: string | undefined;
  try { fn(); } catch (e) { msg = (e as Error).message; }
  assert.ok(msg !== undefined, `expected an error mentioning ${parts.join(', ')}; nothing was thrown`);
  for (const p of parts) assert.ok(typeof p === 'string' ? msg!.includes(p) : p.test(msg!), `error "${msg}" does not mention ${p}`);
}

test('if / else / endif, negation, nesting', () => {
  const s = src('a', '//#if X', 'x', '//#if !Y', 'notY', '//#endif', '//#else', 'notX', '//#endif', 'b');
  assert.equal(lines(specialize(s, { X: true, Y: false })), ['a', 'x', 'notY', 'b']);
  assert.equal(lines(specialize(s, { X: true, Y: true })), ['a', 'x', 'b']);
  assert.equal(lines(specialize(s, { X: false, Y: true })), ['a', 'notX', 'b']);
  // Numbers count as flags: 0 is false.
  assert.equal(lines(specialize(s, { X: 0, Y: 2 })), ['a', 'notX', 'b']);
});

test('elif picks exactly one branch', () => {
  const s = src('//#if A', 'a', '//#elif B', 'b', '//#elif C', 'c', '//#else', 'none', '//#endif');
  const run = (A: boolean, B: boolean, C: boolean) => lines(specialize(s, { A, B, C }));
  assert.equal(run(true, true, true), ['a']);
  assert.equal(run(false, true, true), ['b']);
  assert.equal(run(false, false, true), ['c']);
  assert.equal(run(false, false, false), ['none']);
});

test('conditions: &&, ||, !, parentheses with C precedence', () => {
  const cond = (c: string, flags: Record<string, boolean>) => specialize(src(`//#if ${c}`, 'yes', '//#endif'), flags).includes('yes');
  for (const A of [false, true]) for (const B of [false, true]) for (const C of [false, true]) {
    const f = { A, B, C };
    assert.is(cond('A && B', f), A && B, `A && B at ${JSON.stringify(f)}`);
    assert.is(cond('A || B', f), A || B, `A || B at ${JSON.stringify(f)}`);
    assert.is(cond('!A && B', f), !A && B, `!A && B at ${JSON.stringify(f)}`);
    assert.is(cond('A || B && C', f), A || (B && C), `A || B && C at ${JSON.stringify(f)}`);
    assert.is(cond('(A || B) && C', f), (A || B) && C, `(A || B) && C at ${JSON.stringify(f)}`);
    assert.is(cond('!(A||B)', f), !(A || B), `!(A||B) at ${JSON.stringify(f)}`);
    assert.is(cond('! ! A', f), A, `! ! A at ${JSON.stringify(f)}`);
  }
});

test('for: unrolls with $var replaced (also before _ and in nested loops), bounds from numbers or values', () => {
  const s = src('//#for i in 0..N', '//#for j in 1..3', 'v$i_$j = $i + $j; $iota;', '//#endfor', '//#endfor');
  throwsWith(() => specialize(s, { N: 2 }), '$iota', 'line 3');
  const t = src('//#for i in 0..N', '//#for j in 1..3', 'v$i_$j = $i;', '//#endfor', '//#endfor');
  assert.equal(lines(specialize(t, { N: 2 })), ['v0_1 = 0;', 'v0_2 = 0;', 'v1_1 = 1;', 'v1_2 = 1;']);
  assert.equal(lines(specialize(t, { N: 0 })), []);
});

test('values; none is needed in an inactive branch', () => {
  const s = src('//#if B', 'const K = {{K}};', '//#endif', 'const M: u32 = {{M}}u;');
  assert.equal(lines(specialize(s, { B: true, K: 3, M: 7 })), ['const K = 3;', 'const M: u32 = 7u;']);
  assert.equal(lines(specialize(s, { B: false, M: 7 })), ['const M: u32 = 7u;']);
  throwsWith(() => specialize(s, { B: false }), 'value M not given');
});

test('a loop in an inactive branch needs no bound; flags of an inactive nested if are not needed', () => {
  const s = src('//#if TILED', '//#for i in 0..TM', 'x$i', '//#endfor', '//#if DEEP', 'deep', '//#endif', '//#else', 'plain', '//#endif');
  assert.equal(lines(specialize(s, { TILED: false })), ['plain']);
  throwsWith(() => specialize(s, { TILED: true, DEEP: false }), 'loop bound TM not given', 'line 2');
  throwsWith(() => specialize(s, { TILED: true, TM: 2 }), 'flag DEEP not given', 'line 5');
  throwsWith(() => specialize(s, { TILED: true, TM: true, DEEP: false }), 'loop bound TM is true');
});

test('every flag of an evaluated condition must be given (a typo is not silently false)', () => {
  throwsWith(() => specialize(src('//#if A || TYPO', 'x', '//#endif'), { A: true }), 'flag TYPO not given', 'line 1');
  throwsWith(() => specialize(src('//#if A', '//#elif TYPO', '//#endif'), { A: true }), 'flag TYPO not given');
  throwsWith(() => specialize(src('//#if A', '//#endif'), {}), 'flag A not given');
});

test('malformed directives are errors naming the line', () => {
  const bad: [string, string[], ...string[]][] = [
    ['second else', ['//#if A', '//#else', '//#else', '//#endif'], 'line 3', 'after the //#else'],
    ['elif after else', ['//#if A', '//#else', '//#elif A', '//#endif'], 'line 3', 'after the //#else'],
    ['else without if', ['x', '//#else'], 'line 2', 'without //#if'],
    ['elif without if', ['//#elif A'], 'line 1', 'without //#if'],
    ['endif without if', ['//#endif'], 'line 1', 'without //#if'],
    ['endfor without for', ['//#endfor'], 'line 1', 'without //#for'],
    ['unterminated if', ['//#if A', 'x'], 'line 1', 'unterminated //#if'],
    ['unterminated for', ['//#for i in 0..2', 'x'], 'line 1', 'unterminated //#for'],
    ['crossed blocks', ['//#for i in 0..2', '//#if A', '//#endfor', '//#endif'], 'line 3', 'closes the //#if of line 2'],
    ['unknown directive', ['//#ifdef A', '//#endif'], 'line 1', 'unknown directive //#ifdef'],
    ['unknown directive', ['//#include "x.wgsl"'], 'line 1', 'unknown directive //#include'],
    ['empty directive', ['  //#'], 'line 1', 'unknown directive'],
    ['trailing token after else', ['//#if A', '//#else B', '//#endif'], 'line 2', 'unexpected "B"'],
    ['trailing token after endif', ['//#if A', '//#endif A'], 'line 2', 'unexpected "A"'],
    ['trailing token after endfor', ['//#for i in 0..2', '//#endfor i'], 'line 2', 'unexpected "i"'],
    ['trailing token in a condition', ['//#if A B', '//#endif'], 'line 1', 'unexpected "B"'],
    ['single & in a condition', ['//#if A & B', '//#endif'], 'line 1', 'unexpected "&"'],
    ['empty condition', ['//#if', '//#endif'], 'line 1', 'condition ends'],
    ['unbalanced parenthesis', ['//#if (A || B', '//#endif'], 'line 1', '")"'],
    ['dangling operator', ['//#if A &&', '//#endif'], 'line 1', 'condition ends'],
    ['malformed for', ['//#for i in 0...2', '//#endfor'], 'line 1', 'expected //#for NAME in A..B'],
    ['trailing token after for', ['//#for i in 0..2 step 2', '//#endfor'], 'line 1', 'expected //#for NAME in A..B'],
    ['shadowed loop variable', ['//#for i in 0..2', '//#for i in 0..2', '//#endfor', '//#endfor'], 'line 2', 'already the variable of line 1'],
  ];
  for (const [what, text, ...parts] of bad) {
    try { specialize(src(...text), { A: true, B: true }); } catch (e) {
      for (const p of parts) assert.ok((e as Error).message.includes(p), `${what}: "${(e as Error).message}" does not mention ${p}`);
      continue;
    }
    assert.unreachable(`${what}: no error for ${JSON.stringify(text)}`);
  }
});

test('directives are checked in inactive branches too; //# inside a line is a plain comment', () => {
  throwsWith(() => specialize(src('//#if A', '//#elsif B', '//#endif'), { A: false }), 'unknown directive //#elsif');
  throwsWith(() => specialize(src('//#if A', '//#if B C', '//#endif', '//#endif'), { A: false }), 'line 2', 'unexpected "C"');
  assert.equal(lines(specialize(src('x = 1; //#if A', '// unrolled by //#for'), {})), ['x = 1; //#if A', '// unrolled by //#for']);
});

test.run();
