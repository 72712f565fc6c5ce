/**
 * Warm starts: a VM restored from a snapshot until its SSH answers, against a cold boot of the same
 * image and shape until its SSH answers, in the same run (interleaved), as a ratio. Each runs once per
 * acceleration in --accel (accel in config.toml); the tables name the acceleration the VMs ran with,
 * read from the daemon's boot and restore stages.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { IMAGE, ensureImage } from './image.mjs';
import { check, fmtDur, fmtSecs, hostCpu, median, passMiss, runAsync, say } from './util.mjs';

const TARGET_RATIO = 0.1;
const SNAPSHOT = 'bench-warm';

/** The acceleration a boot or restore stage label names ("booting qemu (kvm)"), in progress output or events. */
const ACCEL_LABEL = /(?:booting|restoring saved state with) \S+ \((kvm|tcg)\)/;

function accelsIn(text) {
  return [...new Set([...text.matchAll(new RegExp(ACCEL_LABEL, 'g'))].map((m) => m[1]))];
}

/** `banger vm create ARGS` (ready when SSH answers), timed, with its stage times and acceleration from the progress events. */
async function timeCreate(ctx, args, what) {
  const stages = [];
  let accel = '?';
  const r = await runAsync(ctx, ctx.banger('--json', 'vm', 'create', ...args), {
    onStderrLine: (line) => {
      try {
        const ev = JSON.parse(line);
        if (ev.type === 'stage_done') stages.push(`${ev.stage} ${fmtDur(Number(ev.elapsedMs))}`);
        if (ev.type === 'stage') accel = ACCEL_LABEL.exec(ev.label)?.[1] ?? accel;
      } catch {
        /* not an event */
      }
    },
  });
  check(r, what);
  let pid;
  try {
    pid = JSON.parse(r.stdout).pid;
  } catch {
    /* no VM record on stdout: no CPU figure */
  }
  return { ms: r.ms, stages: [accel, ...stages], accel, pid, cpu: pid === undefined ? undefined : (await cpuReader(ctx))(pid) };
}

/** The CPU time (seconds) a live process has used so far: the build's own reader (system/proc.ts). */
async function cpuReader(ctx) {
  return (await import(pathToFileURL(join(ctx.dist, 'system', 'proc.js')).href)).cpuSeconds;
}

const fmtCpu = (s) => (s === undefined ? '?' : `${s.toFixed(1)} s`);

/** Runs one bench per acceleration in --accel and joins their tables; the daemon ends on the default again. */
async function perAccel(ctx, one) {
  const accels = ctx.opts.accels ?? ['auto'];
  const parts = [];
  try {
    for (const accel of accels) {
      if (accels.length > 1 || accel !== 'auto') say(`accel = "${accel}"`);
      if (accels.length > 1 || accel !== 'auto') ctx.setAccel(accel);
      parts.push({ accel, ...(await one(ctx, accel)) });
    }
  } finally {
    if (accels.some((a) => a !== 'auto')) ctx.setAccel('auto');
  }
  const tag = (p) => (accels.length > 1 || p.accel !== 'auto' ? `[accel ${p.accel}, ran ${p.used}] ` : `[ran ${p.used}] `);
  return {
    title: parts[0].title,
    header: parts[0].header,
    rows: parts.flatMap((p) => p.rows.map((r) => ({ ...r, cells: [tag(p) + r.cells[0], ...r.cells.slice(1)] }))),
  };
}

export function benchWarmRestore(ctx) {
  return perAccel(ctx, warmRestoreOnce);
}

export function benchWarmPool(ctx) {
  return perAccel(ctx, warmPoolOnce);
}

