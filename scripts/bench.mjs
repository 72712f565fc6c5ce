#!/usr/bin/env node
/**
 * Benchmarks of the built CLI and daemon, in a temporary BANGER_HOME.
 *
 *   node scripts/bench.mjs [--only NAME[,NAME]] [--runs N] [--idle SECONDS] [--strict] [--list]
 *
 * BANGER_DIST selects the build to measure (default: dist). Each bench is a function below, listed in
 * BENCHES; it returns rows { label, value, target, ok, note } that are printed under its name.
 * --strict exits 1 when a target is missed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const NODE = process.execPath;

// ---------------------------------------------------------------------------------------------- options

function parseArgs(argv) {
  const opts = { only: undefined, runs: 20, idleSeconds: 3, strict: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--only' || a.startsWith('--only=')) opts.only = value().split(',').filter(Boolean);
    else if (a === '--runs' || a.startsWith('--runs=')) opts.runs = positiveInt(value(), a);
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

function usage(problem) {
  const text = `usage: node scripts/bench.mjs [--only NAME[,NAME]] [--runs N] [--idle SECONDS] [--strict] [--list]\nbenches: ${BENCHES.map((b) => b.name).join(', ')}\n`;
  if (problem) {
    process.stderr.write(`bench: ${problem}\n${text}`);
    process.exit(2);
  }
  process.stdout.write(text);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------- helpers

/** Runs a command to completion; returns wall time in ms, exit status and the first line it complained with. */
function timeOnce(argv, env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) throw r.error;
  const complaint = (r.stderr || '').split('\n').find((l) => l.trim() !== '') ?? '';
  return { ms, status: r.status, complaint };
}

/** One warm-up run, then `runs` timed runs. */
function timeRuns(argv, env, runs) {
  timeOnce(argv, env);
  const samples = [];
  let last;
  for (let i = 0; i < runs; i++) {
    last = timeOnce(argv, env);
    samples.push(last.ms);
  }
  return { samples, status: last.status, complaint: last.complaint };
}

/** Nearest-rank percentile. */
function percentile(samples, p) {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const fmtMs = (ms) => `${ms.toFixed(1)} ms`;

function table(header, rows) {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => String(c ?? '').padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

function readStatusKb(pid, field) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  return m ? Number(m[1]) : undefined;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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
  delete env.BANGER_SOCKET;
  return {
    opts,
    dist,
    home,
    env,
    daemonPid: undefined,
    banger: (...args) => [NODE, banger, ...args],
  };
}

function startDaemon(ctx) {
  if (ctx.daemonPid) return ctx.daemonPid;
  const r = spawnSync(NODE, [join(ctx.dist, 'bin', 'banger.js'), '--json', 'daemon', 'start'], { env: ctx.env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`banger daemon start failed (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`);
  const ping = JSON.parse(r.stdout);
  ctx.daemonPid = ping.pid;
  return ping.pid;
}

function cleanup(ctx) {
  if (ctx.daemonPid) {
    const r = spawnSync(NODE, [join(ctx.dist, 'bin', 'banger.js'), 'daemon', 'stop'], { env: ctx.env, encoding: 'utf8' });
    if (r.status !== 0) {
      try {
        process.kill(ctx.daemonPid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
  }
  rmSync(ctx.home, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------- benches

/** CLI start-up: `banger version` and `banger vm list` against bare `node -e 0`, median and p90 of wall time. */
async function benchCliLatency(ctx) {
  startDaemon(ctx);
  const runs = ctx.opts.runs;
  const TARGET_RATIO = 3;
  const cases = [
    { label: 'node -e 0', argv: [NODE, '-e', '0'] },
    { label: 'banger version', argv: ctx.banger('version') },
    { label: 'banger vm list', argv: ctx.banger('vm', 'list') },
  ];
  const measured = cases.map((c) => ({ ...c, ...timeRuns(c.argv, ctx.env, runs) }));
  const base = percentile(measured[0].samples, 50);
  const rows = [];
  for (const m of measured) {
    const median = percentile(m.samples, 50);
    const p90 = percentile(m.samples, 90);
    const isBase = m === measured[0];
    const ratio = median / base;
    let note = '';
    if (m.status !== 0) note = `exit ${m.status}${/not available yet/.test(m.complaint) ? ': not available yet (timed anyway)' : m.complaint ? `: ${m.complaint}` : ''}`;
    rows.push({
      cells: [m.label, fmtMs(median), fmtMs(p90), isBase ? '1.00x' : `${ratio.toFixed(2)}x`, isBase ? '' : `<= ${TARGET_RATIO}x`, isBase ? '' : ratio <= TARGET_RATIO ? 'PASS' : 'MISS', note],
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
  const pid = startDaemon(ctx);
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

/** Every bench, in the order they run. Add new ones here. */
const BENCHES = [
  { name: 'cli-latency', run: benchCliLatency },
  { name: 'daemon-rss', run: benchDaemonRss },
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
  const ctx = createContext(opts);
  const onSignal = () => {
    cleanup(ctx);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let missed = 0;
  let failed = 0;
  process.stdout.write(`banger bench: ${ctx.dist}, node ${process.version}, BANGER_HOME ${ctx.home}\n`);
  try {
    for (const b of selected) {
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
    cleanup(ctx);
  }
  process.stdout.write(`\n${selected.length} bench(es): ${missed} target(s) missed, ${failed} error(s)\n`);
  if (failed) return 1;
  return opts.strict && missed ? 1 : 0;
}

process.exitCode = await main();
