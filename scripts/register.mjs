// `node --import ./scripts/register.mjs file.ts` runs TypeScript sources unbundled:
// .ts is stripped by esbuild, .wgsl is imported as a string.
import { register } from 'node:module';
register('./loader.mjs', import.meta.url);
