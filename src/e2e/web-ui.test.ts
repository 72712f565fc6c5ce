/**
 * The web UI in a real browser (Debian's chromium through playwright-core) against a daemon with the
 * fake driver: sign in with the URL `banger web` prints, watch a VM made from the create form appear
 * and come up live in another tab, delete it, run a guest session from the sessions page, and save a
 * screenshot of every page.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, BrowserContext, Dialog, Page } from 'playwright-core';
import { artifactsDir, browserSkip, launchChromium, waitForTerminal } from '../testing/browser.js';
import { webHome, type WebHome } from '../testing/web-home.js';
import { ROUTES } from '../api/routes.js';
import type { VMInfo } from '../api/types.js';

async function waitRunning(w: WebHome, name: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const vm = await w.h.client().get<VMInfo>(`/vms/${name}`);
    if (vm.state === 'running') return;
    if (Date.now() > deadline || vm.state === 'error') throw new Error(`vm ${name} is ${vm.state}: ${vm.lastError ?? ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const skip = browserSkip();

describe('the web UI in chromium', { skip }, () => {
  let w: WebHome;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  const shots = artifactsDir();
  const base = () => `http://${w.listenAddr}/`;

  before(async () => {
    w = await webHome();
    browser = await launchChromium();
    ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await ctx.newPage();
  });
  after(async () => {
    await browser?.close();
    await w?.h.cleanup();
  });

  it('signs in with the printed URL and shows the dashboard without the token in the address', async () => {
    await page.goto(w.url);
    assert.equal(page.url(), base(), 'the token is dropped from the address');
    await page.getByTestId('dashboard').waitFor();
    await page.getByText(/cores, load/).waitFor();
    await page.getByTestId('live').filter({ hasText: 'live' }).waitFor();
    assert.match(await page.getByTestId('vm-count').innerText(), /^0 \(0 running\)$/);
    const cookies = await ctx.cookies();
    assert.equal(cookies.length, 1);
    assert.equal(cookies[0]!.httpOnly, true);
    assert.equal(cookies[0]!.sameSite, 'Strict');
    await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
  });

  it('refuses a browser without the cookie', async () => {
    const other = await browser.newContext();
    try {
      const p = await other.newPage();
      const res = await p.goto(base());
      assert.equal(res?.status(), 401);
      assert.match(await p.innerText('body'), /banger web/);
    } finally {
      await other.close();
    }
  });

  it('creates a VM from the form while another tab shows its state change live, then deletes it', async () => {
    const list = await ctx.newPage();
    await list.goto(`${base()}#/vms`);
    await list.getByTestId('live').filter({ hasText: 'live' }).waitFor();
    await list.getByText('No VMs yet').waitFor();
    // Record every state the list shows for the VM, without reloading the page.
    await list.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seen: string[] }).seen = seen;
      new MutationObserver(() => {
        const s = document.querySelector('[data-vm="webvm"] [data-state]')?.getAttribute('data-state');
        if (s && seen.at(-1) !== s) seen.push(s);
      }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    });

    await page.goto(`${base()}#/create`);
    await page.getByTestId('create-form').waitFor();
    await page.screenshot({ path: join(shots, 'create.png'), fullPage: true });
    await page.fill('input[name=name]', 'webvm');
    await page.fill('input[name=memory]', '256');
    await page.click('button[type=submit]');
    await page.getByTestId('stages').locator('li').first().waitFor();
    await page.getByTestId('created').waitFor({ timeout: 60_000 });
    assert.match(await page.getByTestId('created').innerText(), /Created webvm \(running\)/);
    const stages = await page.getByTestId('stages').locator('li').allInnerTexts();
    assert.ok(stages.length >= 2, `stages shown: ${stages.join(' | ')}`);
    assert.ok(stages.every((s) => s.startsWith('✓')), `every stage ends done: ${stages.join(' | ')}`);
    await page.screenshot({ path: join(shots, 'create-done.png'), fullPage: true });

    await list.locator('[data-vm="webvm"] [data-state="running"]').waitFor({ timeout: 10_000 });
    const seen = await list.evaluate(() => (window as unknown as { seen: string[] }).seen);
    assert.equal(seen.at(-1), 'running', `states the list showed: ${seen.join(' -> ')}`);
    assert.ok(seen.length >= 1);
    await list.screenshot({ path: join(shots, 'vm-list.png'), fullPage: true });

    await list.click('[data-vm="webvm"] a');
    await list.getByRole('heading', { name: /webvm/ }).waitFor();
    await list.getByText('webvm.vm').waitFor();
    await list.getByTestId('console').waitFor();
    await list.screenshot({ path: join(shots, 'vm-detail.png'), fullPage: true });

    const dialogs: string[] = [];
    list.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
    await list.click('button[data-action=delete]');
    await list.waitForURL(/#\/vms$/, { timeout: 30_000 });
    await list.getByText('No VMs yet').waitFor({ timeout: 10_000 });
    assert.match(dialogs[0] ?? '', /Delete webvm and its disks\?/);
    assert.equal((await w.h.client().get<unknown[]>('/vms')).length, 0, 'the daemon has no VM left');

    await page.goto(`${base()}#/`);
    await page.getByText('vm.create').first().waitFor();
    await page.getByText('vm.delete').first().waitFor();
    await page.screenshot({ path: join(shots, 'dashboard-after.png'), fullPage: true });
  });

  it('opens a terminal into a VM: runs a command, resizes, copies and pastes', async () => {
    const client = w.h.client();
    await client.start(ROUTES.vmCreate, {}, { name: 'termvm', memoryMiB: 256 });
    await waitRunning(w, 'termvm');
    await page.goto(`${base()}#/vms/termvm/terminal`);
    await page.getByTestId('term-status').filter({ hasText: /^connected$/ }).waitFor({ timeout: 30_000 });
    await page.locator('.xterm').click();
    await page.keyboard.type('uname -a\n');
    const until = (re: RegExp) => waitForTerminal(page, re);
    await until(/^Linux \S+ \d+\.\d+/m);
    await page.screenshot({ path: join(shots, 'terminal.png') });

    // Resize: the shell's idea of the window follows the page.
    await page.setViewportSize({ width: 800, height: 600 });
    const size = await page.evaluate(async () => {
      await new Promise((r) => setTimeout(r, 300));
      const t = (window as unknown as { bangerTerm: { cols: number; rows: number } }).bangerTerm;
      return { cols: t.cols, rows: t.rows };
    });
    await page.keyboard.type('stty size\n');
    await until(new RegExp(`^${size.rows} ${size.cols}$`, 'm'));

    // Paste goes in as input (bracketed: the shell waits for Enter); a selection can be copied out.
    await page.evaluate(() => (window as unknown as { bangerTerm: { paste(s: string): void } }).bangerTerm.paste('echo pasted-$((6*7))'));
    await page.keyboard.press('Enter');
    await until(/^pasted-42$/m);
    const selected = await page.evaluate(() => {
      const t = (window as unknown as { bangerTerm: { selectAll(): void; getSelection(): string } }).bangerTerm;
      t.selectAll();
      return t.getSelection();
    });
    assert.match(selected, /pasted-42/);
    await page.setViewportSize({ width: 1280, height: 900 });
    await client.start(ROUTES.vmDelete, { name: 'termvm' });
  });

  it('lists images and kernels', async () => {
    await page.goto(`${base()}#/images`);
    await page.getByTestId('images').getByText('tiny').waitFor();
    await page.screenshot({ path: join(shots, 'images.png'), fullPage: true });
  });

  it('starts a session from the page, follows its output, sends it a line, stops it and shows its exit status', async () => {
    const client = w.h.client();
    await client.start(ROUTES.vmCreate, {}, { name: 'sessvm', memoryMiB: 256 });
    await waitRunning(w, 'sessvm');
    const accept = (d: Dialog) => void d.accept();
    page.on('dialog', accept);
    try {
      await page.goto(`${base()}#/vms/sessvm`);
      await page.getByTestId('vm-sessions').click();
      await page.waitForURL(/#\/sessions\/sessvm$/);
      await page.getByText('No sessions in sessvm').waitFor();
      const form = page.getByTestId('session-start');
      await form.locator('input[name=command]').fill('echo hello-from-web; while read l; do echo "got $l"; done');
      await form.locator('input[name=name]').fill('web-echo');
      await form.locator('button[type=submit]').click();
      await page.waitForURL(/#\/sessions\/sessvm\/web-echo$/, { timeout: 30_000 });
      const log = page.getByTestId('session-log');
      await log.filter({ hasText: 'hello-from-web' }).waitFor({ timeout: 15_000 });
      await page.getByTestId('log-status').filter({ hasText: 'following' }).waitFor();
      await page.locator('[data-session="web-echo"] [data-state="running"]').waitFor();

      const panel = page.getByTestId('session-panel');
      await panel.locator('input[name=line]').fill('ping');
      await panel.locator('button[type=submit]').click();
      await log.filter({ hasText: 'got ping' }).waitFor({ timeout: 15_000 });
      await page.screenshot({ path: join(shots, 'sessions.png'), fullPage: true });

      await panel.locator('button[data-action=stop]').click();
      await page.getByTestId('exit-status').filter({ hasText: 'exit status 143 (SIGTERM)' }).waitFor({ timeout: 30_000 });
      await page.locator('[data-session="web-echo"] [data-state="exited"]').waitFor();
      // The follow reads to the session's end: the runner's last words arrive, then it stops following.
      await log.filter({ hasText: /Terminated\s*$/ }).waitFor({ timeout: 10_000 });
      await page.getByTestId('log-status').filter({ hasText: /^output$/ }).waitFor({ timeout: 10_000 });
      assert.match(await log.innerText(), /^hello-from-web\ngot ping\nTerminated\s*$/);
      await page.screenshot({ path: join(shots, 'sessions-ended.png'), fullPage: true });

      await panel.locator('button[data-action=remove]').click();
      await page.waitForURL(/#\/sessions\/sessvm$/);
      await page.getByText('No sessions in sessvm').waitFor();
    } finally {
      page.off('dialog', accept);
      await w.h.run(['vm', 'session', 'kill', 'sessvm', 'web-echo']);
      await w.h.run(['vm', 'session', 'rm', 'sessvm', 'web-echo']);
      await client.start(ROUTES.vmDelete, { name: 'sessvm' });
    }
  });
});
