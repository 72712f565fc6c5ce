/**
 * Benches that boot VMs: `banger vm run --rm -- true` against QEMU started by hand with banger's own
 * command line, and the daemon's memory with three VMs running.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureImage, IMAGE } from './image.mjs';
import {
  check,
  fmtDur,
  fmtSecs,
  freePort,
  isAlive,
  lastLines,
  median,
  passMiss,
  readCmdline,
  readStatusKb,
  removeTree,
  runAsync,
  say,
  sleep,
  stopPids,
} from './util.mjs';

const TARGET_RATIO = 1.1;
const SSH_DEADLINE_MS = 10 * 60 * 1000;
/** systemd's console line for sshd; the raw boot's first ssh waits for it, at most SSHD_GATE_MS. */
const SSHD_STARTED = /Started .*ssh\.service|Started .*OpenBSD Secure Shell/;
const SSHD_GATE_MS = 120_000;

async function bangerJson(ctx, args, what) {
  const r = check(await runAsync(ctx, ctx.banger('--json', ...args)), what ?? `banger ${args.join(' ')}`);
  return JSON.parse(r.stdout);
}

/** `banger vm run --rm -- true`, timed; stage times from the NDJSON progress on stderr. */
async function timeBangerRun(ctx) {
  const stages = [];
  const r = await runAsync(ctx, ctx.banger('--json', 'vm', 'run', '--rm', '--', 'true'), {
    onStderrLine: (line) => {
      try {
        const ev = JSON.parse(line);
        if (ev.type === 'stage_done') stages.push(`${ev.stage} ${fmtDur(Number(ev.elapsedMs))}`);
      } catch {
        /* not an event */
      }
    },
  });
  check(r, 'banger vm run --rm -- true');
  return { ms: r.ms, stages };
}

/**
 * A reference VM made by banger, for its disks and QEMU command line: created without starting, its
 * fresh work disk copied aside, then started once (which writes the seed disk and pins the host key)
 * so the exact argv can be read from /proc, and killed.
 */
export async function makeReference(ctx, image) {
  const name = 'rawref';
  const created = await bangerJson(ctx, ['vm', 'create', '--name', name, '--no-start']);
  ctx.vmNames.add(name);
  const vmDir = join(ctx.home, 'state', 'vms', created.id);
  if (!existsSync(join(vmDir, 'work.ext4'))) throw new Error(`no work disk at ${vmDir}/work.ext4; the VM layout changed?`);
  const refDir = join(ctx.home, 'rawref');
  mkdirSync(refDir, { recursive: true, mode: 0o700 });
  const pristineWork = join(refDir, 'work.ext4');
  check(await runAsync(ctx, ['cp', '--sparse=always', join(vmDir, 'work.ext4'), pristineWork]), 'copy of the work disk');

  say('booting the reference VM once through banger (not timed)');
  check(await runAsync(ctx, ctx.banger('vm', 'start', name)), `banger vm start ${name}`);
  const info = await bangerJson(ctx, ['vm', 'show', name]);
  if (!info.pid) throw new Error(`vm ${name} has no pid after start (state ${info.state})`);
  const argv = readCmdline(info.pid);
  if (!argv || !argv.some((a) => a.includes(vmDir))) throw new Error(`pid ${info.pid} does not look like the QEMU of ${name}`);
  const seed = join(refDir, 'seed.ext4');
  copyFileSync(join(vmDir, 'seed.ext4'), seed);
  await runAsync(ctx, ctx.banger('vm', 'kill', name));
  return { id: created.id, vmDir, argv, pristineWork, seed, rootfs: image.rootfsPath };
}

/**
 * Boots QEMU with the reference argv on fresh disks and a fresh port; time until `ssh ... true` succeeds.
 * opts.append adds words to the kernel command line; opts.extraArgs are added to QEMU's argv; opts.afterSsh(sshArgv)
 * runs while the VM is still up (sshArgv: the ssh command without its remote command) and its result is
 * returned as `after`.
 */
