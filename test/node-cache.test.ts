// Node's download cache (issue 16): model files from http(s) URLs are kept under
// $TRANS3DHEAD_CACHE (a temp folder here) and read from there next time. A local server counts
// the requests: the first load downloads, the second reads the cache, cache: false (CLI
// --no-cache) downloads again, clearModelCache() empties it; an interrupted download or a file
// that fails validation leaves no entry behind. The small test model; no pipeline is compiled.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WeightFileError } from '../src/io/errors.ts';
import { bindApi } from '../src/model/api.ts';
import { InputError } from '../src/model/image.ts';
import { createDetector } from '../src/detect/detector.ts';
import { parseWeights, weightsToSafetensors } from '../src/model/weights.ts';
import { nodePlatform } from '../src/platform/node.ts';
import { cacheDir, clearModelCache, modelCacheDir } from '../src/platform/node-io.ts';
import { config } from './model-helpers.ts';

const CACHE = mkdtempSync(join(tmpdir(), 't3dh-cache-'));
process.env.TRANS3DHEAD_CACHE = CACHE;

const DIR = 'test/fixtures/small';
// A self-describing file (config in its metadata), so the CLI needs no config flags.
const w = parseWeights(new Uint8Array(readFileSync(`${DIR}/model.pth`)), 'model.pth', { config: config(DIR) });
const WEIGHTS = weightsToSafetensors(w.sd, w.config);
const JUNK = new Uint8Array(4096).fill(7);
const DETECTOR = new Uint8Array(readFileSync('node_modules/@mediapipe/face_detection/face_detection_short_range.tflite'));

const requests = new Map<string, number>();
let server: Server;
let base = '';
const count = (path: string) => requests.get(path) ?? 0;

test.before(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    requests.set(path, count(path) + 1);
    if (path === '/w.safetensors' || path === '/junk.safetensors') {
      const body = path === '/junk.safetensors' ? JUNK : WEIGHTS;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, etag: '"v1"' });
      res.end(body);
    } else if (path === '/short.tflite') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': DETECTOR.length });
      res.end(DETECTOR);
    } else if (path === '/cut.safetensors' || path === '/cut-chunked.safetensors') {
      // Announces the whole file (or sends it chunked, length unknown), sends a third of it, then drops the connection.
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...(path === '/cut.safetensors' ? { 'content-length': WEIGHTS.length } : {}) });
      res.write(WEIGHTS.subarray(0, WEIGHTS.length / 3), () => res.socket?.destroy());
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
test.after(async () => { server.closeAllConnections(); await new Promise((ok) => server.close(ok)); });

const entries = () => (existsSync(modelCacheDir()) ? readdirSync(modelCacheDir()).sort() : []);

test('the cache folder: $TRANS3DHEAD_CACHE, else $XDG_CACHE_HOME/trans3dhead, else ~/.cache/trans3dhead', () => {
  const saved = { c: process.env.TRANS3DHEAD_CACHE, x: process.env.XDG_CACHE_HOME };
  try {
    assert.is(cacheDir(), CACHE);
    assert.is(modelCacheDir(), join(CACHE, 'models'));
    delete process.env.TRANS3DHEAD_CACHE;
    process.env.XDG_CACHE_HOME = '/x/cache';
    assert.is(cacheDir(), '/x/cache/trans3dhead');
    delete process.env.XDG_CACHE_HOME;
    assert.match(cacheDir(), /[\\/]\.cache[\\/]trans3dhead$/);
  } finally {
    process.env.TRANS3DHEAD_CACHE = saved.c;
    if (saved.x === undefined) delete process.env.XDG_CACHE_HOME; else process.env.XDG_CACHE_HOME = saved.x;
  }
});

test('loadBytes: the first load downloads with progress, the second reads the cache (no request, the size reported once), cache: false downloads, clearModelCache empties it', async () => {
  await clearModelCache();
  const url = `${base}/w.safetensors`;
  const n0 = count('/w.safetensors');
  const progress: [number, number][] = [];
  const first = await nodePlatform.loadBytes(url, (a, b) => progress.push([a, b]));
  assert.is(count('/w.safetensors') - n0, 1, 'one request');
  assert.equal(first.bytes, WEIGHTS);
  assert.is(first.cached?.hit, false);
  assert.ok(progress.length >= 1 && progress.every(([a, b], i) => b === WEIGHTS.length && (i === 0 || a >= progress[i - 1][0])), 'bytes grow, total known');
  assert.equal(progress[progress.length - 1], [WEIGHTS.length, WEIGHTS.length]);
  // One data file and its record (URL, size, ETag); no temporary files left.
  const files = entries();
  assert.is(files.length, 2, files.join(', '));
  const rec = JSON.parse(readFileSync(join(modelCacheDir(), files.find((f) => f.endsWith('.json'))!), 'utf8'));
  assert.equal([rec.url, rec.size, rec.etag], [url, WEIGHTS.length, '"v1"']);

  const hits: [number, number][] = [];
  const second = await nodePlatform.loadBytes(url, (a, b) => hits.push([a, b]));
  assert.is(count('/w.safetensors') - n0, 1, 'the second load makes no request');
  assert.equal(second.bytes, WEIGHTS);
  assert.is(second.cached?.hit, true);
  assert.equal(hits, [[WEIGHTS.length, WEIGHTS.length]], 'a hit reports the full size once');

  const off = await nodePlatform.loadBytes(url, undefined, { cache: false });
  assert.is(count('/w.safetensors') - n0, 2, 'cache: false downloads');
  assert.is(off.cached, undefined);

  assert.is(await clearModelCache(), true);
  assert.equal(entries(), []);
  assert.is(await clearModelCache(), false, 'nothing left to clear');
  await nodePlatform.loadBytes(url);
  assert.is(count('/w.safetensors') - n0, 3, 'after clearModelCache the file is downloaded again');
});

