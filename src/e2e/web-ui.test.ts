/**
 * The web UI in a real browser (Debian's chromium through playwright-core) against a daemon with the
 * fake driver: sign in with the URL `banger web` prints, watch a VM made from the create form appear
 * and come up live in another tab, delete it, and save a screenshot of every page.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { artifactsDir, browserSkip, launchChromium } from '../testing/browser.js';
import { webHome, type WebHome } from '../testing/web-home.js';

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

  it('lists images and kernels, and says sessions are not there yet', async () => {
    await page.goto(`${base()}#/images`);
    await page.getByTestId('images').getByText('tiny').waitFor();
    await page.screenshot({ path: join(shots, 'images.png'), fullPage: true });
    await page.goto(`${base()}#/sessions`);
    await page.getByText('not available yet').waitFor();
    await page.screenshot({ path: join(shots, 'sessions.png'), fullPage: true });
  });
});