async function warmRestoreOnce(ctx) {
  ctx.startDaemon();
  await ensureImage(ctx);
  const runs = ctx.opts.vmRuns;
  const used = new Set();
  const rows = [];
  const cold = [];
  const warm = [];
  const made = [];
  try {
    say('cold boot of the snapshot source (timed as cold run 0, not in the median)');
    ctx.vmNames.add('wsrc');
    const src = await timeCreate(ctx, ['--name', 'wsrc'], 'banger vm create --name wsrc');
    used.add(src.accel);
    rows.push({ cells: ['cold boot of the source', fmtSecs(src.ms), '', '', src.stages.join(', ')], ok: true });
    say(`banger vm snapshot create wsrc --name ${SNAPSHOT} --stop`);
    const snap = check(await runAsync(ctx, ctx.banger('vm', 'snapshot', 'create', 'wsrc', '--name', SNAPSHOT, '--stop')), 'banger vm snapshot create');
    rows.push({ cells: ['snapshot create --stop', fmtSecs(snap.ms), '', '', 'pause, save memory, freeze disks, hash'], ok: true });
    for (let i = 1; i <= runs; i++) {
      say(`run ${i}/${runs}: cold boot to ssh`);
      const name = `wcold${i}`;
      ctx.vmNames.add(name);
      const c = await timeCreate(ctx, ['--name', name], `banger vm create --name ${name}`);
      cold.push(c.ms);
      used.add(c.accel);
      rows.push({ cells: [`cold boot, run ${i}`, fmtSecs(c.ms), '', '', c.stages.join(', ')], ok: true });
      check(await runAsync(ctx, ctx.banger('vm', 'delete', name)), `banger vm delete ${name}`);
      ctx.vmNames.delete(name);
      say(`run ${i}/${runs}: restore to ssh`);
      const wname = `wwarm${i}`;
      ctx.vmNames.add(wname);
      made.push(wname);
      const w = await timeCreate(ctx, ['--name', wname, '--from', SNAPSHOT], `banger vm create --from ${SNAPSHOT}`);
      warm.push(w.ms);
      used.add(w.accel);
      rows.push({ cells: [`restore, run ${i}`, fmtSecs(w.ms), '', '', w.stages.join(', ')], ok: true });
    }
  } finally {
    if (made.length) await runAsync(ctx, ctx.banger('vm', 'delete', ...made));
    for (const n of made) ctx.vmNames.delete(n);
    await runAsync(ctx, ctx.banger('vm', 'snapshot', 'delete', SNAPSHOT));
    await runAsync(ctx, ctx.banger('vm', 'delete', 'wsrc'));
    ctx.vmNames.delete('wsrc');
  }
  const coldMed = median(cold);
  const warmMed = median(warm);
  const ratio = warmMed / coldMed;
  const ok = ratio <= TARGET_RATIO;
  rows.push({ cells: ['cold boot to ssh (median)', fmtSecs(coldMed), '', '', ''], ok: true });
  rows.push({ cells: ['restore to ssh (median)', fmtSecs(warmMed), `<= ${TARGET_RATIO}x cold`, passMiss(ok), `${ratio.toFixed(2)}x cold`], ok });
  return {
    title: `restore from a snapshot to ssh vs cold boot to ssh (${IMAGE}, default shape; ${runs} run(s) each, interleaved; both through banger vm create; the note starts with the acceleration)`,
    header: ['measure', 'wall', 'target', 'result', 'note'],
    rows,
    used: [...used].join('+'),
  };
}

const POOL_TARGET_RATIO = 0.15;

/**
 * The warm pool: `vm run --rm -- true` restored from the pool's template against `vm run --rm --cold
 * -- true` (a cold boot of the same image and shape), interleaved in the same run, as a ratio. Runs in
 * its own home (warm_pool = true; the bench's main home has the pool off); the first run boots cold and
 * the template build that follows is waited for, untimed.
 */
