/**
 * Debian's Chromium for browser tests, driven by playwright-core (which downloads no browser of its
 * own). `.ci/run` installs the `chromium` package; TESSERA_CHROMIUM names another binary.
 */
import { existsSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './process.js';

/** The Chromium binary, or undefined when none is installed. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.TESSERA_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => Boolean(p) && existsSync(p as string));
}

/** Browser tests run wherever Chromium is; in CI a missing Chromium fails them instead of skipping. */
export const skipBrowser = chromiumPath() === undefined && !process.env.CI;

/** Where tests save screenshots (gitignored; CI keeps it as an artifact folder). */
export function artifactsDir(): string {
  const dir = join(repoRoot, 'test-artifacts');
  mkdirSync(dir, { recursive: true });
  return dir;
}