test('an interrupted download (the server closes mid-body) is a clear error and leaves no cache entry', async () => {
  await clearModelCache();
  const url = `${base}/cut.safetensors`;
  for (const [u, total] of [[url, ` of ${WEIGHTS.length}`], [`${base}/cut-chunked.safetensors`, '']]) {
    try {
      await nodePlatform.loadBytes(u);
      assert.unreachable('a truncated download was accepted');
    } catch (e) {
      assert.instance(e, InputError, String(e));
      assert.match((e as Error).message, new RegExp(`download of ${u} stopped after \\d+${total} bytes`));
      assert.match((e as Error).message, /nothing was cached: try again/);
    }
    assert.equal(entries(), [], 'no entry, no temporary file');
  }
  // Through createModel it is the weights file's error.
  const { createModel } = bindApi(nodePlatform);
  try {
    await createModel({ weights: url, warmUp: false });
    assert.unreachable('no error');
  } catch (e) {
    assert.instance(e, WeightFileError, String(e));
    assert.match((e as Error).message, /cannot load the weights file \(the download of .* stopped after/);
  }
  assert.equal(entries(), []);
});

test('createModel: the second model reads the weights from the cache; a cached file that fails validation is dropped and downloaded again; a downloaded one that fails is not kept', async () => {
  await clearModelCache();
  const { createModel } = bindApi(nodePlatform);
  const url = `${base}/w.safetensors`;
  const make = async (opts: { cache?: boolean; weights?: string } = {}) => {
    const bytes: { loaded: number; total: number }[] = [];
    const m = await createModel({ weights: url, warmUp: false, onProgress: (stage, _f, b) => { if (stage === 'weights' && b) bytes.push(b); }, ...opts });
    await m.dispose();
    return bytes;
  };
  const n0 = count('/w.safetensors');
  const first = await make();
  assert.is(count('/w.safetensors') - n0, 1);
  assert.equal(first[first.length - 1], { loaded: WEIGHTS.length, total: WEIGHTS.length });
  assert.equal(await make(), [{ loaded: WEIGHTS.length, total: WEIGHTS.length }], 'from the cache: the size once');
  assert.is(count('/w.safetensors') - n0, 1, 'no request for the second model');
  await make({ cache: false });
  assert.is(count('/w.safetensors') - n0, 2, 'cache: false downloads');

  // Same size, wrong bytes (a corrupted disk, or a file edited by hand): downloaded once more.
  const data = join(modelCacheDir(), entries().find((f) => f.endsWith('.bin'))!);
  writeFileSync(data, new Uint8Array(WEIGHTS.length));
  await make();
  assert.is(count('/w.safetensors') - n0, 3, 'the bad cached copy was replaced by a download');
  assert.equal(new Uint8Array(readFileSync(data)), WEIGHTS, 'and the entry holds the good file');

  // A server answering with something that is not a weight file: the error, and no entry.
  const before = entries();
  for (let i = 1; i <= 2; i++) {
    try {
      await make({ weights: `${base}/junk.safetensors` });
      assert.unreachable('junk loaded');
    } catch (e) {
      assert.instance(e, WeightFileError, String(e));
      assert.ok((e as Error).message.includes('junk.safetensors'), (e as Error).message);
    }
    assert.is(count('/junk.safetensors'), i, 'downloaded once per attempt: the bad file did not stick');
    assert.equal(entries(), before, 'nothing kept for it');
  }
});

test('the face detector file from a URL is cached too; cache: false downloads it', async () => {
  const url = `${base}/short.tflite`;
  for (const cache of [undefined, undefined, false]) await (await createDetector(nodePlatform, { file: url, cache })).dispose();
  assert.is(count('/short.tflite'), 2, 'downloaded, then read from the cache, then downloaded (cache: false)');
});

test('CLI: --no-cache downloads every time and keeps nothing; without it the second run reads the cache', async () => {
  const dir = mkdtempSync(join(tmpdir(), 't3dh-cli-cache-'));
  const url = `${base}/w.safetensors`;
  // The weights load, then the (missing) FLAME fails: the run stops before any GPU work.
  const cli = (...extra: string[]) => new Promise<{ code: number | null; stderr: string }>((ok) => {
    const child = execFile(process.execPath, ['bin/trans3dhead.mjs', 'run', 'test/fixtures/astronaut-head.png', '--weights', url, '--flame', '/nonexistent/f.pkl', ...extra],
      { env: { ...process.env, TRANS3DHEAD_CACHE: dir }, timeout: 120_000 }, (_e, _out, stderr) => ok({ code: child.exitCode, stderr }));
  });
  const n0 = count('/w.safetensors');
  for (let i = 1; i <= 2; i++) {
    const r = await cli('--no-cache');
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot load the FLAME file/);
    assert.is(count('/w.safetensors') - n0, i, '--no-cache: a download per run');
    assert.not.ok(existsSync(join(dir, 'models')), 'nothing kept');
  }
  await cli();
  await cli();
  assert.is(count('/w.safetensors') - n0, 3, 'cached: one download for two runs');
  assert.is(readdirSync(join(dir, 'models')).length, 2);
});

test.run();
