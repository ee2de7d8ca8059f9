#!/usr/bin/env node
// npm run build: esbuild bundles, WGSL inlined as strings, source maps next to each file.
//   dist/browser/trans3dhead.js  browsers (ESM, navigator.gpu); must not reach any Node module
//   dist/node/index.js           Node (ESM; webgpu, pngjs, jpeg-js stay npm dependencies)
//   dist/demo/demo.js            the demo page's code; imports the browser bundle above at run
//                                time, so the page runs exactly what the package ships
// `node scripts/build.mjs --quiet` prints nothing but errors; build() is also used by the tests.
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Browser bundles: a Node builtin (or a Node-only package) reachable from the entry is an error naming the importer. */
const noNode = {
  name: 'no-node',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (a) => {
      if (BUILTINS.has(a.path) || a.path === 'webgpu' || a.path === 'pngjs' || a.path === 'jpeg-js' || /platform\/node(-io)?\.ts$/.test(a.path)) {
        return { errors: [{ text: `the browser bundle must not import "${a.path}" (imported by ${relative(ROOT, a.importer)}): keep Node-only code behind src/platform/node*.ts, which only src/index.ts reaches` }] };
      }
      return undefined;
    });
  },
};

/** The demo imports the library's browser entry (typechecked as source); it is resolved to the bundle, not inlined. */
const libraryAsBundle = {
  name: 'library-as-bundle',
  setup(b) {
    b.onResolve({ filter: /(^trans3dhead$|src\/browser\.ts$)/ }, () => ({ path: '../browser/trans3dhead.js', external: true }));
  },
};

const common = {
  bundle: true, format: 'esm', sourcemap: true, sourcesContent: true, target: 'es2022',
  loader: { '.wgsl': 'text' }, logLevel: 'silent', metafile: true, absWorkingDir: ROOT,
  legalComments: 'none',
};

export async function build({ quiet = false } = {}) {
  const t0 = performance.now();
  const results = await Promise.all([
    esbuild.build({ ...common, entryPoints: ['src/browser.ts'], outfile: 'dist/browser/trans3dhead.js', platform: 'browser', plugins: [noNode] }),
    esbuild.build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/node/index.js', platform: 'node', target: 'node20', packages: 'external' }),
    esbuild.build({ ...common, entryPoints: ['demo/demo.ts'], outfile: 'dist/demo/demo.js', platform: 'browser', plugins: [libraryAsBundle, noNode] }),
  ]);
  if (!quiet) {
    for (const r of results) {
      for (const [file, o] of Object.entries(r.metafile.outputs)) {
        if (!file.endsWith('.map')) console.log(`${file.padEnd(32)} ${(o.bytes / 1024).toFixed(0).padStart(6)} KiB`);
      }
    }
    console.log(`built in ${(performance.now() - t0).toFixed(0)} ms`);
  }
  return results;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await build({ quiet: process.argv.includes('--quiet') });
  } catch (e) {
    // esbuild's errors already say file:line and what failed.
    for (const m of e.errors ?? []) console.error(`error: ${m.text}${m.location ? ` (${m.location.file}:${m.location.line})` : ''}`);
    if (!e.errors) console.error(e);
    process.exit(1);
  }
}
