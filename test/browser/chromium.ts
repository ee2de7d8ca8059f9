// Shared by the browser tests: Debian's headless Chromium with WebGPU on SwiftShader
// (ENGINE.md), driven by playwright-core (which never downloads a browser of its own here),
// the bundles built fresh, and the repository served on loopback.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { chromium, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
// @ts-expect-error: plain .mjs scripts without type declarations
import { build } from '../../scripts/build.mjs';
// @ts-expect-error: plain .mjs scripts without type declarations
import { serve } from '../../scripts/serve.mjs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * WebGPU on SwiftShader, headless, as root and offline (ENGINE.md). ENGINE.md's set computes but
 * cannot present a WebGPU canvas: the GPU process finds no shared-image backing for the swap
 * chain ("Could not find SharedImageBackingFactory ... WebgpuSwapChainTexture") and the device is
 * lost ("A valid external Instance reference no longer exists"). --use-angle=swiftshader gives
 * the compositor a GL it can share with (measured with Chromium 156).
 */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader',
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

export interface Browser { context: BrowserContext; page: Page; url: string; logs: string[]; close(): Promise<void> }

function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's Chromium (WebGPU on SwiftShader). ` +
      'Install it with: sudo apt-get install chromium (or bash scripts/setup-debian.sh); or set CHROMIUM_PATH.');
  }
}

/** Builds the bundles, serves the repository, launches Chromium with a fresh profile. Fails loudly without Chromium. */
export async function openBrowser(opts: { args?: string[] } = {}): Promise<Browser> {
  requireChromium();
  // TRANS3DHEAD_SKIP_BUILD=1 tests the dist/ already there (e.g. a build made elsewhere).
  if (process.env.TRANS3DHEAD_SKIP_BUILD !== '1') await build({ quiet: true });
  const server = await serve({ port: 0 });
  const profile = mkdtempSync(join(tmpdir(), 'trans3dhead-chromium-'));
  let context: BrowserContext;
  try {
    // A persistent context is how Playwright takes a --user-data-dir: a new empty one per run.
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...(opts.args ?? [])], viewport: { width: 1200, height: 900 }, timeout: 60_000 });
  } catch (e) {
    await server.close();
    rmSync(profile, { recursive: true, force: true });
    throw new Error(`could not start ${CHROMIUM}: ${(e as Error).message}`);
  }
  const page = context.pages()[0] ?? await context.newPage();
  const logs: string[] = [];
  page.on('console', (m: ConsoleMessage) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e: Error) => logs.push(`pageerror: ${e.message}`));
  return {
    context, page, url: server.url, logs,
    async close() {
      await context.close().catch(() => {});
      await server.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface OfflinePage { page: Page; logs: string[]; close(): Promise<void> }

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

/**
 * Chromium with one page and nothing served but from this machine (the reference runners:
 * MediaPipe's solution, TensorFlow's TFLite runtime): http://localhost/ is `html`, another
 * localhost path is the file `fileFor(path)` names (404 when it gives none or the file is
 * absent), any other host is refused. Console messages and page errors go to `logs`.
 */
export async function openOfflinePage(html: string, fileFor: (path: string) => string | null): Promise<OfflinePage> {
  requireChromium();
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  const logs: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await page.route('**/*', async (route) => {
      const url = new URL(route.request().url());
      if (url.hostname !== 'localhost') return route.abort();
      if (url.pathname === '/') return route.fulfill({ status: 200, contentType: 'text/html', body: html });
      const file = fileFor(url.pathname);
      if (file && existsSync(file)) return route.fulfill({ status: 200, contentType: TYPES[extname(file)] ?? 'application/octet-stream', body: readFileSync(file) });
      return route.fulfill({ status: 404, body: 'not found' });
    });
    return { page, logs, close: () => browser.close() };
  } catch (e) {
    await browser.close();
    throw e;
  }
}