async function warmPoolOnce(ctx, accel) {
  ctx.startDaemon();
  const img = await ensureImage(ctx);
  const home = join(ctx.home, accel === 'auto' ? 'pool' : `pool-${accel}`);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = { ...ctx.env, BANGER_HOME: home };
  writeFileSync(join(home, 'config.toml'), `warm_pool = true\ndefault_image_name = "pooled"\nssh_wait_timeout = "20m"\ndns_listen_addr = ""\n${accel === 'auto' ? '' : `accel = "${accel}"\n`}`);
  const used = new Set();
  const note = (r) => {
    const a = accelsIn(r.stderr);
    for (const x of a) used.add(x);
    return a.join('+') || '?';
  };
  const run = (args) => runAsync(ctx, ctx.banger(...args), { env });
  const files = ['--rootfs', img.rootfsPath, '--kernel', img.kernelPath, ...(img.initrdPath ? ['--initrd', img.initrdPath] : [])];
  const runs = ctx.opts.vmRuns;
  const rows = [];
  const pooled = [];
  const cold = [];
  try {
    check(await run(['image', 'register', '--name', 'pooled', ...files]), 'banger image register pooled');
    say('first vm run: a cold boot, after which the pool builds its template (not timed)');
    const first = check(await run(['vm', 'run', '--rm', '--', 'true']), 'banger vm run --rm -- true');
    rows.push({ cells: ['first run (cold, starts the template build)', fmtSecs(first.ms), '', '', note(first)], ok: true });
    const t0 = Date.now();
    for (;;) {
      const list = JSON.parse(check(await run(['--json', 'vm', 'pool']), 'banger vm pool').stdout);
      if (list.some((t) => t.status === 'ready')) break;
      if (Date.now() - t0 > 30 * 60_000) throw new Error('the warm pool template was not ready within 30 minutes');
      await new Promise((r) => setTimeout(r, 2000));
    }
    rows.push({ cells: ['template build (background)', fmtSecs(Date.now() - t0), '', '', 'boot, save, remove the build VM'], ok: true });
    for (let i = 1; i <= runs; i++) {
      say(`run ${i}/${runs}: vm run --rm -- true from the pool`);
      const w = check(await run(['vm', 'run', '--rm', '--', 'true']), 'banger vm run --rm -- true');
      if (!/restored from warm pool/.test(w.stderr)) throw new Error(`run ${i} was not restored from the pool:\n${w.stderr}`);
      pooled.push(w.ms);
      rows.push({ cells: [`pool, run ${i}`, fmtSecs(w.ms), '', '', note(w)], ok: true });
      say(`run ${i}/${runs}: vm run --rm --cold -- true`);
      const c = check(await run(['vm', 'run', '--rm', '--cold', '--', 'true']), 'banger vm run --rm --cold -- true');
      cold.push(c.ms);
      rows.push({ cells: [`cold, run ${i}`, fmtSecs(c.ms), '', '', note(c)], ok: true });
    }
  } finally {
    await run(['vm', 'pool', '--clear']);
    await run(['daemon', 'stop']);
  }
  const ratio = median(pooled) / median(cold);
  const ok = ratio <= POOL_TARGET_RATIO;
  rows.push({ cells: ['vm run --rm --cold -- true (median)', fmtSecs(median(cold)), '', '', ''], ok: true });
  rows.push({ cells: ['vm run --rm -- true, warm pool (median)', fmtSecs(median(pooled)), `<= ${POOL_TARGET_RATIO}x cold`, passMiss(ok), `${ratio.toFixed(2)}x cold`], ok });
  return {
    title: `vm run --rm -- true restored from the warm pool vs --cold (${IMAGE} registered as "pooled", default shape; ${runs} run(s) each, interleaved; the note is the acceleration)`,
    header: ['measure', 'wall', 'target', 'result', 'note'],
    rows,
    used: [...used].join('+') || '?',
  };
}

const FORK_CHILDREN = 4;

