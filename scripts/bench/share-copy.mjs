/**
 * share-vs-copy: a file-heavy job (extract a 10k-file tarball, `git init && git add -A && git status`,
 * sha256sum of every extracted file) on the guest's own disk (/root/repo, where banger copies a
 * checkout) against the same job in a virtiofs mount of a host directory, in the same VM, timed inside
 * the guest. The VM is banger's QEMU argv started by hand (as vm-run's raw boots) plus a vhost-user-fs
 * device served by QEMU's virtiofsd; banger's guest RAM is already a shared memory backend, which
 * virtiofs needs. The figure is shared / local: what sharing the checkout instead of copying it costs.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ensureImage, IMAGE } from './image.mjs';
import { makeReference, timeRawBoot } from './vm.mjs';
import { check, fmtBytes, fmtDur, isAlive, lastLines, median, MiB, removeTree, runAsync, say, sleep, stopPids } from './util.mjs';

const FILES = 10_000;
const TOTAL_BYTES = 40 * MiB;
const ROUNDS = 1;
const VIRTIOFSD = '/usr/lib/qemu/virtiofsd';
const TAG = 'hostshare';
const GUEST_LOCAL = '/root/repo';
const GUEST_MOUNT = '/mnt/share';
const GUEST_SHARED = `${GUEST_MOUNT}/repo`;
const JOB_TIMEOUT_MS = 30 * 60 * 1000;

const PHASES = [
  { key: 'extract', label: 'tar -xf (10k files)' },
  { key: 'git', label: 'git init + add -A + status' },
  { key: 'hash', label: 'find -type f | xargs sha256sum' },
  { key: 'total', label: 'whole job' },
];

/** Runs in the guest as `sh /root/job.sh DIR`: the job in a fresh DIR after dropping the guest's caches; prints one "phase ns" line each. */
const JOB_SH = `set -e
d=$1
rm -rf "$d"
mkdir -p "$d"
cd "$d"
sync
echo 3 > /proc/sys/vm/drop_caches
t0=$(date +%s%N)
tar -xf /root/job.tar
t1=$(date +%s%N)
if g=$( { git -c init.defaultBranch=main init -q . && git add -A && git status --porcelain | wc -l; } 2>&1 ); then gitok=1; else gitok=0; fi
t2=$(date +%s%N)
n=$(find . -path ./.git -prune -o -type f -print0 | xargs -0 sha256sum | wc -l)
t3=$(date +%s%N)
echo "extract $((t1 - t0))"
if [ $gitok = 1 ]; then echo "git $((t2 - t1)) $(echo "$g" | tail -n 1)"; else echo "gitfailed $((t2 - t1)) $(echo "$g" | tail -n 1)"; fi
echo "hash $((t3 - t2)) $n"
echo "total $((t3 - t0))"
`;

/** Runs in the guest before the job: loads virtiofs and mounts the host's share; says which step failed. */
const MOUNT_SH = `modprobe virtiofs || { echo "modprobe virtiofs failed (kernel $(uname -r))" >&2; exit 3; }
mkdir -p ${GUEST_MOUNT}
mount -t virtiofs ${TAG} ${GUEST_MOUNT} || { echo "mount -t virtiofs ${TAG} failed: $(dmesg | tail -n 3 | tr '\\n' ' ')" >&2; exit 4; }
grep " ${GUEST_MOUNT} " /proc/mounts
`;

/** FILES files in 100 directories, half text and half random bytes, as an uncompressed tarball. */
async function makeTarball(ctx, dir, tarball) {
  mkdirSync(dir, { recursive: true });
  const per = Math.floor(TOTAL_BYTES / FILES);
  const words = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike '.repeat(Math.ceil(per / 80));
  for (let i = 0; i < FILES; i++) {
    const d = join(dir, `d${String(i % 100).padStart(2, '0')}`);
    if (i < 100) mkdirSync(d, { recursive: true });
    const half = Math.floor(per / 2);
    writeFileSync(join(d, `f${i}.txt`), Buffer.concat([Buffer.from(`${i} ${words.slice(0, half)}`), randomBytes(per - half)]));
  }
  check(await runAsync(ctx, ['tar', '-C', dir, '-cf', tarball, '.']), 'tar -cf of the generated tree');
}

