#!/usr/bin/env node
/**
 * Benchmarks of the built CLI and daemon, in a temporary BANGER_HOME.
 *
 *   node scripts/bench.mjs [--only NAME[,NAME]] [--runs N] [--vm-runs N] [--accel A[,A]] [--idle SECONDS] [--load-seconds N] [--strict] [--list]
 *
 * BANGER_DIST selects the build to measure (default: dist). Each bench is a function listed in BENCHES
 * (here and in scripts/bench/); it returns { title, header, rows: [{ cells, ok }] }, printed under its
 * name. --strict exits 1 when a target is missed. Whatever a bench starts (daemon, VMs, QEMU,
 * mmdebstrap, temporary files) is stopped and removed at the end, on error and on Ctrl-C.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchBridge } from './bench/bridge.mjs';
import { benchColdBoot } from './bench/cold.mjs';
import { benchDiskProvision } from './bench/disks.mjs';
import { benchDnsQps } from './bench/dns.mjs';
import { benchForwardedPort } from './bench/forward.mjs';
import { benchApiLoad } from './bench/load.mjs';
import { benchImageBuild } from './bench/image.mjs';
import { benchImageBuildRootless } from './bench/image-rootless.mjs';
import { benchOciLayerRss, benchOciPull } from './bench/oci.mjs';
import { benchRemoteContext } from './bench/remote.mjs';
import { benchSdkExec } from './bench/sdk.mjs';
import { benchDaemonRss3Vms, benchVmRun } from './bench/vm.mjs';
import { benchWorkspace } from './bench/workspace.mjs';
import { benchWeb } from './bench/web.mjs';
import { benchWarmFork, benchWarmPool, benchWarmRestore } from './bench/warm.mjs';
import { benchWarmShare } from './bench/share.mjs';
import { benchShareVsCopy } from './bench/share-copy.mjs';
import {
  NODE,
  fmtMs,
  freePort,
  isAlive,
  percentile,
  pidsMentioning,
  readStatusKb,
  removeTree,
  sleep,
  stopPids,
  table,
  timeRuns,
  waitGone,
} from './bench/util.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------------------------- options

function parseArgs(argv) {
  const opts = { only: undefined, loadSeconds: 60, runs: 20, vmRuns: 2, accels: ['auto'], idleSeconds: 3, strict: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--only' || a.startsWith('--only=')) opts.only = value().split(',').filter(Boolean);
    else if (a === '--runs' || a.startsWith('--runs=')) opts.runs = positiveInt(value(), a);
    else if (a === '--vm-runs' || a.startsWith('--vm-runs=')) opts.vmRuns = positiveInt(value(), a);
    else if (a === '--accel' || a.startsWith('--accel=')) opts.accels = accelList(value(), a);
    else if (a === '--load-seconds' || a.startsWith('--load-seconds=')) opts.loadSeconds = positiveInt(value(), a);
    else if (a === '--idle' || a.startsWith('--idle=')) opts.idleSeconds = positiveInt(value(), a);
    else if (a === '--strict') opts.strict = true;
    else if (a === '--list') opts.list = true;
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  return opts;
}

function positiveInt(v, flag) {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) usage(`${flag} needs a positive whole number, got ${v}`);
  return n;
}

const ACCELS = ['auto', 'kvm', 'tcg'];

function accelList(v, flag) {
  const list = [...new Set(v.split(',').filter(Boolean))];
  const bad = list.filter((a) => !ACCELS.includes(a));
  if (list.length === 0 || bad.length) usage(`${flag} takes ${ACCELS.join(', ')} (comma-separated), got ${v}`);
  return list;
}

function usage(problem) {
  const text = [
    'usage: node scripts/bench.mjs [--only NAME[,NAME]] [--runs N] [--vm-runs N] [--accel A[,A]] [--idle SECONDS] [--load-seconds N] [--strict] [--list]',
    '',
    'benches (all run by default, in this order; times are for a 2-core host with QEMU on TCG):',
    ...BENCHES.map((b) => `  ${b.name.padEnd(18)}${b.about}`),
    '',
    'vm-run and daemon-rss-3vms boot the image that image-build made; run without it, they build it first',
    '(untimed, ~2 min). The whole set takes 10-15 minutes.',
    '',
    '  --only NAME[,NAME]  run just these benches',
    '  --runs N            timed runs per command in cli-latency (default 20)',
    '  --vm-runs N         boots per side in vm-run (default 2)',
    '  --accel A[,A]       warm-restore, warm-fork and warm-pool run once per acceleration: auto (the daemon\'s choice,',
    '                      the default), kvm, tcg; set as accel in the bench home\'s config.toml. Their',
    '                      tables say which acceleration the VMs ran with',
    '  --idle SECONDS      wait before reading daemon memory (default 3)',
    '  --load-seconds N    length of each api-load run (default 60; 10 for a quick run)',
    '  --strict            exit 1 when a target is missed',
    '  --list              print the bench names',
    '',
    'BANGER_DIST selects the build to measure (default: dist). BANGER_BENCH_IMAGE_DIR=DIR registers the image',
    'the VM benches boot from DIR (rootfs.ext4, vmlinuz, initrd.img) instead of building it.',
    '',
  ].join('\n');
  if (problem) {
    process.stderr.write(`bench: ${problem}\n${text}`);
    process.exit(2);
  }
  process.stdout.write(text);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------- setup

function createContext(opts) {
  const dist = resolve(root, process.env.BANGER_DIST ?? 'dist');
  const banger = join(dist, 'bin', 'banger.js');
  if (!existsSync(banger)) {
    process.stderr.write(`bench: ${banger} does not exist; build first (npm run build) or set BANGER_DIST\n`);
    process.exit(2);
  }
  // Short, so the daemon's socket path stays well under the 108-byte limit.
  const home = mkdtempSync(join(tmpdir(), 'bb-'));
  const env = { ...process.env, BANGER_HOME: home, NO_COLOR: '1' };
  // The bench daemon's DNS server on its own port, never the default one a real daemon may hold.
  // The warm pool is off here so no bench pays for a background template build; warm-pool has its own home.
  const baseConfig = `dns_listen_addr = "127.0.0.1:${opts.dnsPort}"\nwarm_pool = false\n`;
  writeFileSync(join(home, 'config.toml'), baseConfig);
  delete env.BANGER_SOCKET;
  const ctx = {
    opts,
    root,
    dist,
    home,
    env,
    daemonPid: undefined,
    /** Children started with runAsync that have not exited yet. */
    children: new Set(),
    /** QEMU processes the bench launched itself (vm-run's raw boots). */
    rawQemuPids: new Set(),
    /** VMs a bench created and has not deleted yet. */
    vmNames: new Set(),
    /** The image record once built or found (VM benches). */
    image: undefined,
    /** Set on Ctrl-C and at cleanup: no new commands start. */
    aborted: false,
    /** The signal that interrupted the run, if one did. */
    signalled: undefined,
    banger: (...args) => [NODE, banger, ...args],
    startDaemon: () => startDaemon(ctx),
    /** Sets accel in the home's config.toml ('auto' removes it) and restarts the daemon if it runs, so new VMs use it. */
    setAccel: (accel) => {
      writeFileSync(join(home, 'config.toml'), accel === 'auto' ? baseConfig : `${baseConfig}accel = "${accel}"\n`);
      if (!ctx.daemonPid) return;
      const r = bangerSync(ctx, ['daemon', 'stop'], 60_000);
      if (r.status !== 0) throw new Error(`banger daemon stop failed (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`);
      ctx.daemonPid = undefined;
      ctx.startDaemon();
    },
  };
  return ctx;
}

