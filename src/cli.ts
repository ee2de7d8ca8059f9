// The `trans3dhead` command line: run, eval, convert, convert-flame, info.
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PNG } from 'pngjs';
import { flameToSafetensors, readFlame } from './io/flame.ts';
import { drawOverlay } from './model/overlay.ts';
import { resultToJSON } from './model/result-json.ts';
import { Trans3DHead, type HeadResult } from './model/trans3dhead.ts';
import { compactWeightsToSafetensors, parseWeights, weightsToSafetensors } from './model/weights.ts';
import { WEIGHT_FORMATS, type WeightFormat } from './kernels/weights.ts';
import { decodeImage } from './platform/node-io.ts';
import { nodePlatform, releaseDevice } from './platform/node.ts';
import { ADAPTER_CHOICES, describeAdapter, LIMITS_MODES, type AdapterChoice, type LimitsMode } from './platform/types.ts';
import { COMPUTE_CHOICES, SCHEDULE_CHOICES } from './graph/tuning.ts';
import { DadDataset } from './eval/dataset.ts';
import { evaluateDataset, findSubsets, flameEmbedding, formatReport, padToCanvas, plan } from './eval/evaluate.ts';

const USAGE = `trans3dhead: 3D head alignment (Trans3DHead) on WebGPU

  trans3dhead run <image...> [--weights w.safetensors|w.pth] [--flame f.safetensors|generic_model.pkl|f.npz]
                  [--flame-landmarks file]... [--box x,y,w,h|image] [--max-heads N] [--detector short|full]
                  [--detector-file face_detection_*.tflite]
                  [--out result.json] [--overlay out.png]
                  [--nhead N] [--strip-prefix p] [--adapter A] [--limits L] [--schedule S] [--compute C] [--no-cache]
  trans3dhead convert in.pth out.safetensors [--dtype f32|f16|int8 [--keep-f16 regexp|none]...] [--strip-prefix p] [--nhead N]
  trans3dhead convert-flame generic_model.pkl|model.npz out.safetensors [--flame-landmarks file]...
  trans3dhead eval <dataset dir|split.json> [--split val] --weights w.pth [--flame f] [--flame-landmarks file]...
                  [--subsets DIR] [--head-indices head_indices.npy] [--face-indices face.npy]
                  [--out report.json] [--limit N] [--nhead N] [--adapter A] [--limits L] [--schedule S] [--compute C] [--no-cache]
  trans3dhead info [--adapter A] [--limits L]

  --adapter auto|gpu|swiftshader|lavapipe   (default: env TRANS3DHEAD_ADAPTER, else auto)
  --limits adapter|default                   default = only the WebGPU spec-default limits
  --schedule auto|cpu|gpu                    force the CPU (register) or GPU (tiled) kernels
  --compute f32|f16                          f16: convolutions and linear layers multiply in f16
                                             (adapters with shader-f16; default f32)
  --no-cache                                 download http(s) model files every time, keep nothing
                                             (default: kept in $TRANS3DHEAD_CACHE, else
                                             $XDG_CACHE_HOME/trans3dhead, else ~/.cache/trans3dhead)

Without --box, run finds the faces (BlazeFace, --detector, default short range) and aligns every
head, largest first (--max-heads N: at most N; --detector-file: the .tflite, default the one in
the npm package @mediapipe/face_detection): --out holds an array of heads per image, and
--overlay draws them all. --box x,y,w,h aligns that one head; --box image uses the whole image.

Without --weights/--flame, run uses the built-in UNTRAINED default weights and a synthetic FLAME:
the numbers are then not a real prediction.`;

class UsageError extends Error {}

// Each command's options for util.parseArgs in strict mode: an unknown option (a typo), a
// missing value or a stray argument is a usage error, never silently ignored.
const str = { type: 'string' } as const;
const COMMANDS: Record<string, { positionals: boolean; options: NonNullable<ParseArgsConfig['options']> }> = {
  run: { positionals: true, options: { weights: str, flame: str, 'flame-landmarks': { type: 'string', multiple: true }, box: str, 'max-heads': str, detector: str, 'detector-file': str, out: str, overlay: str, nhead: str, 'strip-prefix': str, adapter: str, limits: str, schedule: str, compute: str, 'no-cache': { type: 'boolean' } } },
  convert: { positionals: true, options: { 'strip-prefix': str, nhead: str, dtype: str, 'keep-f16': { type: 'string', multiple: true } } },
  'convert-flame': { positionals: true, options: { 'flame-landmarks': { type: 'string', multiple: true } } },
  eval: { positionals: true, options: { split: str, weights: str, flame: str, 'flame-landmarks': { type: 'string', multiple: true }, subsets: str, 'head-indices': str, 'face-indices': str, out: str, limit: str, nhead: str, 'strip-prefix': str, adapter: str, limits: str, schedule: str, compute: str, 'no-cache': { type: 'boolean' } } },
  info: { positionals: false, options: { adapter: str, limits: str } },
};

