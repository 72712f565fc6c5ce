/**
 * The web UI in a real browser (Debian's chromium through playwright-core) against a daemon with the
 * fake driver: sign in with the URL `banger web` prints, watch a VM made from the create form appear
 * and come up live in another tab, stop and delete it from its page, cancel a create, read a
 * workspace's changes, build an image (cancelled while apt waits on a loopback mirror) and pull a
 * kernel from a loopback catalog with byte progress, run a guest session from the sessions page, and save a screenshot of every page.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Dialog, Page } from 'playwright-core';
import { artifactsDir, browserSkip, launchChromium, waitForTerminal } from '../testing/browser.js';
import { makeBundle, sha256Of } from '../testing/catalog-server.js';
import { webHome, type WebHome } from '../testing/web-home.js';
import { makeWorkspaceRepo } from '../testing/workspace-repo.js';
import { writeFakeBzImage } from '../services/kernels/fixtures.js';
import { ROUTES } from '../api/routes.js';
import type { VMInfo } from '../api/types.js';

/** A loopback HTTP proxy and Debian mirror that takes requests and never answers them: apt waits. */
class SilentMirror {
  readonly requests: string[] = [];
  private readonly sockets = new Set<Socket>();
  private server?: Server;
  port = 0;
  async start(): Promise<void> {
    this.server = createServer((sock) => {
      this.sockets.add(sock);
      sock.once('data', (b: Buffer) => this.requests.push(b.toString('latin1').split('\r\n')[0] ?? ''));
      sock.on('error', () => undefined);
      sock.on('close', () => this.sockets.delete(sock));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

/** Serves one kernel bundle: the first 1.5 MiB at once, the rest when release() is called. */
class HeldDownload {
  private server?: HttpServer;
  private release_!: () => void;
  private readonly released = new Promise<void>((r) => (this.release_ = r));
  url = '';
  constructor(readonly body: Buffer) {}
  async start(): Promise<void> {
    this.server = createHttpServer((req, res) => {
      if (req.url !== '/webkern.tar.zst') return void res.writeHead(404).end();
      const first = 1536 * 1024;
      res.writeHead(200, { 'content-length': this.body.length });
      res.write(this.body.subarray(0, first));
      void this.released.then(() => res.end(this.body.subarray(first)));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webkern.tar.zst`;
  }
  release(): void {
    this.release_();
  }
  async stop(): Promise<void> {
    this.release();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

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
  const mirror = new SilentMirror();
  let download: HeldDownload;
  let work = '';

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'banger-web-ui-'));
    await mirror.start();
    const bz = await writeFakeBzImage(join(work, 'bz'), '6.6.6-web');
    download = new HeldDownload(await makeBundle(work, [{ name: 'vmlinuz', content: bz }, { name: 'initrd.img', content: randomBytes(3 * 1024 * 1024) }]));
    await download.start();
    const catalog = join(work, 'kernels.json');
    const source = { kind: 'bundle', url: download.url, sha256: sha256Of(download.body), size: download.body.length };
    writeFileSync(catalog, JSON.stringify({ schema: 1, kind: 'kernels', entries: [{ name: 'webkern', description: 'a kernel served on loopback', source }] }));
    // apt (in an image build) goes through the silent proxy for every source, the recipe's security mirror included.
    const proxy = `http://127.0.0.1:${mirror.port}`;
    w = await webHome({
      knobs: { noSsh: ['cancelvm'] },
      config: `kernel_catalog_url = "${catalog}"\ndebian_mirror = "${proxy}/debian"\n`,
      env: { http_proxy: proxy, https_proxy: proxy, HTTP_PROXY: proxy, HTTPS_PROXY: proxy, no_proxy: '', NO_PROXY: '' },
    });
    browser = await launchChromium();
    ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await ctx.newPage();
  });
  after(async () => {
    await browser?.close();
    await w?.h.cleanup();
    await download?.stop();
    await mirror.stop();
    if (work) rmSync(work, { recursive: true, force: true });
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
    assert.ok(seen.indexOf('running') > 0, `a state before running was shown live: ${seen.join(' -> ')}`);
    assert.ok(seen.slice(0, seen.indexOf('running')).every((st) => st !== 'running'), seen.join(' -> '));
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
    await list.click('button[data-action=stop]');
    await list.locator('h1 [data-state="stopped"]').waitFor({ timeout: 30_000 });
    await list.locator('button[data-action=start]').waitFor();
    assert.match(dialogs[0] ?? '', /Stop webvm\?/);
    assert.equal((await w.h.client().get<VMInfo>('/vms/webvm')).state, 'stopped');

    await list.click('button[data-action=delete]');
    await list.waitForURL(/#\/vms$/, { timeout: 30_000 });
    await list.getByText('No VMs yet').waitFor({ timeout: 10_000 });
    assert.match(dialogs[1] ?? '', /Delete webvm and its disks\?/);
    assert.equal(dialogs.length, 2, dialogs.join(' | '));
    assert.equal((await w.h.client().get<unknown[]>('/vms')).length, 0, 'the daemon has no VM left');

    await page.goto(`${base()}#/`);
    await page.getByText('vm.create').first().waitFor();
    await page.getByText('vm.delete').first().waitFor();
    await page.screenshot({ path: join(shots, 'dashboard-after.png'), fullPage: true });
  });

  it('cancels a create from the form: the VM is gone', async () => {
    await page.goto(`${base()}#/create`);
    await page.getByTestId('create-form').waitFor();
    await page.fill('input[name=name]', 'cancelvm');
    await page.fill('input[name=memory]', '256');
    await page.click('button[type=submit]');
    // Its guest never answers ssh, so the create waits there until it is cancelled.
    await page.getByTestId('stages').locator('li', { hasText: 'waiting for ssh' }).waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('alert').filter({ hasText: /cancelled/ }).waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(shots, 'create-cancelled.png'), fullPage: true });
    assert.deepEqual((await w.h.client().get<VMInfo[]>('/vms')).map((v) => v.name), [], 'no VM is left');
    await page.goto(`${base()}#/vms`);
    await page.getByText('No VMs yet').waitFor();
    const ops = await w.h.client().call(ROUTES.operationList, {});
    assert.equal(ops.find((o) => o.kind === 'vm.create' && o.target === 'cancelvm')?.state, 'cancelled');
  });

  it("shows a workspace's changes on the VM's page: the stat, then the patch", async () => {
    const client = w.h.client();
    await client.start(ROUTES.vmCreate, {}, { name: 'wsvm', memoryMiB: 256 });
    await waitRunning(w, 'wsvm');
    const repo = join(w.h.home, 'src', 'repo');
    const guest = join(w.h.home, 'guest', 'repo');
    await makeWorkspaceRepo(repo);
    const r = await w.h.run(['vm', 'workspace', 'prepare', 'wsvm', repo, '--guest-path', guest]);
    assert.equal(r.code, 0, r.stderr);
    writeFileSync(join(guest, 'a.txt'), 'alpha from the guest\nline two\nstaged line\n');
    writeFileSync(join(guest, 'guest-new.txt'), 'hello from the guest\n');

    await page.goto(`${base()}#/vms/wsvm`);
    const stat = page.getByTestId('diff-stat');
    await stat.filter({ hasText: /changed/ }).waitFor({ timeout: 20_000 });
    assert.equal(await stat.innerText(), '2 files changed, +2 −1');
    assert.deepEqual(await page.locator('table.diffstat tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-file'))), ['a.txt', 'guest-new.txt']);
    await page.getByTestId('diff-toggle').click();
    const patch = page.getByTestId('diff-patch');
    await patch.waitFor({ timeout: 20_000 });
    await patch.locator('span.add', { hasText: '+alpha from the guest' }).waitFor();
    await patch.locator('span.del', { hasText: '-alpha' }).waitFor();
    await patch.locator('span.add', { hasText: '+hello from the guest' }).waitFor();
    await page.screenshot({ path: join(shots, 'vm-workspace.png'), fullPage: true });

    writeFileSync(join(guest, 'third.txt'), 'one\ntwo\n');
    await page.getByTestId('workspace-diff').getByRole('button', { name: 'Refresh' }).click();
    await stat.filter({ hasText: '3 files changed, +4 −1' }).waitFor({ timeout: 20_000 });
    await client.start(ROUTES.vmDelete, { name: 'wsvm' });
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

  it('builds an image from a recipe with its stages live, and cancels it', { skip: process.geteuid?.() === 0 ? false : 'image build needs a root daemon' }, async () => {
    await page.goto(`${base()}#/images`);
    const form = page.getByTestId('build-form');
    await form.locator('select[name=recipe] option', { hasText: 'debian-bookworm' }).waitFor({ state: 'attached' });
    assert.equal(await form.locator('select[name=recipe]').inputValue(), 'debian-bookworm');
    await form.locator('input[name=name]').fill('webbuild');
    await form.getByRole('button', { name: 'Build' }).click();
    await form.getByTestId('stages').locator('li.running', { hasText: /mmdebstrap/ }).waitFor({ timeout: 30_000 });
    for (let i = 0; i < 300 && mirror.requests.length === 0; i++) await new Promise((res) => setTimeout(res, 100));
    assert.ok(mirror.requests.some((l) => / http:\/\/127\.0\.0\.1:\d+\/debian\/dists\/bookworm\//.test(l)), `apt asked the loopback mirror: ${mirror.requests.join(' | ')}`);
    assert.ok(mirror.requests.every((l) => l.startsWith('GET http://')), `every request went through the proxy: ${mirror.requests.join(' | ')}`);
    await page.screenshot({ path: join(shots, 'image-build.png'), fullPage: true });
    await form.locator('button[data-action=cancel]').click();
    await form.getByRole('alert').filter({ hasText: /cancelled/ }).waitFor({ timeout: 60_000 });
    await form.locator('button[type=submit]:enabled').waitFor();
    assert.deepEqual((await w.h.client().call(ROUTES.imageList, {})).map((i) => i.name), ['tiny'], 'no image was made');
    const ops = await w.h.client().call(ROUTES.operationList, {});
    assert.equal(ops.find((o) => o.kind === 'image.build')?.state, 'cancelled');
  });

  it('pulls a kernel from the catalog with byte progress', async () => {
    await page.goto(`${base()}#/images`);
    const catalog = page.getByTestId('kernel-catalog');
    const row = catalog.locator('[data-kernel="webkern"]');
    await row.getByRole('button', { name: 'Pull' }).click();
    // The server holds the rest of the file: the page shows how far the download got.
    const progress = catalog.getByTestId('stages').locator('li.running .progress');
    await progress.filter({ hasText: /^1\.\d MiB \/ 3\.\d MiB/ }).waitFor({ timeout: 30_000 });
    assert.equal(await progress.locator('progress').getAttribute('max'), String(download.body.length));
    await page.screenshot({ path: join(shots, 'kernel-pull.png'), fullPage: true });
    download.release();
    await catalog.getByText('Pulled kernel webkern (6.6.6-web).').waitFor({ timeout: 30_000 });
    const stages = await catalog.getByTestId('stages').locator('li').allInnerTexts();
    assert.ok(stages.length >= 3 && stages.every((st) => st.startsWith('✓')), stages.join(' | '));
    await page.getByTestId('kernels').getByText('webkern').waitFor();
    await row.getByRole('button', { name: 'Pull again' }).waitFor();
    assert.deepEqual((await w.h.client().call(ROUTES.kernelList, {})).map((k) => k.name), ['webkern']);
  });
});
