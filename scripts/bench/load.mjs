/**
 * API load: mixed reads (vm list, vm show, image list, daemon status, ...) at a fixed rate on the
 * daemon's unix socket with autocannon, while VMs are created and deleted in a loop (fake driver: each
 * create spawns the VM's processes and waits for its SSH, so the daemon does a boot's work the whole
 * time). The same load against a trivial node HTTP server on a unix socket, in the same run, is the
 * reference. The daemon's resident memory is read after a first and a second run: growth beyond 10%
 * is a leak.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { NODE, fmtMs, passMiss, readStatusKb, runAsync, say, sleep } from './util.mjs';
import { fakeHome } from './sdk.mjs';

const RATE = 1000;
const CONNECTIONS = 10;
const P99_TARGET_MS = 20;
const RSS_GROWTH_TARGET = 0.1;
const STEADY_VM = 'loadvm';

/** The reads a client makes, in the order each connection cycles through them. */
const READS = [
  '/v1/vms',
  `/v1/vms/${STEADY_VM}`,
  '/v1/images',
  '/v1/ping',
  '/v1/images/tiny',
  '/v1/operations',
  '/v1/kernels',
  `/v1/vms/${STEADY_VM}/egress`,
  '/v1/hypervisor',
  '/v1/snapshots',
];

/** A node HTTP server on a unix socket answering every request with a small JSON body. */
const REFERENCE_SERVER = `
const http = require('node:http');
const body = JSON.stringify({ ok: true, items: Array.from({ length: 8 }, (_, i) => ({ name: 'vm' + i, state: 'running' })) });
http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); })
  .listen(process.argv[1], () => process.stdout.write('ready\\n'));
`;

function startReference(ctx, socketPath) {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, ['-e', REFERENCE_SERVER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    ctx.children.add(child);
    child.on('exit', () => ctx.children.delete(child));
    child.on('error', reject);
    child.stdout.once('data', () => resolve(child));
  });
}

function fire(socketPath, seconds) {
  return autocannon({
    url: 'http://banger',
    socketPath,
    connections: CONNECTIONS,
    overallRate: RATE,
    duration: seconds,
    requests: READS.map((path) => ({ method: 'GET', path })),
  });
}

/** What one autocannon run held: rate, latency, anything that was not a 2xx answer. */
function summarize(r) {
  const errors = r.errors + r.timeouts + r.non2xx;
  return { rps: r.requests.total / (r.duration || 1), p50: r.latency.p50, p99: r.latency.p99, errors, total: r.requests.total };
}

/** Creates and deletes fake-driver VMs one after the other until stopped; counts what it did. */
function churn(banger, ctx) {
  const state = { stop: false, cycles: 0, failures: 0, lastError: '' };
  state.done = (async () => {
    for (let i = 0; !state.stop && !ctx.aborted; i++) {
      const name = `churn${i}`;
      try {
        const vm = await banger.vms.create({ name });
        await vm.delete();
        state.cycles++;
      } catch (err) {
        state.failures++;
        state.lastError = err instanceof Error ? err.message : String(err);
        await sleep(200);
      }
    }
  })();
  return state;
}

export async function benchApiLoad(ctx) {
  const seconds = ctx.opts.loadSeconds;
  const { home, env } = await fakeHome(ctx, 'load');
  const { Banger } = await import(pathToFileURL(join(ctx.dist, 'sdk', 'index.js')).href);
  const banger = new Banger({ env });
  const steady = await banger.vms.create({ name: STEADY_VM });
  const ping = await banger.ping();
  const pid = ping.pid;
  const socketPath = ping.socket;
  const refSocket = join(home, 'ref.sock');
  const ref = await startReference(ctx, refSocket);
  try {
    say(`reference: ${RATE} req/s for ${seconds}s on a bare node server`);
    const base = summarize(await fire(refSocket, seconds));
    say('daemon warm-up: 3s of the same reads, not counted');
    await fire(socketPath, 3);
    const runs = [];
    for (const label of ['first', 'second']) {
      say(`daemon, ${label} run: ${RATE} req/s of mixed reads for ${seconds}s while VMs are created and deleted`);
      const loop = churn(banger, ctx);
      const r = summarize(await fire(socketPath, seconds));
      loop.stop = true;
      await loop.done;
      await sleep(1000);
      const rssKb = readStatusKb(pid, 'VmRSS');
      runs.push({ label, ...r, rssKb, cycles: loop.cycles, churnFailures: loop.failures, churnError: loop.lastError });
    }
    const rows = [
      {
        cells: ['node http server (reference)', base.rps.toFixed(0), fmtMs(base.p50), fmtMs(base.p99), String(base.errors), '', '1.00x', '', '', 'baseline'],
        ok: true,
      },
    ];
    for (const r of runs) {
      const held = r.rps >= RATE * 0.95;
      const ok = held && r.errors === 0 && r.p99 < P99_TARGET_MS && r.churnFailures === 0;
      const ratio = base.p99 > 0 ? r.p99 / base.p99 : NaN;
      rows.push({
        cells: [
          `bangerd, ${r.label} run`,
          r.rps.toFixed(0),
          fmtMs(r.p50),
          fmtMs(r.p99),
          String(r.errors),
          `${(r.rssKb / 1024).toFixed(1)} MB`,
          `${ratio.toFixed(2)}x`,
          `>= ${RATE * 0.95}/s, p99 < ${P99_TARGET_MS} ms, 0 errors`,
          passMiss(ok),
          `${r.cycles} VM create+delete${r.churnFailures ? `, ${r.churnFailures} failed: ${r.churnError}` : ''}`,
        ],
        ok,
      });
    }
    const growth = runs[1].rssKb / runs[0].rssKb - 1;
    rows.push({
      cells: ['daemon RSS, second run vs first', '', '', '', '', `${(growth * 100).toFixed(1)}%`, '', `<= ${RSS_GROWTH_TARGET * 100}%`, passMiss(growth <= RSS_GROWTH_TARGET), 'no leak'],
      ok: growth <= RSS_GROWTH_TARGET,
    });
    return {
      title: `API load (${RATE} req/s over ${CONNECTIONS} connections on the unix socket, ${seconds}s per run, ${READS.length} read routes in turn; fake driver under ${home}; p99 ratio vs a bare node server)`,
      header: ['server', 'req/s held', 'p50', 'p99', 'errors', 'RSS', 'p99 vs ref', 'target', 'result', 'note'],
      rows,
    };
  } finally {
    ref.kill();
    await steady.delete().then(undefined, () => undefined);
    await runAsync(ctx, ctx.banger('daemon', 'stop'), { env }).catch(() => undefined);
  }
}