interface Args { pos: string[]; one: (k: string) => string | undefined; many: (k: string) => string[] | undefined; flag: (k: string) => boolean }

function parse(cmd: string, argv: string[]): Args & { help: boolean } {
  const spec = COMMANDS[cmd];
  let values: Record<string, unknown>, positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: { ...spec.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: spec.positionals, strict: true }));
  } catch (e) {
    throw new UsageError(`${cmd}: ${(e as Error).message}`);
  }
  return {
    pos: positionals, help: values.help === true,
    one: (k) => values[k] as string | undefined,
    many: (k) => values[k] as string[] | undefined,
    flag: (k) => values[k] === true,
  };
}

function parseNhead(s: string | undefined): { nhead: number } | undefined {
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s) || Number(s) < 1) throw new UsageError(`--nhead ${s}: expected a positive integer`);
  return { nhead: Number(s) };
}

/** Writes atomically: nothing appears at `path` unless the whole file was written. */
async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

function parseBox(s: string | undefined): [number, number, number, number] | 'image' | undefined {
  if (s === undefined) return undefined;
  if (s === 'image') return 'image';
  const v = s.split(',').map(Number);
  if (v.length !== 4 || v.some((x) => !Number.isFinite(x))) throw new UsageError(`--box ${s}: expected x,y,w,h (four numbers)`);
  return v as [number, number, number, number];
}

function choice<T extends string>(flag: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`${flag} ${v}: expected one of ${allowed.join(', ')}`);
  return v as T;
}

function deviceChoice(one: Args['one']): { adapter?: AdapterChoice; limits?: LimitsMode } {
  return { adapter: choice('--adapter', one('adapter'), ADAPTER_CHOICES), limits: choice('--limits', one('limits'), LIMITS_MODES) };
}