/** The fork's own stages (snapshot, verify) and its slowest child's stages, from the progress events. */
function forkStages(stderr) {
  const own = [];
  const perChild = new Map();
  for (const line of stderr.split('\n')) {
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      continue;
    }
    if (ev.type !== 'stage_done') continue;
    const at = ev.stage.indexOf(':');
    if (at < 0) own.push(`${ev.stage} ${fmtDur(Number(ev.elapsedMs))}`);
    else perChild.set(ev.stage.slice(0, at), [...(perChild.get(ev.stage.slice(0, at)) ?? []), [ev.stage.slice(at + 1), Number(ev.elapsedMs)]]);
  }
  const total = (list) => list.reduce((n, [, ms]) => n + ms, 0);
  const slowest = [...perChild.entries()].sort((a, b) => total(b[1]) - total(a[1]))[0];
  return `${own.join(', ')}${slowest ? `; slowest child ${slowest[0]}: ${slowest[1].map(([id, ms]) => `${id} ${fmtDur(ms)}`).join(', ')}` : ''}`;
}
const FORK_TARGET_RATIO = 2;

export function benchWarmFork(ctx) {
  return perAccel(ctx, warmForkOnce);
}

/**
 * `vm fork SRC -n 4` (snapshot of the running source, then four children restored concurrently, each
 * until its SSH answers) against one `vm create --from` of a snapshot of the same source, in the same
 * run, as a ratio; the fork's own snapshot is in its wall time. --vm-runs rounds, interleaved.
 */
