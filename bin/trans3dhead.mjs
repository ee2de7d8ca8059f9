#!/usr/bin/env node
// Runs the TypeScript sources directly (esbuild transform hook), so a fresh clone works
// without a build step.
import { register } from 'node:module';
register('../scripts/loader.mjs', import.meta.url);
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