async function run({ pos, one, many, flag }: Args): Promise<void> {
  if (pos.length === 0) throw new UsageError('run: give at least one image');
  const box = parseBox(one('box'));
  const mh = one('max-heads');
  if (mh !== undefined && !/^\d+$/.test(mh)) throw new UsageError(`--max-heads ${mh}: expected a positive integer`);
  const maxHeads = mh === undefined ? undefined : Number(mh);
  if (maxHeads === 0) throw new UsageError('--max-heads 0: expected a positive integer');
  if (maxHeads !== undefined && box !== undefined) throw new UsageError('--max-heads applies to detection: give either --box or --max-heads');
  const detector = choice('--detector', one('detector'), ['short', 'full'] as const);
  if (one('overlay') && pos.length !== 1) throw new UsageError('--overlay draws one image; run one image at a time');
  const model = await Trans3DHead.create(nodePlatform, {
    weights: one('weights'), flame: one('flame'), flameLandmarks: many('flame-landmarks'),
    stripPrefix: one('strip-prefix'), config: parseNhead(one('nhead')), ...deviceChoice(one),
    schedule: choice('--schedule', one('schedule'), SCHEDULE_CHOICES), compute: choice('--compute', one('compute'), COMPUTE_CHOICES), detector, detectorFile: one('detector-file'), cache: !flag('no-cache'),
  });
  try {
    if (model.synthetic.weights || model.synthetic.flame) {
      process.stderr.write(`trans3dhead: WARNING: ${model.synthetic.weights ? 'built-in UNTRAINED weights' : ''}${model.synthetic.weights && model.synthetic.flame ? ' and ' : ''}${model.synthetic.flame ? 'the synthetic FLAME' : ''}: these numbers are NOT a real prediction.\n`);
    }
    const images = await Promise.all(pos.map((p) => decodeImage(p)));
    // Per image: the one head of --box, or every detected head (possibly none).
    const results: HeadResult[][] = [];
    for (const [i, img] of images.entries()) {
      const heads = box !== undefined ? [await model.run(img, { box })] : await model.run(img, { maxHeads });
      results.push(heads);
      if (heads.length === 0) process.stdout.write(`${basename(pos[i])}: no face found\n`);
      for (const [j, r] of heads.entries()) {
        const p = r.pose, b = r.crop.box;
        const which = box !== undefined ? '' : ` head ${j + 1}/${heads.length} (box ${b.x},${b.y},${b.width},${b.height})`;
        process.stdout.write(`${basename(pos[i])}${which}: pitch ${p.pitch.toFixed(2)}, yaw ${p.yaw.toFixed(2)}, roll ${p.roll.toFixed(2)} deg; ${r.timeMs.toFixed(1)} ms\n`);
      }
    }
    process.stdout.write(`adapter: ${model.adapter}\n`);
    const out = one('out');
    if (out) {
      // --box: one object per image (as before); detection: an array of heads per image. One image: just its entry.
      const json = results.map((heads) => (box !== undefined ? resultToJSON(heads[0], model.adapter) : heads.map((r) => resultToJSON(r, model.adapter))));
      await writeAtomic(out, JSON.stringify(json.length === 1 ? json[0] : json));
      process.stdout.write(`wrote ${out}\n`);
    }
    const overlay = one('overlay');
    if (overlay) {
      const img = images[0];
      const png = new PNG({ width: img.width, height: img.height });
      const src = img.data as Uint8Array;
      for (let i = 0, n = img.width * img.height; i < n; i++) {
        const c = img.channels ?? 4;
        png.data[4 * i] = src[c * i]; png.data[4 * i + 1] = src[c * i + 1]; png.data[4 * i + 2] = src[c * i + 2]; png.data[4 * i + 3] = 255;
      }
      for (const r of results[0]) drawOverlay({ data: png.data, width: img.width, height: img.height }, r, model.flame.faces);
      await writeAtomic(overlay, PNG.sync.write(png));
      process.stdout.write(`wrote ${overlay}\n`);
    }
  } finally {
    await model.dispose();
  }
}

async function convert({ pos, one, many }: Args): Promise<void> {
  if (pos.length !== 2) throw new UsageError('convert: give in.pth and out.safetensors');
  const config = parseNhead(one('nhead'));
  const bytes = new Uint8Array(await readFile(pos[0]));
  const dtype = one('dtype') ?? 'f32';
  if (!(WEIGHT_FORMATS as readonly string[]).includes(dtype)) throw new UsageError(`convert: --dtype must be one of ${WEIGHT_FORMATS.join(', ')}, got ${JSON.stringify(dtype)}`);
  const w = parseWeights(bytes, pos[0], { config, stripPrefix: one('strip-prefix') });
  // --keep-f16 replaces the default choice (INT8_KEEP_F16_DEFAULT); --keep-f16 none: all int8.
  const keepF16 = many('keep-f16')?.filter((r) => r !== 'none').map((r) => {
    try { return new RegExp(r); } catch (e) { throw new UsageError(`convert: --keep-f16 ${JSON.stringify(r)} is not a regular expression: ${(e as Error).message}`); }
  });
  if (keepF16 && dtype !== 'int8') throw new UsageError('convert: --keep-f16 only applies to --dtype int8');
  const out = dtype === 'f32' ? weightsToSafetensors(w.sd, w.config) : compactWeightsToSafetensors(w.sd, w.config, dtype as WeightFormat, { keepF16 });
  await writeAtomic(pos[1], out);
  process.stdout.write(`wrote ${pos[1]}: ${w.sd.size} tensors, ${dtype}, ${(out.length / 2 ** 20).toFixed(1)} MiB, config ${JSON.stringify(w.config)}\n`);
}