async function warmForkOnce(ctx) {
  ctx.startDaemon();
  await ensureImage(ctx);
  const runs = ctx.opts.vmRuns;
  const used = new Set();
  const rows = [];
  const one = [];
  const oneCpu = [];
  const oneHost = [];
  const oneCli = [];
  const forks = [];
  const snap = 'bench-fork-one';
  const cpuSeconds = await cpuReader(ctx);
  const cores = availableParallelism();
  try {
    say('cold boot of the fork source (not timed in the ratio)');
    ctx.vmNames.add('wfsrc');
    const src = await timeCreate(ctx, ['--name', 'wfsrc'], 'banger vm create --name wfsrc');
    used.add(src.accel);
    rows.push({ cells: ['cold boot of the source', fmtSecs(src.ms), '', '', src.stages.join(', ')], ok: true });
    check(await runAsync(ctx, ctx.banger('vm', 'snapshot', 'create', 'wfsrc', '--name', snap)), 'banger vm snapshot create wfsrc');
    for (let i = 1; i <= runs; i++) {
      say(`run ${i}/${runs}: one restore to ssh`);
      const name = `wfone${i}`;
      ctx.vmNames.add(name);
      const h0 = hostCpu();
      const idle0 = cpuSeconds(src.pid);
      const w = await timeCreate(ctx, ['--name', name, '--from', snap], `banger vm create --from ${snap}`);
      const h1 = hostCpu();
      const idle1 = cpuSeconds(src.pid);
      one.push(w.ms);
      if (w.cpu !== undefined) oneCpu.push(w.cpu);
      // What one restore makes the host do (its VM, the daemon, ssh, the kernel), apart from the CLI that
      // asked for it and the idle source VM, which runs beside the fork too.
      oneCli.push(h1.children - h0.children);
      oneHost.push(h1.busy - h0.busy - (h1.children - h0.children) - (idle0 === undefined || idle1 === undefined ? 0 : idle1 - idle0));
      used.add(w.accel);
      rows.push({ cells: [`one restore, run ${i}`, fmtSecs(w.ms), '', '', `its VM's CPU ${fmtCpu(w.cpu)}, the host's ${fmtCpu(oneHost.at(-1))} besides the CLI's ${fmtCpu(oneCli.at(-1))}; ${w.stages.join(', ')}`], ok: true });
      check(await runAsync(ctx, ctx.banger('vm', 'delete', name)), `banger vm delete ${name}`);
      ctx.vmNames.delete(name);
      say(`run ${i}/${runs}: vm fork wfsrc -n ${FORK_CHILDREN}`);
      const prefix = `wf${i}`;
      const kids = Array.from({ length: FORK_CHILDREN }, (_, k) => `${prefix}-${k + 1}`);
      for (const k of kids) ctx.vmNames.add(k);
      const parentBefore = cpuSeconds(src.pid);
      const f0 = hostCpu();
      const f = check(await runAsync(ctx, ctx.banger('--json', 'vm', 'fork', 'wfsrc', '-n', String(FORK_CHILDREN), '--name-prefix', prefix)), 'banger vm fork');
      const f1 = hostCpu();
      const parentAfter = cpuSeconds(src.pid);
      const result = JSON.parse(f.stdout);
      forks.push(f.ms);
      for (const a of accelsIn(f.stderr)) used.add(a);
      const kidsCpu = result.children.map((c) => cpuSeconds(c.pid));
      const parentCpu = parentBefore === undefined || parentAfter === undefined ? undefined : parentAfter - parentBefore;
      const busy = f1.busy - f0.busy;
      const cpu = `children's VMs' CPU ${kidsCpu.map(fmtCpu).join(' + ')}, the parent's ${fmtCpu(parentCpu)}; the host's ${fmtCpu(busy)} of ${fmtCpu((cores * f.ms) / 1000)} (${Math.round((100 * busy * 1000) / (cores * f.ms))}% busy)`;
      rows.push({ cells: [`fork of ${FORK_CHILDREN}, run ${i}`, fmtSecs(f.ms), '', '', `${result.children.length} children; ${cpu}; ${forkStages(f.stderr)}`], ok: true });
      check(await runAsync(ctx, ctx.banger('vm', 'delete', ...kids)), 'banger vm delete (fork children)');
      for (const k of kids) ctx.vmNames.delete(k);
      // Deleted at once: the background hash of its memory would otherwise take a core from the next run.
      check(await runAsync(ctx, ctx.banger('vm', 'snapshot', 'delete', result.snapshot)), 'banger vm snapshot delete (fork)');
    }
  } finally {
    await runAsync(ctx, ctx.banger('vm', 'snapshot', 'delete', snap));
    await runAsync(ctx, ctx.banger('vm', 'delete', 'wfsrc'));
    ctx.vmNames.delete('wfsrc');
  }
  const ratio = median(forks) / median(one);
  const ok = ratio <= FORK_TARGET_RATIO;
  rows.push({ cells: ['one restore to ssh (median)', fmtSecs(median(one)), '', '', ''], ok: true });
  rows.push({ cells: [`fork of ${FORK_CHILDREN} to ssh (median)`, fmtSecs(median(forks)), `<= ${FORK_TARGET_RATIO}x one restore`, passMiss(ok), `${ratio.toFixed(2)}x one restore`], ok });
  // No fork can beat the host CPU its children need spread over the host's cores: the ratio's floor on
  // this host, a lower bound (the fork's own snapshot and the parent's new key come on top).
  const floor = ((FORK_CHILDREN * median(oneHost) + median(oneCli)) * 1000) / cores;
  const floorRatio = floor / median(one);
  const vmOnly = oneCpu.length > 0 ? `; from the VMs' CPU alone ${((FORK_CHILDREN * median(oneCpu) * 1000) / cores / median(one)).toFixed(2)}x` : '';
  rows.push({
    cells: [`CPU floor: (${FORK_CHILDREN} x one restore's host CPU + the CLI's) / ${cores} cores`, fmtSecs(floor), '', '', `${floorRatio.toFixed(2)}x one restore${vmOnly}; one restore kept ${((median(oneHost) + median(oneCli)) * 1000 / median(one)).toFixed(1)} of ${cores} cores busy${floorRatio > FORK_TARGET_RATIO ? `: the ${FORK_TARGET_RATIO}x target is below this host's floor` : ''}`],
    ok: true,
  });
  return {
    title: `vm fork -n ${FORK_CHILDREN} (its snapshot included) vs one restore from a snapshot, both to ssh (${IMAGE}, default shape; ${runs} run(s) each, interleaved)`,
    header: ['measure', 'wall', 'target', 'result', 'note'],
    rows,
    used: [...used].join('+') || '?',
  };
}