/** `ssh ... REMOTE < file`, tracked for cleanup. */
function sshWithInput(ctx, ssh, remote, file) {
  return new Promise((resolve, reject) => {
    const fd = openSync(file, 'r');
    const child = spawn(ssh[0], [...ssh.slice(1), remote], { env: ctx.env, stdio: [fd, 'ignore', 'pipe'] });
    closeSync(fd);
    ctx.children.add(child);
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c) => (err += c));
    child.on('error', (e) => {
      ctx.children.delete(child);
      reject(e);
    });
    child.on('close', (code) => {
      ctx.children.delete(child);
      if (code === 0) resolve();
      else reject(new Error(`ssh ${remote} exited ${code}: ${lastLines(err)}`));
    });
  });
}

/** Phase times from the job's output; a git step that failed is kept as { failed: message } so the other phases still count. */
function parseJob(stdout) {
  const out = {};
  for (const line of stdout.split('\n')) {
    const m = /^(\w+) (\d+)(?: (.*))?$/.exec(line.trim());
    if (!m) continue;
    const [, key, ns, rest] = m;
    if (key === 'gitfailed') out.git = { ms: Number(ns) / 1e6, failed: rest ?? 'git failed' };
    else if (PHASES.some((p) => p.key === key)) out[key] = { ms: Number(ns) / 1e6, count: rest === undefined ? undefined : Number(rest) };
  }
  for (const p of PHASES) if (!(out[p.key]?.ms >= 0)) throw new Error(`the guest job printed no time for ${p.key}: ${lastLines(stdout)}`);
  if (out.hash.count !== FILES) throw new Error(`the guest job hashed ${out.hash.count} files, expected ${FILES}`);
  if (!out.git.failed && out.git.count !== FILES) throw new Error(`git status listed ${out.git.count} files, expected ${FILES}`);
  return out;
}

/** Starts virtiofsd on `socket` sharing `source`; resolves once the socket exists, or throws with what virtiofsd said. */
async function startVirtiofsd(ctx, socket, source) {
  if (!existsSync(VIRTIOFSD)) throw new Error(`${VIRTIOFSD} not found (QEMU's virtiofsd; Debian package qemu-system-common), so there is nothing to serve the share`);
  let child;
  let stderr = '';
  let exited;
  const done = runAsync(ctx, [VIRTIOFSD, `--socket-path=${socket}`, '-o', `source=${source}`, '-o', 'cache=auto'], {
    onChild: (c) => (child = c),
    onStderrLine: (l) => (stderr += `${l}\n`),
  }).then((r) => (exited = r));
  const deadline = Date.now() + 15_000;
  while (!existsSync(socket)) {
    if (exited) throw new Error(`virtiofsd exited (${exited.code ?? exited.signal}) before listening: ${lastLines(exited.stderr || stderr)}`);
    if (Date.now() > deadline) throw new Error(`virtiofsd did not create ${socket} within 15 s: ${lastLines(stderr)}`);
    await sleep(50);
  }
  return {
    pid: child.pid,
    stderr: () => stderr,
    exited: () => exited,
    stop: async () => {
      if (child.pid && isAlive(child.pid)) await stopPids([child.pid], 3000);
      await done;
    },
  };
}

