/** Debian's chromium driven by playwright-core, and where web UI tests put their screenshots. */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

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

/** Everything the web terminal's buffer holds, one line per row (the page exposes its xterm as window.bangerTerm). */
export function terminalText(page: Page): Promise<string> {
  return page.evaluate(() => {
    type Buf = { length: number; getLine(i: number): { translateToString(trim: boolean): string } | undefined };
    const t = (window as unknown as { bangerTerm?: { buffer: { active: Buf } } }).bangerTerm;
    if (!t) return '';
    const b = t.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i)?.translateToString(true) ?? '');
    return out.join('\n');
  });
}

/** Waits until the terminal shows `re`; fails with what it shows. */
export async function waitForTerminal(page: Page, re: RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await terminalText(page);
    if (re.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`the terminal never showed ${re}; it shows:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Signs in with `url` (from banger web), opens the terminal page of `vm` and waits for the shell. */
export async function openWebTerminal(browser: Browser, url: string, vm: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  const terminalUrl = new URL(`/#/vms/${encodeURIComponent(vm)}/terminal`, url).toString();
  await page.goto(terminalUrl);
  const statuses: string[] = [];
  // One more try when the first connection fails (a guest's sshd can still be settling just after boot);
  // a second failure is the test's failure, with every status the page showed.
  for (let attempt = 0; attempt < 2; attempt++) {
    const status = await terminalStatus(page, 60_000);
    statuses.push(status);
    if (status === 'connected') {
      await page.locator('.xterm').click();
      return page;
    }
    await page.reload();
  }
  throw new Error(`the terminal did not connect; the page showed: ${statuses.join(' | ')}`);
}

/** Waits until the terminal page's status settles: connected, an error, or disconnected. */
async function terminalStatus(page: Page, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = ((await page.getByTestId('term-status').textContent({ timeout: timeoutMs }).catch(() => '')) ?? '').trim();
    if (text === 'connected' || text.startsWith('error') || text === 'disconnected') return text;
    await new Promise((r) => setTimeout(r, 200));
  }
  return `still "${text}" after ${timeoutMs / 1000} s`;
}
