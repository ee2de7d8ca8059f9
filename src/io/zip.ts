// Minimal zip reader for torch.save archives and numpy .npz files: end of central directory
// (with the zip64 locator/record), central directory, local headers; stored and deflate entries.
// Every offset and size is untrusted: all are checked against the file, entries may not
// overlap (the non-recursive zip-bomb trick), and decompressed sizes are capped.
import { fail } from './errors.ts';
import { inflateRaw } from './inflate.ts';

export interface ZipEntry {
  name: string;
  method: number; // 0 stored, 8 deflate
  compressedSize: number;
  size: number;
  crc32: number;
  /** Offset of the entry's data (after its local header) in the archive. */
  dataOffset: number;
}

export interface ZipLimits {
  maxEntries?: number;
  /** Cap on one entry's uncompressed size. */
  maxEntryBytes?: number;
  /** Cap on the sum of uncompressed bytes handed out by read(). */
  maxTotalBytes?: number;
  /** Verify CRC-32 of every entry read (default true). */
  verifyCrc?: boolean;
}

const SIG_LOCAL = 0x04034b50, SIG_CENTRAL = 0x02014b50, SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50, SIG_LOCATOR64 = 0x07064b50;
/** Deflate cannot expand data by more than ~1032:1; a larger claimed ratio is a lie. */
const MAX_DEFLATE_RATIO = 1032;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 && bytes[3] === 4;
}

export class ZipArchive {
  readonly entries: readonly ZipEntry[];
  private readonly byName = new Map<string, ZipEntry>();
  private totalRead = 0;

  constructor(readonly bytes: Uint8Array, readonly file: string, entries: ZipEntry[], private readonly limits: Required<ZipLimits>) {
    this.entries = entries;
    for (const e of entries) this.byName.set(e.name, e);
  }

  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** The entry's uncompressed bytes (a view into the archive for stored entries: do not mutate). */
  read(entry: string | ZipEntry): Uint8Array {
    const e = typeof entry === 'string' ? this.byName.get(entry) : entry;
    if (!e) return fail(this.file, 'missing archive entry', { key: String(entry) });
    const { file, limits } = this;
    if (e.size > limits.maxEntryBytes) {
      fail(file, 'archive entry too large', { key: e.name, expected: `at most ${limits.maxEntryBytes} bytes`, found: `${e.size}` });
    }
    if (this.totalRead + e.size > limits.maxTotalBytes) {
      fail(file, 'archive expands to too many bytes', {
        key: e.name, expected: `at most ${limits.maxTotalBytes} bytes in all`, hint: 'the archive is a zip bomb or larger than allowed',
      });
    }
    const raw = this.bytes.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.size) {
        fail(file, 'stored entry sizes disagree', { key: e.name, expected: `${e.size} bytes`, found: `${e.compressedSize}` });
      }
      data = raw;
    } else {
      if (e.size > e.compressedSize * MAX_DEFLATE_RATIO + 1024) {
        fail(file, 'declared size is impossible for deflate', {
          key: e.name, found: `${e.size} bytes from ${e.compressedSize} compressed`, hint: 'the archive is corrupt or a zip bomb',
        });
      }
      data = inflateRaw(raw, e.size, file, e.name);
    }
    this.totalRead += e.size;
    if (limits.verifyCrc) {
      const crc = crc32(data);
      if (crc !== e.crc32) {
        fail(file, 'CRC-32 mismatch', { key: e.name, expected: hex(e.crc32), found: hex(crc), hint: 'the file is corrupt; download it again' });
      }
    }
    return data;
  }
}