export async function timeRawBoot(ctx, ref, n, opts = {}) {
  const dir = join(ctx.home, `raw${n}`);
  mkdirSync(join(dir, 'run'), { recursive: true, mode: 0o700 });
  check(
    await runAsync(ctx, ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', ref.rootfs, join(dir, 'root.qcow2')]),
    'qemu-img create',
  );
  check(await runAsync(ctx, ['cp', '--sparse=always', ref.pristineWork, join(dir, 'work.ext4')]), 'copy of the work disk');
  copyFileSync(ref.seed, join(dir, 'seed.ext4'));
  const port = await freePort();
  let forwarded = false;
  const argv = ref.argv.map((a, i) => {
    let v = a.replaceAll(`${ref.vmDir}/`, `${dir}/`);
    if (opts.append && ref.argv[i - 1] === '-append') v = `${v} ${opts.append}`;
    if (/hostfwd=tcp:/.test(v)) {
      forwarded = true;
      v = v.replace(/hostfwd=tcp:([^:]*):\d+-:22/, `hostfwd=tcp:127.0.0.1:${port}-:22`);
    }
    return v === `banger-${ref.id}` ? `bench-raw${n}` : v;
  });
  if (!forwarded) throw new Error('the reference QEMU argv has no hostfwd for ssh');
  if (opts.extraArgs) argv.push(...opts.extraArgs);
  const pidFile = join(dir, 'run', 'vmm.pid');
  if (!argv.includes(pidFile)) throw new Error('the reference QEMU argv has no pidfile under the VM directory');
  const ssh = [
    'ssh', '-F', '/dev/null',
    '-i', join(ctx.home, 'state', 'ssh', 'id_ed25519'),
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${join(ctx.home, 'state', 'ssh', 'known_hosts')}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', `HostKeyAlias=banger-${ref.id}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=5',
    '-o', 'LogLevel=ERROR',
    '-p', String(port), '-T', 'root@127.0.0.1',
  ];
  if (opts.append && !argv.some((a, i) => argv[i - 1] === '-append' && a.endsWith(opts.append))) throw new Error('the reference QEMU argv has no -append to add to');

  const t0 = process.hrtime.bigint();
  // With -daemonize QEMU returns once the VM runs; without it, it stays in the foreground until the VM
  // stops, so the boot is followed from its pidfile while it runs.
  let launched;
  const running = runAsync(ctx, argv).then((r) => (launched = r));
  if (argv.includes('-daemonize')) await running;
  const readPid = () => {
    try {
      return Number(readFileSync(pidFile, 'utf8').trim()) || undefined;
    } catch {
      return undefined;
    }
  };
  let pid = readPid();
  while (!pid && !launched && !ctx.aborted && Number(process.hrtime.bigint() - t0) / 1e6 < 60_000) {
    await sleep(50);
    pid = readPid();
  }
  if (pid) ctx.rawQemuPids.add(pid);
  try {
    if (launched) check(launched, 'qemu (raw boot)');
    if (!pid) throw new Error('qemu wrote no pidfile');
    const stop = () => {
      if (ctx.aborted) return 'interrupted';
      if (!isAlive(pid)) {
        const tail = existsSync(join(dir, 'console.log')) ? lastLines(readFileSync(join(dir, 'console.log'), 'utf8'), 8) : '';
        return `raw QEMU exited before ssh answered; console: ${tail}`;
      }
      if (Number(process.hrtime.bigint() - t0) / 1e6 > SSH_DEADLINE_MS) return `ssh did not answer within ${SSH_DEADLINE_MS / 1000}s`;
      return undefined;
    };
    // The first ssh goes out when the console shows sshd started (or after SSHD_GATE_MS without that
    // line), then one at a time until one succeeds. Earlier probes could only delay the first success:
    // QEMU's user networking keeps each connection made before the guest is up pending and hands them
    // all to sshd once it listens, and under TCG sshd takes seconds to get through a pile of them.
    const consoleLog = join(dir, 'console.log');
    const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e6;
    let sshdAt;
    while (sshdAt === undefined && elapsed() < SSHD_GATE_MS) {
      const why = stop();
      if (why) throw new Error(why);
      if (existsSync(consoleLog) && SSHD_STARTED.test(readFileSync(consoleLog, 'utf8'))) sshdAt = elapsed();
      else await sleep(100);
    }
    let attempts = 0;
    for (;;) {
      const why = stop();
      if (why) throw new Error(why);
      attempts++;
      if ((await runAsync(ctx, [...ssh, 'true'], { timeoutMs: 60_000 })).code === 0) break;
      await sleep(200);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const after = opts.afterSsh ? await opts.afterSsh(ssh) : undefined;
    return { ms, sshdAt, attempts, after };
  } finally {
    if (pid) {
      await stopPids([pid], 0);
      ctx.rawQemuPids.delete(pid);
    }
    removeTree(dir);
  }
}

export async function benchVmRun(ctx) {
  ctx.startDaemon();
  const image = await ensureImage(ctx);
  const runs = ctx.opts.vmRuns;
  const raw = [];
  const banger = [];
  const rows = [];
  try {
    const ref = await makeReference(ctx, image);
    // Interleaved, so slow drift in the host's load hits both sides alike.
    for (let i = 1; i <= runs; i++) {
      say(`run ${i}/${runs}: raw QEMU boot to first ssh`);
      const r = await timeRawBoot(ctx, ref, i);
      raw.push(r.ms);
      rows.push({ cells: [`raw QEMU + ssh, run ${i}`, fmtSecs(r.ms), '', '', `console showed sshd started at ${r.sshdAt === undefined ? '? (not seen)' : fmtSecs(r.sshdAt)}; ${r.attempts} ssh attempt(s) from then`], ok: true });
      say(`run ${i}/${runs}: banger vm run --rm -- true`);
      const b = await timeBangerRun(ctx);
      banger.push(b.ms);
      rows.push({ cells: [`banger vm run, run ${i}`, fmtSecs(b.ms), '', '', b.stages.join(', ')], ok: true });
    }
  } finally {
    await runAsync(ctx, ctx.banger('vm', 'delete', 'rawref'));
    ctx.vmNames.delete('rawref');
    removeTree(join(ctx.home, 'rawref'));
  }
  const rawMed = median(raw);
  const bangerMed = median(banger);
  const ratio = bangerMed / rawMed;
  const ok = ratio <= TARGET_RATIO;
  rows.push({ cells: ['raw QEMU (median)', fmtSecs(rawMed), '', '', ''], ok: true });
  rows.push({ cells: ['banger vm run (median)', fmtSecs(bangerMed), `<= ${TARGET_RATIO.toFixed(2)}x raw`, passMiss(ok), `${ratio.toFixed(2)}x raw`], ok });
  return {
    title: `vm run to first command (${IMAGE}; ${runs} run(s) each, interleaved; raw = banger's QEMU argv on fresh disks, timed from launch to the first ssh that succeeds)`,
    header: ['measure', 'wall', 'target', 'result', 'note'],
    rows,
  };
}

export async function benchDaemonRss3Vms(ctx) {
  ctx.startDaemon();
  await ensureImage(ctx);
  const TARGET_MB = 100;
  const names = ['b1', 'b2', 'b3'];
  const rows = [];
  let rssKb;
  let hwmKb;
  let pid;
  let spec = '';
  try {
    for (const name of names) {
      say(`banger vm run -d --name ${name}`);
      ctx.vmNames.add(name);
      const r = check(await runAsync(ctx, ctx.banger('vm', 'run', '-d', '--name', name)), `banger vm run -d --name ${name}`);
      rows.push({ cells: [`start ${name}`, fmtSecs(r.ms), '', '', 'vm run -d, until ssh answers'], ok: true });
    }
    const status = await bangerJson(ctx, ['daemon', 'status']);
    pid = status.pid;
    if (!pid) throw new Error('banger daemon status gave no pid');
    await sleep(ctx.opts.idleSeconds * 1000);
    rssKb = readStatusKb(pid, 'VmRSS');
    hwmKb = readStatusKb(pid, 'VmHWM');
    if (rssKb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
    const ours = (await bangerJson(ctx, ['vm', 'list'])).filter((v) => names.includes(v.name));
    const running = ours.filter((v) => v.state === 'running').length;
    if (running !== names.length) throw new Error(`only ${running} of ${names.length} VMs are running`);
    const s = ours[0].spec;
    spec = s ? `${s.vcpu} vcpu, ${s.memoryMiB} MiB each` : '';
  } finally {
    say(`deleting ${names.join(', ')}`);
    const del = await runAsync(ctx, ctx.banger('vm', 'delete', ...names));
    if (del.code === 0) for (const n of names) ctx.vmNames.delete(n);
  }
  const mb = rssKb / 1024;
  const ok = mb <= TARGET_MB;
  rows.push({ cells: ['daemon VmRSS', `${mb.toFixed(1)} MB`, `<= ${TARGET_MB} MB`, passMiss(ok), `pid ${pid}, after ${ctx.opts.idleSeconds}s`], ok });
  rows.push({ cells: ['daemon VmHWM', hwmKb === undefined ? '-' : `${(hwmKb / 1024).toFixed(1)} MB`, '', '', 'peak so far in this bench run'], ok: true });
  return {
    title: `daemon memory with 3 VMs running (${IMAGE}; default size${spec ? `: ${spec}` : ''}; read ${ctx.opts.idleSeconds}s after the third was ready)`,
    header: ['measure', 'value', 'target', 'result', 'note'],
    rows,
  };
}
