/**
 * share-vs-copy: a file-heavy job (extract a tarball of a 10k-file git checkout with 100 files edited after
 * its last commit, `git status`, sha256sum of every file) on the guest's own disk (/root/repo, where banger copies a
 * checkout) against the same job in a 9p shared folder of a host directory, in the same VM, timed inside
 * the guest. The figure is shared / local: what sharing the checkout instead of copying it costs.
 *
 * The VM is banger's QEMU argv started by hand (as vm-run's raw boots) plus a virtio-9p-pci device over a
 * `-fsdev local` of the host directory. The image's Debian cloud kernel has no 9p, so this one VM boots
 * Debian's generic kernel of the same release instead (imported with `banger kernel import --deb
 * linux-image-amd64`, which gives it banger's initramfs), and the bench copies that kernel's 9p modules
 * into the guest and loads them before mounting. Both sides of the ratio run in that same VM.
 * Nothing here gives banger's own VMs a share: the device exists only on this bench's command line.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, relative } from 'node:path';
import { ensureImage, IMAGE } from './image.mjs';
import { makeReference, timeRawBoot } from './vm.mjs';
import { check, fmtBytes, fmtDur, lastLines, median, MiB, removeTree, runAsync, say } from './util.mjs';

const FILES = 10_000;
/** Files edited after the checkout's commit: what `git status` must find. */
const CHANGED = 100;
const TOTAL_BYTES = 40 * MiB;
const ROUNDS = 1;
/** Debian's generic kernel (meta package): the cloud kernel the image boots has no 9p. */
const SHARE_KERNEL_DEB = 'linux-image-amd64';
const SHARE_KERNEL = 'bench-9p-generic';
/** The guest modules a 9p mount over virtio needs; their dependencies are added from modinfo. */
const SHARE_MODULES = ['9p', '9pnet_virtio'];
const TAG = 'hostshare';
/** Mount options as common 9p shared-folder setups use for a writable share (Lima's defaults). */
const MOUNT_OPTS = 'trans=virtio,version=9p2000.L,msize=131072,cache=mmap';
const FSDEV_OPTS = 'security_model=passthrough';
const GUEST_LOCAL = '/root/repo';
const GUEST_MOUNT = '/mnt/share';
const GUEST_SHARED = `${GUEST_MOUNT}/repo`;
const JOB_TIMEOUT_MS = 90 * 60 * 1000;

const PHASES = [
  { key: 'extract', label: 'tar -xf (10k files)' },
  { key: 'git', label: 'git status' },
  { key: 'hash', label: 'find -type f | xargs sha256sum' },
  { key: 'total', label: 'whole job' },
];

/**
 * The list of every file's sha256 (paths relative to the tree, .git left out, sorted bytewise), hashed
 * once more: the same text on the host and in the guest when both see the same files with the same bytes.
 */
const TREE_DIGEST = `find . -path ./.git -prune -o -type f -print0 | xargs -0 sha256sum | LC_ALL=C sort | sha256sum | cut -c1-64`;

/**
 * Runs in the guest as `sh /root/job.sh DIR`: the job in a fresh DIR after dropping the guest's caches;
 * prints one "phase ns [count]" line each, then the tree's digest (not timed).
 */
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
if g=$( { git -c gc.auto=0 status --porcelain | wc -l; } 2>&1 ); then gitok=1; else gitok=0; fi
t2=$(date +%s%N)
n=$(find . -path ./.git -prune -o -type f -print0 | xargs -0 sha256sum | wc -l)
t3=$(date +%s%N)
echo "extract $((t1 - t0))"
if [ $gitok = 1 ]; then echo "git $((t2 - t1)) $(echo "$g" | tail -n 1)"; else echo "gitfailed $((t2 - t1)) $(echo "$g" | tail -n 1)"; fi
echo "hash $((t3 - t2)) $n"
echo "total $((t3 - t0))"
echo "digest $(${TREE_DIGEST})"
`;

/**
 * Runs in the guest as `sh /root/mount.sh MODULE...`: loads the 9p modules (dependencies first; those the
 * initramfs already loaded, such as virtio_ring, are skipped) and mounts the share; says which step failed.
 */
const MOUNT_SH = `for m in "$@"; do
  name=$(basename "$m" | sed 's/\\.ko.*$//; s/-/_/g')
  [ -d "/sys/module/$name" ] && continue
  insmod "/root/9p/$m" || { echo "insmod $m failed (kernel $(uname -r)): $(dmesg | tail -n 2 | tr '\\n' ' ')" >&2; exit 3; }