export function readZip(bytes: Uint8Array, file = '<memory>', limits: ZipLimits = {}): ZipArchive {
  const lim: Required<ZipLimits> = {
    maxEntries: limits.maxEntries ?? 100_000,
    maxEntryBytes: limits.maxEntryBytes ?? 2 ** 31 - 1,
    maxTotalBytes: limits.maxTotalBytes ?? 2 ** 33,
    verifyCrc: limits.verifyCrc ?? true,
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);
  const u64 = (o: number, what: string): number => {
    const v = dv.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(file, `zip64 ${what} out of range`, { found: `${v}` });
    return Number(v);
  };

  // End of central directory: the last signature within the final 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let p = bytes.length - 22; p >= Math.max(0, bytes.length - 22 - 65535); p--) {
    if (u32(p) === SIG_EOCD && p + 22 + u16(p + 20) <= bytes.length) { eocd = p; break; }
  }
  if (eocd < 0) {
    fail(file, 'not a zip archive (no end of central directory record)', { hint: 'the file is truncated or not a zip/torch/npz file' });
  }
  if (u16(eocd + 4) !== 0 || (u16(eocd + 6) !== 0 && u16(eocd + 6) !== 0xffff)) fail(file, 'multi-disk zip archives are not supported');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  // zip64: a locator just before the EOCD points at the zip64 EOCD record with 64-bit fields.
  if (eocd >= 20 && u32(eocd - 20) === SIG_LOCATOR64) {
    const rec = u64(eocd - 20 + 8, 'end of central directory offset');
    if (rec + 56 > eocd - 20 || u32(rec) !== SIG_EOCD64) {
      fail(file, 'zip64 end of central directory record is missing or out of range', { found: `offset ${rec}` });
    }
    count = u64(rec + 32, 'entry count');
    cdSize = u64(rec + 40, 'central directory size');
    cdOffset = u64(rec + 48, 'central directory offset');
  }
  if (count > lim.maxEntries) fail(file, 'too many archive entries', { expected: `at most ${lim.maxEntries}`, found: `${count}` });
  if (cdOffset + cdSize > eocd) {
    fail(file, 'central directory lies outside the file', { found: `offset ${cdOffset} + size ${cdSize} > ${eocd}`, hint: 'the file is truncated' });
  }

  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  const spans: [number, number, string, Uint8Array][] = [];
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdEnd || u32(p) !== SIG_CENTRAL) fail(file, 'corrupt central directory', { found: `entry ${i} of ${count} at offset ${p}` });
    const flags = u16(p + 8), method = u16(p + 10), crc = u32(p + 16);
    let csize = u32(p + 20), usize = u32(p + 24);
    const nameLen = u16(p + 28), extraLen = u16(p + 30), commentLen = u16(p + 32);
    let local = u32(p + 42);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cdEnd) fail(file, 'corrupt central directory', { found: `entry ${i} runs past the directory end` });
    const nameBytes = bytes.subarray(p + 46, p + 46 + nameLen);
    const name = new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(nameBytes);
    // zip64 extended information: 64-bit values, present only for fields saturated at 0xffffffff.
    for (let x = p + 46 + nameLen, xEnd = x + extraLen; x + 4 <= xEnd;) {
      const id = u16(x), size = u16(x + 2);
      if (x + 4 + size > xEnd) fail(file, 'corrupt extra field', { key: name });
      if (id === 0x0001) {
        let q = x + 4;
        const take = (what: string): number => {
          if (q + 8 > x + 4 + size) fail(file, 'zip64 extra field too short', { key: name });
          const v = u64(q, what);
          q += 8;
          return v;
        };
        if (usize === 0xffffffff) usize = take('size');
        if (csize === 0xffffffff) csize = take('compressed size');
        if (local === 0xffffffff) local = take('local header offset');
      }
      x += 4 + size;
    }
    if (flags & 1) fail(file, 'encrypted archive entries are not supported', { key: name });
    if (method !== 0 && method !== 8) {
      fail(file, 'unsupported compression method', { key: name, expected: '0 (stored) or 8 (deflate)', found: `${method}`, hint: 're-create the archive without compression, or with deflate' });
    }
    if (names.has(name)) fail(file, 'duplicate archive entry', { key: name });
    names.add(name);
    // Local header: its own name/extra lengths (torch pads data to 64 bytes through the extra field).
    if (local + 30 > cdOffset || u32(local) !== SIG_LOCAL) {
      fail(file, 'local header missing or out of range', { key: name, found: `offset ${local}` });
    }
    const dataOffset = local + 30 + u16(local + 26) + u16(local + 28);
    if (dataOffset + csize > cdOffset) {
      fail(file, 'entry data runs past the central directory', { key: name, found: `${dataOffset} + ${csize} > ${cdOffset}`, hint: 'the file is truncated or corrupt' });
    }
    entries.push({ name, method, compressedSize: csize, size: usize, crc32: crc, dataOffset });
    spans.push([local, dataOffset + csize, name, nameBytes]);
    p = next;
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![0] < spans[i - 1]![1]) {
      fail(file, 'archive entries overlap', { key: spans[i]![2], hint: 'the archive is corrupt or a zip bomb' });
    }
  }
  for (const [local, , name, nameBytes] of spans) {
    const localName = bytes.subarray(local + 30, local + 30 + u16(local + 26));
    if (localName.length !== nameBytes.length || localName.some((b, j) => b !== nameBytes[j])) {
      fail(file, 'local header name differs from the central directory', { key: name });
    }
  }
  return new ZipArchive(bytes, file, entries, lim);
}

let crcTable: Int32Array | undefined;
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  const t = crcTable;
  let c = -1;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}
