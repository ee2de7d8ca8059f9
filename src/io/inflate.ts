// Raw DEFLATE (RFC 1951) decoder, synchronous so the readers keep a plain sync API in Node and
// browsers alike. The output size is fixed up front by the caller (the zip entry's declared size)
// and the decoder refuses to write one byte more: that is the zip-bomb guard.
import { fail } from './errors.ts';

const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** A canonical Huffman code as a direct lookup table indexed by the next `bits` input bits. */
interface Huffman {
  table: Int32Array; // (symbol << 4) | codeLength, 0 = no code
  bits: number;
}

export function inflateRaw(src: Uint8Array, outSize: number, file = '<memory>', key?: string): Uint8Array {
  const bad = (what: string): never => fail(file, `corrupt deflate data: ${what}`, { key });
  // The declared size is untrusted: start from a size the input can plausibly produce and grow
  // (doubling, never past outSize) so a lying header cannot force a huge allocation up front.
  let out = alloc(Math.min(outSize, Math.max(1 << 16, src.length * 4)));
  let op = 0;
  const room = (n: number): void => {
    if (op + n > outSize) bomb();
    if (op + n > out.length) {
      const bigger = alloc(Math.min(outSize, Math.max(op + n, out.length * 2)));
      bigger.set(out.subarray(0, op));
      out = bigger;
    }
  };
  let pos = 0, buf = 0, cnt = 0; // LSB-first bit buffer

  const need = (n: number): void => {
    while (cnt < n) {
      // Past the end, feed zeros so table lookups can peek; over-reading is detected below.
      if (pos >= src.length + 4) bad('unexpected end of stream');
      buf |= (pos < src.length ? src[pos]! : 0) << cnt;
      pos++;
      cnt += 8;
    }
  };
  const bits = (n: number): number => {
    need(n);
    const v = buf & ((1 << n) - 1);
    buf >>>= n;
    cnt -= n;
    return v;
  };
  const build = (lengths: ArrayLike<number>, n: number): Huffman => {
    const count = new Int32Array(16);
    let max = 0;
    for (let i = 0; i < n; i++) { count[lengths[i]!]!++; if (lengths[i]! > max) max = lengths[i]!; }
    count[0] = 0;
    let left = 1;
    for (let l = 1; l <= 15; l++) { left = (left << 1) - count[l]!; if (left < 0) bad('over-subscribed Huffman code'); }
    const next = new Int32Array(16);
    for (let l = 1, code = 0; l <= 15; l++) { code = (code + count[l - 1]!) << 1; next[l] = code; }
    const table = new Int32Array(1 << max);
    for (let sym = 0; sym < n; sym++) {
      const len = lengths[sym]!;
      if (!len) continue;
      let code = next[len]!++, rev = 0;
      for (let i = 0; i < len; i++) { rev = (rev << 1) | (code & 1); code >>= 1; }
      for (let j = rev; j < table.length; j += 1 << len) table[j] = (sym << 4) | len;
    }
    return { table, bits: max };
  };
  const decode = (h: Huffman): number => {
    need(h.bits);
    const e = h.table[buf & ((1 << h.bits) - 1)]!;
    const len = e & 15;
    if (!len) bad('invalid Huffman code');
    buf >>>= len;
    cnt -= len;
    return e >>> 4;
  };

  let fixed: [Huffman, Huffman] | undefined;
  let final = 0;
  while (!final) {
    final = bits(1);
    const type = bits(2);
    if (type === 0) {
      // Stored block: drop to a byte boundary, give back whole buffered bytes.
      buf >>>= cnt & 7;
      cnt -= cnt & 7;
      pos -= cnt >> 3;
      buf = cnt = 0;
      if (pos + 4 > src.length) bad('truncated stored block');
      const len = src[pos]! | (src[pos + 1]! << 8);
      const nlen = src[pos + 2]! | (src[pos + 3]! << 8);
      if ((len ^ 0xffff) !== nlen) bad('stored block length check failed');
      pos += 4;
      if (pos + len > src.length) bad('truncated stored block');
      room(len);
      out.set(src.subarray(pos, pos + len), op);
      op += len;
      pos += len;
      continue;
    }
    let lit: Huffman, dist: Huffman;
    if (type === 1) {
      if (!fixed) {
        const l = new Uint8Array(288);
        l.fill(8, 0, 144); l.fill(9, 144, 256); l.fill(7, 256, 280); l.fill(8, 280, 288);
        fixed = [build(l, 288), build(new Uint8Array(30).fill(5), 30)];
      }
      [lit, dist] = fixed;
    } else if (type === 2) {
      const nlit = bits(5) + 257, ndist = bits(5) + 1, nclen = bits(4) + 4;
      if (nlit > 286 || ndist > 30) bad('too many length or distance codes');
      const clen = new Uint8Array(19);
      for (let i = 0; i < nclen; i++) clen[CLEN_ORDER[i]!] = bits(3);
      const ch = build(clen, 19);
      const lengths = new Uint8Array(nlit + ndist);
      for (let i = 0; i < nlit + ndist;) {
        const sym = decode(ch);
        if (sym < 16) { lengths[i++] = sym; continue; }
        let rep: number, val = 0;
        if (sym === 16) {
          if (i === 0) bad('repeat with no previous length');
          val = lengths[i - 1]!;
          rep = 3 + bits(2);
        } else if (sym === 17) rep = 3 + bits(3);
        else rep = 11 + bits(7);
        if (i + rep > nlit + ndist) bad('code lengths overflow');
        lengths.fill(val, i, i + rep);
        i += rep;
      }
      if (!lengths[256]) bad('no end-of-block code');
      lit = build(lengths.subarray(0, nlit), nlit);
      dist = build(lengths.subarray(nlit), ndist);
    } else {
      return bad('invalid block type');
    }
    for (;;) {
      const sym = decode(lit);
      if (sym < 256) {
        if (op >= out.length) room(1);
        out[op++] = sym;
      } else if (sym === 256) {
        break;
      } else {
        const li = sym - 257;
        if (li >= 29) bad('invalid length symbol');
        const len = LEN_BASE[li]! + bits(LEN_EXTRA[li]!);
        const di = decode(dist);
        if (di >= 30) bad('invalid distance symbol');
        const d = DIST_BASE[di]! + bits(DIST_EXTRA[di]!);
        if (d > op) bad('distance points before the start of the output');
        if (op + len > out.length) room(len);
        for (let i = 0; i < len; i++, op++) out[op] = out[op - d]!;
      }
    }
  }
  if (pos * 8 - cnt > src.length * 8) bad('unexpected end of stream');
  if (op !== outSize) {
    fail(file, 'entry inflates to fewer bytes than its declared size', { key, expected: `${outSize} bytes`, found: `${op}` });
  }
  return out.length === op ? out : out.slice(0, op);

  function alloc(n: number): Uint8Array {
    try {
      return new Uint8Array(n);
    } catch {
      return fail(file, `cannot allocate ${n} bytes for an archive entry`, { key });
    }
  }

  function bomb(): never {
    return fail(file, 'entry inflates to more bytes than its declared size', {
      key, expected: `${outSize} bytes`, hint: 'the archive is corrupt or a zip bomb',
    });
  }
}