done
mkdir -p ${GUEST_MOUNT}
mount -t 9p -o ${MOUNT_OPTS} ${TAG} ${GUEST_MOUNT} || { echo "mount -t 9p ${TAG} failed: $(dmesg | tail -n 3 | tr '\\n' ' ')" >&2; exit 4; }
grep " ${GUEST_MOUNT} " /proc/mounts
`;

/**
 * A git checkout as an uncompressed tarball: FILES files in 100 directories (half text, half random
 * bytes) committed and packed, then CHANGED of them edited, so the job's `git status` lists CHANGED.
 */
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
  const git = (...args) => ['git', '-C', dir, '-c', 'user.name=bench', '-c', 'user.email=bench@banger.invalid', '-c', 'init.defaultBranch=main', '-c', 'gc.auto=0', ...args];
  check(await runAsync(ctx, git('init', '-q')), 'git init of the generated tree');
  check(await runAsync(ctx, git('add', '-A')), 'git add of the generated tree');
  check(await runAsync(ctx, git('commit', '-q', '-m', 'generated tree')), 'git commit of the generated tree');
  check(await runAsync(ctx, git('gc', '-q')), 'git gc of the generated tree');
  for (let i = 0; i < CHANGED; i++) {
    const f = join(dir, `d${String(i % 100).padStart(2, '0')}`, `f${i}.txt`);
    writeFileSync(f, `edited after the commit: ${i}\n`, { flag: 'a' });
  }
  check(await runAsync(ctx, ['tar', '-C', dir, '-cf', tarball, '.']), 'tar -cf of the generated checkout');
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

/** Phase times, counts and the tree digest from the job's output; a git step that failed is kept as { failed: message } so the other phases still count. */
function parseJob(stdout) {
  const out = {};
  for (const line of stdout.split('\n')) {
    const m = /^(\w+) (\w+)(?: (.*))?$/.exec(line.trim());
    if (!m) continue;
    const [, key, value, rest] = m;
    if (key === 'digest') out.digest = value;
    else if (key === 'gitfailed') out.git = { ms: Number(value) / 1e6, failed: rest ?? 'git failed' };
    else if (PHASES.some((p) => p.key === key)) out[key] = { ms: Number(value) / 1e6, count: rest === undefined ? undefined : Number(rest) };
  }
  for (const p of PHASES) if (!(out[p.key]?.ms >= 0)) throw new Error(`the guest job printed no time for ${p.key}: ${lastLines(stdout)}`);
  if (!/^[0-9a-f]{64}$/.test(out.digest ?? '')) throw new Error(`the guest job printed no tree digest: ${lastLines(stdout)}`);
  if (out.hash.count !== FILES) throw new Error(`the guest job hashed ${out.hash.count} files, expected ${FILES}`);
  if (!out.git.failed && out.git.count !== CHANGED) throw new Error(`git status listed ${out.git.count} files, expected the ${CHANGED} edited after the commit`);
  return out;
}

/** Debian's generic kernel through banger's own kernel import (apt-get download + banger's initramfs). */
async function importShareKernel(ctx) {
  say(`importing ${SHARE_KERNEL_DEB} as kernel ${SHARE_KERNEL} (apt-get download; not timed)`);
  const r = check(await runAsync(ctx, ctx.banger('--json', 'kernel', 'import', SHARE_KERNEL, '--deb', SHARE_KERNEL_DEB)), `banger kernel import ${SHARE_KERNEL} --deb ${SHARE_KERNEL_DEB}`);
  const k = JSON.parse(r.stdout);
  if (!k.initrdPath || !k.modulesPath) throw new Error(`kernel ${SHARE_KERNEL} came without an initramfs or modules (${JSON.stringify(k)})`);
  return k;
}

/** The module files (relative to modulesDir) for SHARE_MODULES and their dependencies, dependencies first. */
async function moduleLoadOrder(ctx, modulesDir) {
  const files = new Map();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ko(\.xz|\.zst|\.gz)?$/.test(e.name)) files.set(e.name.replace(/\.ko.*$/, '').replace(/-/g, '_'), p);
    }
  };
  walk(modulesDir);
  const order = [];
  const seen = new Set();
  const visit = async (name) => {
    const n = name.replace(/-/g, '_');
    if (seen.has(n)) return;
    seen.add(n);
    const file = files.get(n);
    if (!file) throw new Error(`module ${n} is not in ${modulesDir} (built in, or not in this kernel?)`);
    const deps = check(await runAsync(ctx, ['modinfo', '-F', 'depends', file]), `modinfo ${file}`).stdout.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
    for (const d of deps) await visit(d);
    order.push(relative(modulesDir, file));
  };
  for (const m of SHARE_MODULES) await visit(m);
  return order;
}

/** The reference argv with the kernel and initramfs swapped for `kernel`'s. */
function withKernel(ref, kernel) {
  const argv = [...ref.argv];
  const k = argv.indexOf('-kernel');
  if (k < 0) throw new Error('the reference QEMU argv has no -kernel');
  argv[k + 1] = kernel.kernelPath;
  const i = argv.indexOf('-initrd');
  if (i >= 0) argv[i + 1] = kernel.initrdPath;
  else argv.splice(k + 2, 0, '-initrd', kernel.initrdPath);
  return { ...ref, argv };
}

/** On the host: the number of files under dir (.git left out), the tree digest, and what `git status` lists there. */
async function hostView(ctx, dir) {
  if (!existsSync(dir)) return { files: 0, digest: '', git: 'missing' };
  const digest = check(await runAsync(ctx, ['sh', '-c', `cd "$1" && ${TREE_DIGEST}`, 'sh', dir]), 'the tree digest on the host').stdout.trim();
  const st = await runAsync(ctx, ['git', '-C', dir, 'status', '--porcelain']);
  const git = st.code === 0 ? String(st.stdout.split('\n').filter(Boolean).length) : `git status failed: ${lastLines(st.stderr)}`;
  return { files: countFiles(dir), digest, git };
}

export async function benchShareVsCopy(ctx) {
  ctx.startDaemon();
  const image = await ensureImage(ctx);
  const work = join(ctx.home, 'share9p');
  const share = join(work, 'share');
  const tree = join(work, 'tree');
  const tarball = join(work, 'job.tar');
  const jobSh = join(work, 'job.sh');
  const mountSh = join(work, 'mount.sh');
  const modulesTar = join(work, '9p-modules.tar');
  mkdirSync(share, { recursive: true, mode: 0o700 });
  say(`generating a ${FILES}-file, ${fmtBytes(TOTAL_BYTES)} git checkout with ${CHANGED} edited files as a tarball (not timed)`);
  await makeTarball(ctx, tree, tarball);
  removeTree(tree);
  writeFileSync(jobSh, JOB_SH);
  writeFileSync(mountSh, MOUNT_SH);

  const results = { local: [], shared: [] };
  let host;
  let mountLine = '';
  let kernel;
  let guestKernel = '';
  try {
    kernel = await importShareKernel(ctx);
    const modules = await moduleLoadOrder(ctx, kernel.modulesPath);
    check(await runAsync(ctx, ['tar', '-C', kernel.modulesPath, '-cf', modulesTar, ...modules]), 'tar of the 9p modules');
    const ref = withKernel(await makeReference(ctx, image), kernel);
    const extraArgs = ['-fsdev', `local,id=share0,path=${share},${FSDEV_OPTS}`, '-device', `virtio-9p-pci,fsdev=share0,mount_tag=${TAG}`];
    say(`booting banger's QEMU argv with kernel ${kernel.kernelVersion} + virtio-9p-pci of ${share} (not timed)`);
    const boot = await timeRawBoot(ctx, ref, '9p', {
      extraArgs,
      afterSsh: async (ssh) => {
        const guest = async (cmd, what) => check(await runAsync(ctx, [...ssh, cmd], { timeoutMs: JOB_TIMEOUT_MS }), what);
        say('copying the tarball, the job and the 9p modules into the guest (not timed)');
        await sshWithInput(ctx, ssh, 'cat > /root/job.tar', tarball);
        await sshWithInput(ctx, ssh, 'cat > /root/job.sh', jobSh);
        await sshWithInput(ctx, ssh, 'cat > /root/mount.sh', mountSh);
        await sshWithInput(ctx, ssh, 'mkdir -p /root/9p && tar -C /root/9p -xf -', modulesTar);
        guestKernel = (await guest('uname -r', 'uname -r')).stdout.trim();
        const m = await runAsync(ctx, [...ssh, `sh /root/mount.sh ${modules.join(' ')}`], { timeoutMs: 120_000 });
        if (m.code !== 0) throw new Error(`9p is not usable in the guest: ${lastLines(m.stderr || m.stdout)}`);
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
        await guest(`umount ${GUEST_MOUNT}`, 'umount of the share');
      },
    });
    say(`boot to ssh took ${fmtDur(boot.ms)}`);
    host = await hostView(ctx, join(share, 'repo'));
  } finally {
    await runAsync(ctx, ctx.banger('vm', 'delete', 'rawref'));
    ctx.vmNames.delete('rawref');
    removeTree(join(ctx.home, 'rawref'));
    if (kernel) await runAsync(ctx, ctx.banger('kernel', 'rm', SHARE_KERNEL));
    removeTree(work);
  }

  const digests = new Set([...results.local, ...results.shared].map((j) => j.digest));
  const [localDigest] = [...digests];
  const sameTree = digests.size === 1 && host.digest === localDigest;
  const hostGitOk = host.git === String(CHANGED);
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
  const count = (side) => results[side].map((j) => `${j.hash.count} hashed, git ${j.git.failed ? 'failed' : j.git.count}`).join(' / ');
  rows.push({
    cells: [
      'same files on both sides',
      count('local'),
      count('shared'),
      sameTree && hostGitOk ? 'yes' : 'NO',
      `tree digests ${sameTree ? `all ${localDigest.slice(0, 12)}` : `differ: guest ${[...digests].map((d) => d.slice(0, 12)).join(', ')}, host ${host.digest.slice(0, 12) || 'none'}`}; ` +
        `host sees ${host.files} files in the share, its git status lists ${host.git}`,
    ],
    ok: sameTree && hostGitOk && host.files === FILES,
  });
  return {
    title:
      `share vs copy: a ${FILES}-file, ${fmtBytes(TOTAL_BYTES)} git checkout job in the guest (${IMAGE} on Debian's generic kernel ${guestKernel || kernel?.kernelVersion || '?'}, ` +
      `banger's QEMU argv by hand + virtio-9p-pci, -fsdev local ${FSDEV_OPTS}, mount ${MOUNT_OPTS}; ` +
      `${ROUNDS} round(s), local first, timed in the guest after dropping its caches; reference: ${GUEST_LOCAL} on the VM's own disk; ` +
      `shared: ${GUEST_SHARED}${mountLine ? ` (${mountLine.split(' ').slice(0, 3).join(' ')})` : ''}; no target)`,
    header: ['phase', `local ${GUEST_LOCAL}`, '9p share', 'shared / local', 'each round'],
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
