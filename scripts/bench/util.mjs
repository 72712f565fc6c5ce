/**
 * Helpers shared by the benches: timing, formatting, child processes that cleanup can find again,
 * and removal of temporary trees that refuses to follow mounts into the host.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';

export const NODE = process.execPath;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------- figures

/** Nearest-rank percentile. */
export function percentile(samples, p) {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** Median (mean of the middle two for an even count). */
export function median(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export const fmtMs = (ms) => `${ms.toFixed(1)} ms`;

export function fmtSecs(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Milliseconds under a second, seconds above. */
export function fmtDur(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : fmtSecs(ms);
}

export function fmtBytes(n) {
  if (n >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${n} B`;
}

export const passMiss = (ok) => (ok ? 'PASS' : 'MISS');

export function table(header, rows) {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => String(c ?? '').padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export function readStatusKb(pid, field) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  return m ? Number(m[1]) : undefined;
}

/**
 * CPU seconds used so far: `busy`, by the whole host (every core's non-idle time in /proc/stat; guest
 * time is inside user), and `children`, by this process's finished children (cutime + cstime of
 * /proc/self/stat), so a command's own share can be told from what it made the host do.
 */
export function hostCpu() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const self = readFileSync('/proc/self/stat', 'utf8');
  const f = self.slice(self.lastIndexOf(')') + 2).split(' ');
  return { busy: (user + nice + system + irq + softirq + steal) / 100, children: (Number(f[13]) + Number(f[14])) / 100 };
}

/** Bytes a file occupies on disk (what du reports), and its apparent size. */
export function diskUsage(path) {
  const st = statSync(path);
  return { allocated: st.blocks * 512, apparent: st.size };
}

/** Progress lines while a long bench runs, so a silent terminal does not look hung. */
export function say(message) {
  process.stdout.write(`  .. ${message}\n`);
}

// ---------------------------------------------------------------------------------------------- processes

/** Runs a command to completion; returns wall time in ms, exit status and the first line it complained with. */
export function timeOnce(argv, env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) throw r.error;
  const complaint = (r.stderr || '').split('\n').find((l) => l.trim() !== '') ?? '';
  return { ms, status: r.status, complaint };
}

/** One warm-up run, then `runs` timed runs. */
export function timeRuns(argv, env, runs) {
  timeOnce(argv, env);
  const samples = [];
  let last;
  for (let i = 0; i < runs; i++) {
    last = timeOnce(argv, env);
    samples.push(last.ms);
  }
  return { samples, status: last.status, complaint: last.complaint };
}

/**
 * Runs a command without blocking the event loop (so Ctrl-C can clean up while it runs). The child is
 * kept in ctx.children until it exits, for cleanup to stop. Resolves with its exit status, output
 * (capped) and wall time; never rejects for a non-zero exit. opts: env, onStdoutLine, onStderrLine,
 * timeoutMs (then SIGTERM), onChild (receives the ChildProcess).
 */
export function runAsync(ctx, argv, opts = {}) {
  const { env = ctx.env, onStdoutLine, onStderrLine, timeoutMs, onChild } = opts;
  return new Promise((resolvePromise, reject) => {
    if (ctx.aborted) {
      // Later, not now: a polling loop that retries on failure must still yield to the event loop.
      setTimeout(() => reject(new Error('interrupted')), 10);
      return;
    }
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    ctx.children.add(child);
    onChild?.(child);
    const out = { stdout: '', stderr: '' };
    const CAP = 4 * MiB;
    const follow = (stream, key, onLine) => {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        if (out[key].length < CAP) out[key] += chunk;
        if (!onLine) return;
        partial += chunk;
        const lines = partial.split('\n');
        partial = lines.pop();
        for (const l of lines) onLine(l);
      });
      stream.on('end', () => {
        if (onLine && partial) onLine(partial);
      });
    };
    follow(child.stdout, 'stdout', onStdoutLine);
    follow(child.stderr, 'stderr', onStderrLine);
    let timedOut = false;
    const timer = timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM');
        }, timeoutMs)
      : undefined;
    child.on('error', (err) => {
      ctx.children.delete(child);
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      ctx.children.delete(child);
      if (timer) clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      resolvePromise({ code, signal, timedOut, ms, ...out });
    });
  });
}

/** The last few non-empty lines of some output, for error messages. */
export function lastLines(text, n = 3) {
  return (text || '').split('\n').filter((l) => l.trim() !== '').slice(-n).join(' | ');
}

/** Throws unless a runAsync result exited 0. */
export function check(r, what) {
  if (r.code === 0) return r;
  const how = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
  throw new Error(`${what} failed (${how}): ${lastLines(r.stderr || r.stdout)}`);
}

/** The argv of a live process, or undefined. */
export function readCmdline(pid) {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!raw) return undefined;
    const args = raw.split('\0');
    if (raw.endsWith('\0')) args.pop();
    return args;
  } catch {
    return undefined;
  }
}

export function isAlive(pid) {
  if (!Number.isSafeInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Pids (other than ours) whose command line mentions `needle` anywhere. */
export function pidsMentioning(needle) {
  const pids = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const argv = readCmdline(pid);
    if (argv?.some((a) => a.includes(needle))) pids.push(pid);
  }
  return pids;
}

export async function waitGone(pids, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/**
 * Sends `first` (default SIGTERM) and waits up to graceMs; then SIGTERM (if first was gentler) and
 * SIGKILL, 3 s apart, to whatever is left. Only plain pids above 1.
 */
export async function stopPids(pids, graceMs = 3000, first = 'SIGTERM') {
  const live = pids.filter(isAlive);
  for (const pid of live) signal(pid, first);
  if (await waitGone(live, graceMs)) return;
  if (first !== 'SIGTERM' && first !== 'SIGKILL') {
    for (const pid of live.filter(isAlive)) signal(pid, 'SIGTERM');
    if (await waitGone(live, 3000)) return;
  }
  for (const pid of live.filter(isAlive)) signal(pid, 'SIGKILL');
  await waitGone(live, 3000);
}

function signal(pid, sig) {
  if (!Number.isSafeInteger(pid) || pid <= 1) return;
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** A TCP port on 127.0.0.1 that nothing listened on a moment ago. */
export function freePort() {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePromise(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------- temporary trees

/** Mount points at or under dir (deepest first), from our mount table. */
export function mountsUnder(dir) {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const points = text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter(Boolean)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(prefix));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/**
 * Removes a temporary tree. An interrupted mmdebstrap --mode=root can leave /dev, /proc and /sys of
 * the host bind-mounted inside its chroot; those are detached first, and the tree is left in place
 * (with a warning) if any mount remains, so removal never reaches into the host's filesystems.
 */
export function removeTree(dir) {
  if (!dir || !existsSync(dir)) return true;
  for (const m of mountsUnder(dir)) spawnSync('umount', ['-R', '-l', m], { stdio: 'ignore' });
  const left = mountsUnder(dir);
  if (left.length > 0) {
    process.stderr.write(`bench: not removing ${dir}: still mounted there: ${left.join(', ')}\n`);
    return false;
  }
  const r = spawnSync('rm', ['-rf', '--one-file-system', '--', dir], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.error) rmSync(dir, { recursive: true, force: true });
  else if (r.status !== 0) process.stderr.write(`bench: could not fully remove ${dir}: ${lastLines(r.stderr)}\n`);
  return !existsSync(dir);
}