export async function benchShareVsCopy(ctx) {
  ctx.startDaemon();
  const image = await ensureImage(ctx);
  const work = join(ctx.home, 'vfs');
  const share = join(work, 'share');
  const tree = join(work, 'tree');
  const tarball = join(work, 'job.tar');
  const jobSh = join(work, 'job.sh');
  const mountSh = join(work, 'mount.sh');
  const socket = join(work, 'vfs.sock');
  mkdirSync(share, { recursive: true, mode: 0o700 });
  say(`generating a ${FILES}-file, ${fmtBytes(TOTAL_BYTES)} tarball (not timed)`);
  await makeTarball(ctx, tree, tarball);
  removeTree(tree);
  writeFileSync(jobSh, JOB_SH);
  writeFileSync(mountSh, MOUNT_SH);

  let vfsd;
  const results = { local: [], shared: [] };
  let hostCount;
  let mountLine = '';
  try {
    const ref = await makeReference(ctx, image);
    say(`starting virtiofsd on ${socket} for ${share}`);
    vfsd = await startVirtiofsd(ctx, socket, share);
    const extraArgs = ['-chardev', `socket,id=vfs,path=${socket}`, '-device', `vhost-user-fs-pci,chardev=vfs,tag=${TAG}`];
    say('booting banger\'s QEMU argv + vhost-user-fs-pci (not timed)');
    let boot;
    try {
      boot = await timeRawBoot(ctx, ref, 'vfs', {
        extraArgs,
        afterSsh: async (ssh) => {
          const guest = async (cmd, what) => check(await runAsync(ctx, [...ssh, cmd], { timeoutMs: JOB_TIMEOUT_MS }), what);
          say('copying the tarball and the job into the guest (not timed)');
          await sshWithInput(ctx, ssh, 'cat > /root/job.tar', tarball);
          await sshWithInput(ctx, ssh, 'cat > /root/job.sh', jobSh);
          await sshWithInput(ctx, ssh, 'cat > /root/mount.sh', mountSh);
          const m = await runAsync(ctx, [...ssh, 'sh /root/mount.sh'], { timeoutMs: 120_000 });
          if (m.code !== 0) throw new Error(`virtiofs is not usable in the guest: ${lastLines(m.stderr || m.stdout)}`);
          mountLine = m.stdout.trim();
          for (let round = 1; round <= ROUNDS; round++) {
            for (const [side, dir] of [['local', GUEST_LOCAL], ['shared', GUEST_SHARED]]) {
              say(`round ${round}/${ROUNDS}: the job in ${dir}`);
              const r = await guest(`sh /root/job.sh ${dir}`, `the job in ${dir}`);
              const job = parseJob(r.stdout);
              results[side].push(job);
              say(`  ${PHASES.map((p) => `${p.key} ${fmtDur(job[p.key].ms)}${job[p.key].failed ? ` (failed: ${job[p.key].failed})` : ''}`).join(', ')}`);
            }
          }
          hostCount = countFiles(join(share, 'repo'));
        },
      });
    } catch (err) {
      const ex = vfsd.exited();
      if (ex) throw new Error(`${err instanceof Error ? err.message : String(err)}; virtiofsd exited (${ex.code ?? ex.signal}): ${lastLines(ex.stderr)}`);
      throw err;
    }
    say(`boot to ssh took ${fmtDur(boot.ms)}`);
  } finally {
    await vfsd?.stop();
    await runAsync(ctx, ctx.banger('vm', 'delete', 'rawref'));
    ctx.vmNames.delete('rawref');
    removeTree(join(ctx.home, 'rawref'));
    removeTree(work);
  }
  if (hostCount !== FILES) throw new Error(`the host's shared directory has ${hostCount} files after the job, expected ${FILES}`);

  const med = (side, key) => median(results[side].map((j) => j[key].ms));
  const failures = (side, key) => [...new Set(results[side].map((j) => j[key].failed).filter(Boolean))];
  const gitFailed = results.local.some((j) => j.git.failed) || results.shared.some((j) => j.git.failed);
  const rows = PHASES.map((p) => {
    const local = med('local', p.key);
    const shared = med('shared', p.key);
    const runs = (side) => results[side].map((j) => `${fmtDur(j[p.key].ms)}${j[p.key].failed ? ' (failed)' : ''}`).join(' / ');
    const failed = [...failures('local', p.key).map((f) => `local: ${f}`), ...failures('shared', p.key).map((f) => `shared: ${f}`)];
    const note = `local ${runs('local')}; shared ${runs('shared')}`;
    if (p.key === 'total' && gitFailed) return { cells: [p.label, fmtDur(local), fmtDur(shared), 'ERROR', `${note}; git failed, so no whole-job ratio`], ok: false };
    if (failed.length) return { cells: [p.label, fmtDur(local), fmtDur(shared), 'ERROR', `${note}; FAILED ${failed.join('; ')}`], ok: false };
    return { cells: [p.label, fmtDur(local), fmtDur(shared), `${(shared / local).toFixed(2)}x`, note], ok: true };
  });
  if (gitFailed) {
    const part = (side) => median(results[side].map((j) => j.extract.ms + j.hash.ms));
    rows.push({
      cells: ['tar -xf + sha256sum (without git)', fmtDur(part('local')), fmtDur(part('shared')), `${(part('shared') / part('local')).toFixed(2)}x`, 'the phases that ran on both sides'],
      ok: true,
    });
  }
  return {
    title:
      `share vs copy: a ${FILES}-file, ${fmtBytes(TOTAL_BYTES)} job in the guest (${IMAGE}; banger's QEMU argv by hand + virtiofsd cache=auto; ` +
      `${ROUNDS} round(s), local first, timed in the guest after dropping its caches; reference: ${GUEST_LOCAL} on the VM's own disk; ` +
      `shared: ${GUEST_SHARED}, virtiofs tag ${TAG}${mountLine ? ` (${mountLine.split(' ').slice(0, 3).join(' ')})` : ''}; no target)`,
    header: ['phase', `local ${GUEST_LOCAL}`, 'virtiofs share', 'shared / local', 'each round'],
    rows,
  };
}

function countFiles(dir) {
  let n = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === '.git' && d === dir) continue;
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.isFile()) n++;
    }
  };
  if (existsSync(dir)) walk(dir);
  return n;
}
