/**
 * dns-qps: queries per second and latency of the daemon's `<name>.vm` DNS server on loopback, measured
 * with dnsperf, next to dnsmasq (a C server) answering the same queries from memory on another loopback
 * port in the same run. Both answer the same query mix locally: `nope.vm A` (NXDOMAIN), `vm SOA` (an
 * answer), `x.vm AAAA` (NXDOMAIN); dnsmasq with --local=/vm/. Latency percentiles come from sequential
 * single-outstanding UDP queries sent by this script (dnsperf 2.10 prints only average latency).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, passMiss, percentile, sleep, stopPids } from './util.mjs';

const TARGET_QPS = 20_000;
const TARGET_P99_MS = 2;
const SECONDS = 5;
const LATENCY_SAMPLES = 3000;
const QUERIES = ['nope.vm A', 'vm SOA', 'x.vm AAAA'];

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

/** A minimal DNS query for `name` type `qtype` (A=1, SOA=6, AAAA=28), id 0x1234. */
function rawQuery(name, qtype, id) {
  const labels = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(0x0100, 2);
  head.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(qtype, 1);
  tail.writeUInt16BE(1, 3);
  return Buffer.concat([head, ...labels, tail]);
}

/** Round-trip times (ms) of sequential UDP queries, one outstanding at a time. */
async function latencies(host, port, n) {
  const sock = createSocket('udp4');
  const types = { A: 1, SOA: 6, AAAA: 28 };
  const samples = [];
  try {
    for (let i = 0; i < n; i++) {
      const [name, type] = QUERIES[i % QUERIES.length].split(' ');
      const id = i & 0xffff;
      const t0 = process.hrtime.bigint();
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer from ${host}:${port} within 1s`)), 1000);
        const onMsg = (m) => {
          if (m.readUInt16BE(0) !== id) return;
          clearTimeout(timer);
          sock.off('message', onMsg);
          resolve();
        };
        sock.on('message', onMsg);
        sock.send(rawQuery(name, types[type], id), port, host);
      });
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  } finally {
    sock.close();
  }
  return samples;
}

function dnsperf(ctx, host, port, dataFile) {
  const r = spawnSync('dnsperf', ['-s', host, '-p', String(port), '-d', dataFile, '-l', String(SECONDS), '-c', '4', '-q', '200'], { encoding: 'utf8', timeout: (SECONDS + 30) * 1000 });
  if (r.status !== 0) throw new Error(`dnsperf against ${host}:${port} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
  const num = (re) => Number(re.exec(r.stdout)?.[1] ?? NaN);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    lost: num(/Queries lost:\s+(\d+)/),
  };
}

async function measure(ctx, label, host, port, dataFile) {
  await latencies(host, port, 200); // warm-up
  const lat = await latencies(host, port, LATENCY_SAMPLES);
  const perf = dnsperf(ctx, host, port, dataFile);
  return { label, ...perf, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

export async function benchDnsQps(ctx) {
  for (const tool of ['dnsperf']) if (!have(tool)) throw new Error(`${tool} is not installed (scripts/install-deps.sh --test)`);
  ctx.startDaemon();
  const status = JSON.parse(spawnSync(process.execPath, [join(ctx.dist, 'bin', 'banger.js'), '--json', 'dns', 'status'], { env: ctx.env, encoding: 'utf8' }).stdout);
  if (!status.addr) throw new Error(`the daemon's DNS server does not listen: ${status.error ?? 'dns_listen_addr is empty'}`);
  const [host, portText] = [status.addr.slice(0, status.addr.lastIndexOf(':')), status.addr.slice(status.addr.lastIndexOf(':') + 1)];
  const dataFile = join(ctx.home, 'dns-queries.txt');
  writeFileSync(dataFile, QUERIES.join('\n') + '\n');

  const results = [await measure(ctx, 'bangerd (node, dns-packet)', host, Number(portText), dataFile)];
  let note = '';
  if (have('dnsmasq')) {
    const port = await freePort();
    const child = spawn('dnsmasq', ['--keep-in-foreground', '--conf-file=/dev/null', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts', '--pid-file=', '--local=/vm/', '--address=/a.vm/127.77.0.1'], { stdio: 'ignore' });
    try {
      await sleep(300);
      results.push(await measure(ctx, 'dnsmasq (reference)', '127.0.0.1', port, dataFile));
    } finally {
      await stopPids([child.pid], 2000);
    }
  } else note = 'dnsmasq not installed: no reference';

  const rows = results.map((r, i) => {
    const isRef = i > 0;
    const ok = isRef || (r.qps >= TARGET_QPS && r.p99 < TARGET_P99_MS);
    return {
      cells: [r.label, Math.round(r.qps).toLocaleString('en'), `${r.avgMs.toFixed(3)} ms`, `${r.p50.toFixed(3)} ms`, `${r.p99.toFixed(3)} ms`, String(r.lost), isRef ? '' : `>= ${TARGET_QPS} qps, p99 < ${TARGET_P99_MS} ms`, isRef ? '' : passMiss(ok)],
      ok,
    };
  });
  if (note) rows.push({ cells: [note, '', '', '', '', '', '', ''], ok: true });
  return {
    title: `DNS on loopback (dnsperf -c 4 -q 200 for ${SECONDS}s; p50/p99 of ${LATENCY_SAMPLES} sequential queries; mix: ${QUERIES.join(', ')})`,
    header: ['server', 'qps', 'avg (loaded)', 'p50', 'p99', 'lost', 'target', 'result'],
    rows,
  };
}