function startDaemon(ctx) {
  if (ctx.daemonPid) return ctx.daemonPid;
  const r = spawnSync(NODE, [join(ctx.dist, 'bin', 'banger.js'), '--json', 'daemon', 'start'], { env: ctx.env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`banger daemon start failed (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`);
  const ping = JSON.parse(r.stdout);
  ctx.daemonPid = ping.pid;
  return ping.pid;
}

function bangerSync(ctx, args, timeoutMs = 60_000) {
  return spawnSync(NODE, [join(ctx.dist, 'bin', 'banger.js'), ...args], { env: ctx.env, encoding: 'utf8', timeout: timeoutMs });
}

/**
 * Stops and removes everything the benches started, in an order that lets banger clean up after
 * itself first: running commands, QEMU started by hand, VMs (killed, then deleted), the daemon; then
 * any process still naming the bench's home on its command line, and the home itself.
 */
function cleanup(ctx) {
  ctx.cleaning ??= doCleanup(ctx);
  return ctx.cleaning;
}

async function doCleanup(ctx) {
  ctx.aborted = true;
  const children = [...ctx.children].map((c) => c.pid).filter(Boolean);
  if (children.length) {
    // After Ctrl-C they got SIGINT from the terminal too; give them time to act on it before asking
    // again. SIGINT lets banger's CLI cancel its operation in the daemon and mmdebstrap unmount and
    // remove its chroot.
    if (ctx.signalled) await waitGone(children, 15_000);
    await stopPids(children, 20_000, 'SIGINT');
  }
  if (ctx.rawQemuPids.size) await stopPids([...ctx.rawQemuPids], 0);

  const status = bangerSync(ctx, ['--json', 'daemon', 'status'], 15_000);
  let daemon;
  try {
    daemon = JSON.parse(status.stdout);
  } catch {
    daemon = undefined;
  }
  if (daemon?.running) {
    const list = bangerSync(ctx, ['--json', 'vm', 'list'], 30_000);
    let names = [...ctx.vmNames];
    try {
      names = [...new Set([...names, ...JSON.parse(list.stdout).map((v) => v.name)])];
    } catch {
      /* keep what we know */
    }
    if (names.length) {
      bangerSync(ctx, ['vm', 'kill', ...names], 30_000);
      bangerSync(ctx, ['vm', 'delete', ...names], 60_000);
    }
    const stop = bangerSync(ctx, ['daemon', 'stop'], 30_000);
    if (stop.status !== 0 && daemon.pid) await stopPids([daemon.pid], 5000);
  } else if (ctx.daemonPid && isAlive(ctx.daemonPid)) {
    await stopPids([ctx.daemonPid], 5000);
  }

  // Anything left that names the home (a VM's QEMU, a stuck daemon) was started for this bench.
  const leftovers = pidsMentioning(`${ctx.home}/`);
  if (leftovers.length) {
    process.stderr.write(`bench: stopping leftover processes ${leftovers.join(', ')}\n`);
    await stopPids(leftovers, 3000);
    await waitGone(leftovers, 3000);
  }
  removeTree(ctx.home);
}

// ---------------------------------------------------------------------------------------------- benches

/** CLI start-up: `banger version` and `banger vm list` against bare `node -e 0`, median and p90 of wall time. */
async function benchCliLatency(ctx) {
  ctx.startDaemon();
  const runs = ctx.opts.runs;
  const TARGET_RATIO = 3;
  const cases = [
    { label: 'node -e 0', argv: [NODE, '-e', '0'] },
    { label: 'banger version', argv: ctx.banger('version') },
    { label: 'banger vm list', argv: ctx.banger('vm', 'list') },
    // The same command from tsc's modules (dist/cli), loaded one by one: what dist/bin/banger.js bundles.
    { label: 'banger vm list, unbundled', reference: true, argv: [NODE, '--input-type=module', '-e', `import { runCli } from ${JSON.stringify(pathToFileURL(join(ctx.dist, 'cli', 'main.js')).href)}; process.exitCode = await runCli(process.argv.slice(1));`, 'vm', 'list'] },
  ];
  const measured = cases.map((c) => ({ ...c, ...timeRuns(c.argv, ctx.env, runs) }));
  const base = percentile(measured[0].samples, 50);
  const rows = [];
  const unbundled = percentile(measured.find((m) => m.reference).samples, 50);
  for (const m of measured) {
    const median = percentile(m.samples, 50);
    const p90 = percentile(m.samples, 90);
    const isBase = m === measured[0] || m.reference === true;
    const ratio = median / base;
    let note = m.reference ? `${ratio.toFixed(2)}x node; the reference for the bundle` : m.argv.at(-1) === 'list' ? `${(median / unbundled).toFixed(2)}x the unbundled` : '';
    if (m.status !== 0) note = `exit ${m.status}${/not available yet/.test(m.complaint) ? ': not available yet (timed anyway)' : m.complaint ? `: ${m.complaint}` : ''}`;
    rows.push({
      cells: [m.label, fmtMs(median), fmtMs(p90), m.reference ? '' : isBase ? '1.00x' : `${ratio.toFixed(2)}x`, isBase ? '' : `<= ${TARGET_RATIO}x`, isBase ? '' : ratio <= TARGET_RATIO ? 'PASS' : 'MISS', note],
      ok: isBase || ratio <= TARGET_RATIO,
    });
  }
  return {
    title: `CLI latency (${runs} runs each after one warm-up; wall time; ratio of medians vs bare node)`,
    header: ['command', 'median', 'p90', 'vs node', 'target', 'result', 'note'],
    rows,
  };
}

/** Resident memory of an idle daemon after a few seconds, from /proc/<pid>/status. */
async function benchDaemonRss(ctx) {
  const pid = ctx.startDaemon();
  const TARGET_MB = 80;
  await sleep(ctx.opts.idleSeconds * 1000);
  const rssKb = readStatusKb(pid, 'VmRSS');
  const hwmKb = readStatusKb(pid, 'VmHWM');
  if (rssKb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  const mb = rssKb / 1024;
  return {
    title: `daemon idle memory (pid ${pid}, after ${ctx.opts.idleSeconds}s idle)`,
    header: ['measure', 'value', 'target', 'result', 'note'],
    rows: [
      { cells: ['VmRSS', `${mb.toFixed(1)} MB`, `<= ${TARGET_MB} MB`, mb <= TARGET_MB ? 'PASS' : 'MISS', ''], ok: mb <= TARGET_MB },
      { cells: ['VmHWM', hwmKb === undefined ? '-' : `${(hwmKb / 1024).toFixed(1)} MB`, '', '', 'peak so far'], ok: true },
    ],
  };
}

/** Every bench, in the order they run, with how long each takes. Add new ones here. */
const BENCHES = [
  { name: 'cli-latency', run: benchCliLatency, about: 'CLI start-up vs bare node (~10 s)' },
  { name: 'daemon-rss', run: benchDaemonRss, about: 'idle daemon memory (~5 s)' },
  { name: 'remote-context', run: benchRemoteContext, about: 'vm list through an ssh:// context (loopback sshd) vs local (~15 s)' },
  { name: 'api-load', run: benchApiLoad, about: '1000 req/s of mixed reads on the socket while VMs are created and deleted, vs a bare node server; fake driver; 3 runs of --load-seconds (~3.5 min)' },
  { name: 'sdk-exec', run: benchSdkExec, about: "SDK vm.exec vs ssh through banger's ssh_config, 100 concurrent execs; fake driver (~10 s on an idle host)" },
  { name: 'web-ui', run: benchWeb, about: 'dashboard first load (bytes, time) vs its API fetch, SSE state change to the page vs a socket SSE client; chromium, fake driver (~30 s)' },
  { name: 'workspace', run: benchWorkspace, about: 'workspace prepare of a 10k-file, 200 MB repo vs git bundle + tar | ssh by hand, and a second prepare; fake driver (~1-2 min)' },
  { name: 'disk-provision', run: benchDiskProvision, about: "a VM's disks over a 2 and a 20 GiB base (~2 s)" },
  { name: 'dns-qps', run: benchDnsQps, about: 'DNS qps and latency of the daemon vs dnsmasq, with dnsperf (~20 s)' },
  { name: 'bridge', run: benchBridge, about: 'bridge-mode tap + rules per VM, from the pool, allowlist update; in a netns, root (~5 s)' },
  { name: 'image-build', run: benchImageBuild, about: 'image build vs mmdebstrap alone; fetches the packages twice (~2-5 min)' },
  { name: 'image-build-rootless', run: benchImageBuildRootless, about: 'a small recipe built as root (directory), as a throwaway user (unshare, tarball importer) and as root through the importer; root (~3-4 min)' },
  { name: 'oci-pull', run: benchOciPull, about: 'image pull of a 4-layer 220 MB image from a local registry vs skopeo + umoci + mkfs.ext4 -d, then again from the blob cache (~2-4 min)' },
  { name: 'oci-layer-rss', run: benchOciLayerRss, about: "the daemon's RSS growth while image pull imports one 1 GiB layer from a local registry (~1-2 min)" },
  { name: 'vm-run', run: benchVmRun, about: 'vm run --rm -- true vs raw QEMU boot to ssh; 1 + 2x--vm-runs boots (~4 min)' },
  { name: 'daemon-rss-3vms', run: benchDaemonRss3Vms, about: 'daemon memory with 3 VMs running (~2-3 min)' },
  { name: 'forward-port', run: benchForwardedPort, about: 'a published guest port (vm run -p) vs direct loopback, latency and throughput; 1 boot (~2 min)' },
  { name: 'cold-boot', run: benchColdBoot, about: 'cold boot to ssh with boot trimming vs banger.trim=off, with the systemd-analyze split; 1 + 2x--vm-runs boots (~6 min)' },
  { name: 'warm-restore', run: benchWarmRestore, about: 'restore from a snapshot to ssh vs cold boot to ssh; 1 + --vm-runs cold boots (~4 min)' },
  { name: 'warm-fork', run: benchWarmFork, about: 'vm fork -n 4 (snapshot + 4 concurrent restores) vs one restore, both to ssh; 1 cold boot (~3 min)' },
  { name: 'warm-share', run: benchWarmShare, about: 'host memory (sum of Pss) of 4 children forked from a 1 GiB VM vs 4 cold-booted 1 GiB VMs, all at ssh; 5 cold boots (~6 min)' },
  { name: 'warm-pool', run: benchWarmPool, about: 'vm run --rm -- true from the warm pool vs --cold; 2 + --vm-runs cold boots (~5 min)' },
  { name: 'share-vs-copy', run: benchShareVsCopy, about: 'a 10k-file git checkout job (tar -x, git status, sha256sum) in a 9p shared folder vs /root/repo in the same VM (Debian generic kernel), ratio; imports linux-image-amd64, 2 boots (~15 min)' },
];

// ---------------------------------------------------------------------------------------------- main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.list) {
    for (const b of BENCHES) process.stdout.write(`${b.name}\n`);
    return 0;
  }
  const unknown = (opts.only ?? []).filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length) usage(`unknown bench ${unknown.join(', ')}`);
  const selected = opts.only ? BENCHES.filter((b) => opts.only.includes(b.name)) : BENCHES;
  opts.dnsPort = await freePort();
  const ctx = createContext(opts);
  let signalled = false;
  const onSignal = (sig) => {
    if (signalled) {
      process.stderr.write(`bench: ${sig} again; still cleaning up ${ctx.home}\n`);
      return;
    }
    signalled = true;
    ctx.aborted = true;
    ctx.signalled = sig;
    process.stderr.write(`\nbench: ${sig}; cleaning up\n`);
    cleanup(ctx).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  let missed = 0;
  let failed = 0;
  process.stdout.write(`banger bench: ${ctx.dist}, node ${process.version}, BANGER_HOME ${ctx.home}\n`);
  try {
    for (const b of selected) {
      if (ctx.aborted) break;
      process.stdout.write(`\n== ${b.name}\n`);
      try {
        const res = await b.run(ctx);
        process.stdout.write(`${res.title}\n${table(res.header, res.rows.map((r) => r.cells))}\n`);
        missed += res.rows.filter((r) => !r.ok).length;
      } catch (err) {
        failed++;
        process.stdout.write(`ERROR ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  } finally {
    await cleanup(ctx);
  }
  process.stdout.write(`\n${selected.length} bench(es): ${missed} target(s) missed, ${failed} error(s)\n`);
  if (failed) return 1;
  return opts.strict && missed ? 1 : 0;
}

process.exitCode = await main();
