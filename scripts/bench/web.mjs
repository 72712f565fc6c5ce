/**
 * The web UI in headless chromium (playwright-core, Debian's /usr/bin/chromium) against a fake-driver
 * daemon: the dashboard's first load (bytes transferred, time until it shows the host's data) next to
 * the same page's API JSON fetch, and how long a VM state change takes to reach the VM list page
 * (server-sent events) next to a plain SSE client on the unix socket.
 */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { check, fmtBytes, fmtMs, freePort, median, passMiss, percentile, runAsync, say } from './util.mjs';
import { fakeHome } from './sdk.mjs';

const CHROMIUM = '/usr/bin/chromium';
const LOAD_BYTES_TARGET = 300 * 1024;
const LOAD_MS_TARGET = 1000;
const SSE_MS_TARGET = 200;
const VM = 'webbench';

async function fakeWebHome(ctx) {
  const { home, env } = await fakeHome(ctx, 'web', `web_listen_addr = "127.0.0.1:${await freePort()}"\n`);
  const web = await runAsync(ctx, ctx.banger('--json', 'web'), { env });
  check(web, 'banger web');
  return { home, env, url: JSON.parse(web.stdout).url };
}

/** A plain SSE client of GET /v1/events on the unix socket: VM events with their arrival time. */
function socketEvents(socketPath, onVm) {
  const req = request({ socketPath, path: '/v1/events', headers: { host: 'bangerd' } }, (res) => {
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('');
        if (!data) continue;
        const ev = JSON.parse(data);
        if (ev.type === 'vm') onVm(ev.vm, Date.now());
      }
    });
  });
  req.on('error', () => undefined);
  req.end();
  return () => req.destroy();
}

export async function benchWeb(ctx) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (scripts/install-deps.sh --test installs chromium)`);
  const { chromium } = await import('playwright-core');
  const runs = Math.min(ctx.opts.runs, 10);
  const { env, url } = await fakeWebHome(ctx);
  const { resolveLayout } = await import(pathToFileURL(join(ctx.dist, 'config', 'paths.js')).href);
  const socketPath = resolveLayout({ env }).socketPath;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  try {
    // First load: a fresh browser context each time (empty cache, no cookie), from the token URL to
    // the dashboard showing the host's data; bytes from the network layer (encoded, as transferred).
    const loads = [];
    const apis = [];
    let bytes = 0;
    for (let i = 0; i < runs && !ctx.aborted; i++) {
      const bctx = await browser.newContext();
      const page = await bctx.newPage();
      const cdp = await bctx.newCDPSession(page);
      await cdp.send('Network.enable');
      let transferred = 0;
      cdp.on('Network.loadingFinished', (e) => (transferred += e.encodedDataLength));
      cdp.on('Network.responseReceived', (e) => {
        if (e.response.mimeType === 'text/event-stream') transferred += e.response.encodedDataLength ?? 0;
      });
      const t0 = Date.now();
      await page.goto(url);
      await page.getByText(/cores, load/).waitFor();
      loads.push(Date.now() - t0);
      bytes = Math.max(bytes, transferred);
      // The reference: the same page fetching the JSON its dashboard shows.
      apis.push(await page.evaluate(async () => {
        const t = performance.now();
        await Promise.all(['/v1/host', '/v1/vms', '/v1/operations', '/v1/hypervisor'].map((p) => fetch(p).then((r) => r.json())));
        return performance.now() - t;
      }));
      await bctx.close();
    }

    // SSE: the VM list page and a socket SSE client both watch a fake VM stopped and started.
    say('creating a fake-driver VM (not timed)');
    check(await runAsync(ctx, ctx.banger('vm', 'create', '--name', VM), { env }), 'vm create');
    const page = await (await browser.newContext()).newPage();
    await page.goto(url);
    await page.goto(new URL('/#/vms', url).toString());
    await page.locator(`[data-vm="${VM}"] [data-state="running"]`).waitFor();
    await page.evaluate((vm) => {
      const seen = [];
      window.seen = seen;
      let last;
      new MutationObserver(() => {
        const s = document.querySelector(`[data-vm="${vm}"] [data-state]`)?.getAttribute('data-state');
        if (s && s !== last) {
          last = s;
          seen.push({ state: s, at: Date.now() });
        }
      }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    }, VM);
    const fromSocket = [];
    const stop = socketEvents(socketPath, (vm, at) => vm.name === VM && fromSocket.push({ state: vm.state, updatedAt: Date.parse(vm.updatedAt), at }));
    await new Promise((r) => setTimeout(r, 300));
    const cycles = Math.max(2, Math.min(runs, 5));
    for (let i = 0; i < cycles && !ctx.aborted; i++) {
      check(await runAsync(ctx, ctx.banger('vm', 'stop', VM), { env }), 'vm stop');
      check(await runAsync(ctx, ctx.banger('vm', 'start', VM), { env }), 'vm start');
    }
    await new Promise((r) => setTimeout(r, 500));
    stop();
    const seen = await page.evaluate(() => window.seen);
    // Each state the page showed, against the store write that made it (the event's updatedAt).
    const pageLat = [];
    const sockLat = [];
    for (const s of seen) {
      const ev = fromSocket.filter((e) => e.state === s.state && e.updatedAt <= s.at).at(-1);
      if (!ev) continue;
      pageLat.push(s.at - ev.updatedAt);
      sockLat.push(ev.at - ev.updatedAt);
    }
    check(await runAsync(ctx, ctx.banger('vm', 'delete', VM), { env }), 'vm delete');

    const loadMed = median(loads);
    const apiMed = median(apis);
    const sseMed = median(pageLat);
    const sockMed = Math.max(median(sockLat), 0.5);
    return {
      title: `web UI in headless chromium (fake driver; ${loads.length} first loads, ${pageLat.length} state changes seen by the page)`,
      header: ['measure', 'median', 'p90', 'reference', 'ratio', 'target', 'result'],
      rows: [
        { cells: ['dashboard first load: bytes transferred', fmtBytes(bytes), '', '', '', `< ${fmtBytes(LOAD_BYTES_TARGET)}`, passMiss(bytes < LOAD_BYTES_TARGET)], ok: bytes < LOAD_BYTES_TARGET },
        {
          cells: ['dashboard first load: token URL to data shown', fmtMs(loadMed), fmtMs(percentile(loads, 90)), `API JSON fetch ${fmtMs(apiMed)}`, `${(loadMed / apiMed).toFixed(1)}x`, `< ${LOAD_MS_TARGET} ms`, passMiss(loadMed < LOAD_MS_TARGET)],
          ok: loadMed < LOAD_MS_TARGET,
        },
        {
          cells: ['VM state change to the list page (SSE)', fmtMs(sseMed), fmtMs(percentile(pageLat, 90)), `socket SSE client ${fmtMs(median(sockLat))}`, `${(sseMed / sockMed).toFixed(1)}x`, `< ${SSE_MS_TARGET} ms`, passMiss(sseMed < SSE_MS_TARGET)],
          ok: pageLat.length > 0 && sseMed < SSE_MS_TARGET,
        },
      ],
    };
  } finally {
    await browser.close();
    await runAsync(ctx, ctx.banger('vm', 'delete', VM), { env }).catch(() => undefined);
    await runAsync(ctx, ctx.banger('daemon', 'stop'), { env }).catch(() => undefined);
  }
}
