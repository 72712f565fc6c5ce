/** Debian's chromium driven by playwright-core, and where web UI tests put their screenshots. */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why browser tests cannot run here, or undefined. */
export function browserSkip(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (scripts/install-deps.sh --test installs chromium)`;
}

export function launchChromium(): Promise<Browser> {
  // --no-sandbox: the tests run as root, where chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** test-artifacts/web at the top of the checkout (gitignored): screenshots of each page. */
export function artifactsDir(): string {
  const dir = fileURLToPath(new URL('../../test-artifacts/web/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  return dir;
}
