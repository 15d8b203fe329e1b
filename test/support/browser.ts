import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll } from 'vitest';

/** Debian's Chromium (.ci/run installs it when absent). */
export const CHROMIUM = '/usr/bin/chromium';

export const skipWithoutChromium = fs.existsSync(CHROMIUM) ? false : `skipped: no Chromium at ${CHROMIUM}`;

/** Launches headless Chromium for this test file; closed after the file. */
export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  afterAll(() => browser.close());
  return browser;
}

const WEB_ROOT = path.resolve(import.meta.dirname, '../../web');

/**
 * The built web chat: `npm install` builds it (postinstall); a checkout that
 * has not built it yet is built here, once.
 */
export async function ensureWebBuilt(): Promise<void> {
  if (fs.existsSync(path.join(WEB_ROOT, 'dist/index.html'))) return;
  const { build } = await import('vite');
  await build({ root: WEB_ROOT, configFile: path.join(WEB_ROOT, 'vite.config.ts'), logLevel: 'warn' });
}
