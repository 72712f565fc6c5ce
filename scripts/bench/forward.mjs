/**
 * forward-port: a guest port published with `vm run -p` (QEMU's user network, forwarded on the VM's
 * own loopback address) against the same server program reached directly on the host's loopback in
 * the same run. The server is one small perl HTTP server (the image has perl, not python), run in the
 * guest and on the host; each request is a new connection (what a browser or curl does). Figures:
 * per-request latency (p50, p99) for a 100-byte body and download throughput of an 8 MiB body. The
 * guest runs under TCG here, so the ratio holds the emulated guest's own slowness as well as the
 * forward's.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { ensureImage } from './image.mjs';
import { check, fmtMs, freePort, percentile, runAsync, say, sleep, stopPids } from './util.mjs';

const GUEST_PORT = 8000;
const SMALL = 100;
const BIG = 8 * 1024 * 1024;
const LATENCY_SAMPLES = 60;
const DOWNLOADS = 4;

/** GET /N answers N bytes; one connection at a time. Port and address as arguments. */
const HTTPD =
  'use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => $ARGV[1], LocalPort => $ARGV[0], Listen => 64, ReuseAddr => 1) or die "listen: $!"; ' +
  'my $chunk = "x" x 65536; ' +
  'while (my $c = $s->accept) { my $n = 0; while (defined(my $l = <$c>)) { $n = $1 if $l =~ m{^GET /(\\d+)}; last unless $l =~ /\\S/ } ' +
  'print $c "HTTP/1.0 200 OK\\r\\nContent-Length: $n\\r\\nConnection: close\\r\\n\\r\\n"; ' +
  'while ($n > 0) { my $k = $n < 65536 ? $n : 65536; print $c substr($chunk, 0, $k); $n -= $k } close $c }';

/** One GET on a new connection; resolves with the wall time in ms and the bytes received. */
function get(host, port, bytes) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = request({ host, port, path: `/${bytes}`, agent: false, timeout: 60_000 }, (res) => {
      let got = 0;
      res.on('data', (d) => (got += d.length));
      res.on('end', () => {
        if (got !== bytes) reject(new Error(`${host}:${port} sent ${got} of ${bytes} bytes`));
        else resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes: got });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${host}:${port} did not answer within 60s`)));
    req.on('error', reject);
    req.end();
  });
}

async function measure(host, port) {
  for (let i = 0; i < 5; i++) await get(host, port, SMALL); // warm-up
  const lat = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) lat.push((await get(host, port, SMALL)).ms);
  let ms = 0;
  for (let i = 0; i < DOWNLOADS; i++) ms += (await get(host, port, BIG)).ms;
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), mbps: (DOWNLOADS * BIG) / (1024 * 1024) / (ms / 1000) };
}

async function waitAnswering(host, port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await get(host, port, 1);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`nothing answers HTTP on ${host}:${port}: ${err.message}`);
      await sleep(250);
    }
  }
}

export async function benchForwardedPort(ctx) {
  ctx.startDaemon();
  await ensureImage(ctx);
  const name = 'fwdbench';
  const hostPort = await freePort();
  say(`banger vm run -d --name ${name} -p ${hostPort}:${GUEST_PORT} (not timed)`);
  ctx.vmNames.add(name);
  let direct;
  let forwarded;
  let addr = '';
  const local = await freePort();
  const child = spawn('perl', ['-e', HTTPD, String(local), '127.0.0.1'], { stdio: 'ignore' });
  try {
    check(await runAsync(ctx, ctx.banger('vm', 'run', '-d', '--name', name, '-p', `${hostPort}:${GUEST_PORT}`)), `banger vm run -d --name ${name}`);
    addr = JSON.parse(check(await runAsync(ctx, ctx.banger('--json', 'vm', 'show', name)), `banger vm show ${name}`).stdout).sshHost;
    const start = `setsid -f perl -e "$0" ${GUEST_PORT} 0.0.0.0 >/dev/null 2>&1 </dev/null`;
    check(await runAsync(ctx, ctx.banger('vm', 'exec', name, '--', 'sh', '-c', start, HTTPD)), 'starting the guest HTTP server');
    await waitAnswering(addr, hostPort, 60_000);
    await waitAnswering('127.0.0.1', local, 10_000);
    say('direct loopback');
    direct = await measure('127.0.0.1', local);
    say(`forwarded ${addr}:${hostPort} -> guest ${GUEST_PORT}`);
    forwarded = await measure(addr, hostPort);
  } finally {
    await stopPids([child.pid], 1000);
    const del = await runAsync(ctx, ctx.banger('vm', 'delete', name));
    if (del.code === 0) ctx.vmNames.delete(name);
  }
  const row = (label, r, ref) => ({
    cells: [label, fmtMs(r.p50), fmtMs(r.p99), `${r.mbps.toFixed(1)} MiB/s`, ref ? `${(r.p50 / ref.p50).toFixed(1)}x latency, ${(ref.mbps / r.mbps).toFixed(1)}x slower transfer` : 'reference'],
    ok: true,
  });
  return {
    title: `a published port (vm run -p, QEMU user network, on ${addr}) vs the same perl HTTP server on the host's loopback; ${LATENCY_SAMPLES} requests of ${SMALL} B and ${DOWNLOADS} downloads of 8 MiB, a new connection each; guest on TCG`,
    header: ['path', 'p50', 'p99', 'throughput', 'ratio to direct'],
    rows: [row('direct 127.0.0.1 (reference)', direct), row('forwarded into the guest', forwarded, direct)],
  };
}