async function convertFlame({ pos, many }: Args): Promise<void> {
  if (pos.length !== 2) throw new UsageError('convert-flame: give generic_model.pkl (or .npz) and out.safetensors');
  const landmarks = await Promise.all((many('flame-landmarks') ?? []).map(async (f) => ({ bytes: new Uint8Array(await readFile(f)), file: f })));
  const flame = readFlame(new Uint8Array(await readFile(pos[0])), pos[0], { landmarks });
  await writeAtomic(pos[1], flameToSafetensors(flame));
  process.stdout.write(`wrote ${pos[1]}: V=${flame.V} F=${flame.F} components=${flame.nShapedirs}${flame.lmkFacesIdx ? ', 68 landmarks' : ''}${flame.dynLmkFacesIdx ? ` (contour by yaw: ${flame.dynLmkFacesIdx.length / 17} bins)` : ''}${flame.synthetic ? ' (synthetic)' : ''}\n`);
}

async function evalCommand({ pos, one, many, flag }: Args): Promise<void> {
  if (pos.length !== 1) throw new UsageError('eval: give one dataset folder (holding DAD-3DHeadsDataset/) or a split\'s <split>.json');
  const limit = one('limit');
  if (limit !== undefined && (!/^\d+$/.test(limit) || Number(limit) < 1)) throw new UsageError(`--limit ${limit}: expected a positive integer`);
  // Everything that can fail on the user's files is checked before the (slow) model start.
  const ds = DadDataset.open(pos[0], one('split') ?? 'val');
  if (!one('weights')) process.stderr.write('trans3dhead: WARNING: no --weights: evaluating the built-in UNTRAINED weights.\n');
  const model = await Trans3DHead.create(nodePlatform, {
    weights: one('weights'), flame: one('flame'), flameLandmarks: many('flame-landmarks'),
    stripPrefix: one('strip-prefix'), config: parseNhead(one('nhead')), ...deviceChoice(one),
    schedule: choice('--schedule', one('schedule'), SCHEDULE_CHOICES), compute: choice('--compute', one('compute'), COMPUTE_CHOICES), cache: !flag('no-cache'),
  });
  try {
    if (model.synthetic.flame) process.stderr.write('trans3dhead: note: no --flame: using the synthetic FLAME (right only for synthetic data made with it).\n');
    const emb = flameEmbedding(model.flame);
    const subsets = findSubsets(model.flame.V, { dir: one('subsets'), headZ5: one('head-indices'), face: one('face-indices') });
    for (const [k, why] of Object.entries(plan(emb, subsets).skipped)) process.stderr.write(`trans3dhead: ${k} skipped: ${why}\n`);
    const t0 = performance.now();
    const report = await evaluateDataset(ds, async (img, box) => model.run(padToCanvas(img), { box }), decodeImage, emb, subsets, model.flame.V, {
      limit: limit === undefined ? undefined : Number(limit),
      onItem: (i, n) => { if (process.stderr.isTTY) process.stderr.write(`\r${i + 1}/${n}`); },
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    const seconds = (performance.now() - t0) / 1000;
    process.stdout.write(formatReport(report) + `\n\nadapter: ${model.adapter}; ${seconds.toFixed(1)} s\n`);
    const out = one('out');
    if (out) {
      await writeAtomic(out, JSON.stringify({ ...report, weights: one('weights') ?? 'built-in untrained', flame: one('flame') ?? 'synthetic', adapter: model.adapter, seconds }, null, 1));
      process.stdout.write(`wrote ${out}\n`);
    }
  } finally {
    await model.dispose();
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    const cmd = argv[0];
    if (cmd === undefined || cmd === '-h' || cmd === '--help') { process.stdout.write(USAGE + '\n'); return cmd ? 0 : 2; }
    if (!Object.hasOwn(COMMANDS, cmd)) throw new UsageError(`unknown command ${cmd}`);
    const args = parse(cmd, argv.slice(1));
    if (args.help) { process.stdout.write(USAGE + '\n'); return 0; }
    if (cmd === 'run') await run(args);
    else if (cmd === 'convert') await convert(args);
    else if (cmd === 'convert-flame') await convertFlame(args);
    else if (cmd === 'eval') await evalCommand(args);
    else {
      const ctx = await nodePlatform.getDevice(deviceChoice(args.one));
      process.stdout.write(`adapter: ${describeAdapter(ctx.adapter)}\n${JSON.stringify(ctx.adapter, null, 2)}\n`);
    }
    return 0;
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`trans3dhead: ${err instanceof UsageError ? err.message + '\n\n' + USAGE : `${err.name === 'Error' ? '' : err.name + ': '}${err.message}`}\n`);
    return err instanceof UsageError ? 2 : 1;
  } finally {
    await releaseDevice();
  }
}
