/**
 * Warm starts end to end through the built CLI with real QEMU (TCG here): one cold boot of the shared
 * debian-bookworm image with a workspace, then a fork into two children restored from its snapshot,
 * each on its own guest branch. The checks share
 * those three VMs: state survives the restore, each child has its own identity (hostname, pinned host
 * key usable by plain ssh, entropy, .vm name), disks are private, the children's guest RAM is the
 * snapshot's RAM image shared between them (written pages private), and the parent keeps running. Then
 * pause/resume on a child (and a child left paused by a daemon killed mid-snapshot), restores refused for
 * a corrupted memory file and a missing disk, and suspend/start on the parent. The warm pool is off for those (no build
 * competes with them); the last checks turn it on (daemon restarted, VMs kept): a first `vm run` boots
 * cold and starts a template build, the second restores from it, then the template is made stale (the
 * image's kernel file changes) and is not used, and --clear removes it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ForkResult, PoolTemplateInfo, SnapshotInfo, VMInfo } from '../api/types.js';
import { withQmp } from '../drivers/qemu/qmp.js';
import { FAULT_ENV } from '../system/faults.js';
import { runUnchecked } from '../system/exec.js';
import { banger, e2eSkipReason, processesUnder, killLeftovers } from '../testing/cli-process.js';
import { sharedImage, sharedImageSkipReason } from '../testing/shared-image.js';
import { makeWorkspaceRepo } from '../testing/workspace-repo.js';

const skip = e2eSkipReason() ?? sharedImageSkipReason();

describe('warm starts end to end', { skip, timeout: 120 * 60_000 }, () => {
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  let sleeper = '';
  let bootId = '';
  let fork: ForkResult | undefined;

  const sh = async (vm: string, script: string): Promise<string> => {
    const r = await banger(['vm', 'exec', vm, '--', 'sh', '-c', script], env, 600_000);
    assert.equal(r.code, 0, `${vm}: ${script}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const plainSsh = async (vm: string, cmd: string): Promise<string> => {
    const r = await runUnchecked(['ssh', '-F', join(home, 'ssh_config'), `${vm}.vm`, cmd], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `plain ssh ${vm}.vm: ${r.stderr}`);
    return r.stdout.trim();
  };

  const config = (pool: boolean) => `ssh_wait_timeout = "20m"\ndefault_image_name = "deb"\nwarm_pool = ${pool}\n[vm_defaults]\nvcpu = 1\nmemory_mib = 512\ndisk_size = "1G"\n`;

  before(async () => {
    const img = await sharedImage();
    home = mkdtempSync('/tmp/bw-');
    env = { BANGER_HOME: home };
    writeFileSync(join(home, 'config.toml'), config(false));
    // A kernel of this home's own, so the stale-template check can change it without touching the shared image.
    copyFileSync(img.kernelPath, join(home, 'vmlinuz'));
    const reg = await banger(['image', 'register', '--name', 'deb', '--rootfs', img.rootfsPath, '--kernel', join(home, 'vmlinuz'), '--initrd', img.initrdPath], env);
    assert.equal(reg.code, 0, reg.stderr);
    const boot = await banger(['vm', 'create', '--name', 'parent', '--image', 'deb'], env, 40 * 60_000);
    assert.equal(boot.code, 0, boot.stderr);
  });
  after(async () => {
    if (!home) return;
    await banger(['daemon', 'stop'], env, 60_000);
    killLeftovers(home);
    rmSync(home, { recursive: true, force: true });
  });

  it('refuses a restore of an unknown snapshot', async () => {
    const r = await banger(['vm', 'create', '--from', 'nope'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /snapshot "nope" not found/);
  });

  it('fork: two children restored from a snapshot of a running parent, which keeps running', async () => {
    await sh('parent', 'echo before-snapshot > /root/note.txt; sync');
    sleeper = await sh('parent', 'setsid sleep 100000 </dev/null >/dev/null 2>&1 & echo $!');
    bootId = await sh('parent', 'cat /proc/sys/kernel/random/boot_id');
    const repo = join(home, 'repo');
    await makeWorkspaceRepo(repo);
    const prep = await banger(['vm', 'workspace', 'prepare', 'parent', repo, '--no-bootstrap'], env, 600_000);
    assert.equal(prep.code, 0, prep.stderr);
    const r = await banger(['--json', 'vm', 'fork', 'parent', '-n', '2', '--name-prefix', 'kid', '--branch', 'kid-b{n}'], env, 40 * 60_000);
    assert.equal(r.code, 0, r.stderr);
    fork = JSON.parse(r.stdout) as ForkResult;
    for (const kid of ['kid-1', 'kid-2']) assert.match(r.stderr, new RegExp(`${kid}: giving the restored VM its own hostname, host key, entropy and clock over the guest channel`), `${kid} took its identity over the guest channel`);
    assert.doesNotMatch(r.stderr, /did not take its identity/);
    // The parent moves off the key its snapshot holds without a login (no session, no user manager to start).
    assert.match(r.stderr, /giving parent a new host key over the guest channel/);
    assert.doesNotMatch(r.stderr, /could not give parent a new host key/);
    // Its children showed that this sshd serves a key written under it: no login to show it again
    // (plain ssh to the parent below checks the key it serves against the pinned one).
    assert.doesNotMatch(r.stderr, /checking that parent serves its new host key|restarting it/);
    assert.deepEqual(fork.children.map((c) => [c.name, c.state, c.dnsName, c.workspace?.branch]), [['kid-1', 'running', 'kid-1.vm', 'kid-b1'], ['kid-2', 'running', 'kid-2.vm', 'kid-b2']]);
    const parent = JSON.parse((await banger(['--json', 'vm', 'show', 'parent'], env)).stdout) as VMInfo;
    assert.equal(parent.state, 'running');
    assert.equal(await sh('parent', 'cat /proc/sys/kernel/random/boot_id'), bootId, 'the parent was not rebooted');
    assert.equal(await sh('parent', `kill -0 ${sleeper} && echo alive`), 'alive');
    const snaps = JSON.parse((await banger(['--json', 'vm', 'snapshot', 'list'], env)).stdout) as SnapshotInfo[];
    assert.equal(snaps.length, 1);
    assert.deepEqual([...snaps[0]!.usedBy].sort(), ['kid-1', 'kid-2']);
    // The fork published its snapshot before hashing its memory; the hash runs on in the background.
    assert.ok(snaps[0]!.checksum === 'pending' || snaps[0]!.checksum === 'recorded', `checksum ${snaps[0]!.checksum}`);
  });

  it('each child has the parent\'s workspace on its own branch; vm diff and workspace export show that child\'s work only', async () => {
    assert.ok(fork, 'fork ran');
    for (const n of [1, 2]) assert.equal(await sh(`kid-${n}`, 'git -C /root/repo rev-parse --abbrev-ref HEAD'), `kid-b${n}`);
    assert.equal(await sh('parent', 'git -C /root/repo rev-parse --abbrev-ref HEAD'), 'main', 'the parent stays on its branch');
    await sh('kid-1', 'echo by-kid-1 > /root/repo/kid1.txt');
    const diff = await banger(['vm', 'diff', 'kid-1'], env, 120_000);
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /kid1\.txt/);
    const other = await banger(['vm', 'workspace', 'export', 'kid-2'], env, 120_000);
    assert.equal(other.code, 0, other.stderr);
    assert.doesNotMatch(other.stdout, /kid1\.txt/, 'kid-2 does not see what kid-1 did');
  });

  it('a file written and a process started before the snapshot are there in each child', async () => {
    assert.ok(fork, 'fork ran');
    for (const kid of ['kid-1', 'kid-2']) {
      assert.equal(await sh(kid, 'cat /root/note.txt'), 'before-snapshot');
      assert.equal(await sh(kid, `kill -0 ${sleeper} && echo alive`), 'alive', `${kid} still runs the process started before the snapshot`);
    }
  });

  it('each child has its own hostname, pinned host key (plain ssh works), entropy and .vm name', async (t) => {
    assert.ok(fork, 'fork ran');
    const keys = new Set<string>();
    const random = new Set<string>();
    for (const vm of ['parent', 'kid-1', 'kid-2']) {
      assert.equal(await plainSsh(vm, 'hostname'), vm, `plain ssh ${vm}.vm reaches ${vm} and checks its pinned key`);
      keys.add(await sh(vm, 'cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub'));
      random.add(await sh(vm, 'head -c 32 /dev/urandom | od -An -tx1 | tr -d " \\n"'));
    }
    assert.equal(keys.size, 3, 'no two VMs share a host key');
    assert.equal(random.size, 3, 'no two VMs read the same random bytes');
    // The kernel reseeds on the vmgenid change only when it has the driver; Debian's cloud kernel is
    // built without CONFIG_VMGENID, and then the host-written entropy above is what makes them differ.
    const vmgenid = await sh('kid-1', 'ls -d /sys/bus/*/drivers/vmgenid >/dev/null 2>&1 && echo 1 || echo 0');
    if (Number(vmgenid) === 0) {
      t.diagnostic('the guest kernel has no vmgenid driver: the kernel-side reseed is not checked');
      return;
    }
    for (const kid of ['kid-1', 'kid-2']) {
      const dmesg = await sh(kid, 'dmesg | grep -c "crng reseeded due to virtual machine fork" || true');
      assert.ok(Number(dmesg) >= 1, `${kid}'s kernel reseeded from the vmgenid change`);
    }
  });

  it('a write in one child is seen neither in the other nor in the parent', async () => {
    assert.ok(fork, 'fork ran');
    await sh('kid-1', 'echo only-kid-1 > /root/mine.txt; echo only-kid-1 > /etc/mine.txt; sync');
    for (const vm of ['kid-2', 'parent']) {
      assert.equal(await sh(vm, 'cat /root/mine.txt /etc/mine.txt 2>/dev/null || echo absent'), 'absent');
    }
  });

  it('the guest channel waits on its port while the daemon holds it (parent and children), polls while no daemon runs, and waits again once a new daemon adopts the VMs', async () => {
    assert.ok(fork, 'fork ran');
    // Where the channel's loop sleeps, sampled: port_fops_read while a host client is connected (the read
    // blocks), the select of its 50 ms poll while none is.
    const waits = `p=$(pgrep -x banger-serial-c); for i in 1 2 3 4 5 6; do cat /proc/$p/wchan; echo; sleep 0.2; done | sort -u | tr '\\n' ' '`;
    for (const vm of ['parent', 'kid-1', 'kid-2']) assert.equal(await plainSsh(vm, waits), 'port_fops_read', `${vm}'s channel loop waits on its port`);
    assert.equal((await banger(['daemon', 'stop'], env, 120_000)).code, 0);
    assert.notEqual(await plainSsh('kid-1', waits), 'port_fops_read', 'with no daemon the loop polls');
    const list = await banger(['vm', 'list'], env, 120_000);
    assert.equal(list.code, 0, list.stderr);
    for (const vm of ['parent', 'kid-1']) assert.equal(await plainSsh(vm, waits), 'port_fops_read', `the new daemon holds ${vm}'s channel`);
  });

  /** Kilobytes per smaps field, summed over the process's mappings of `file`; undefined when it maps none. */
  const mappingOf = (pid: number, file: string): Record<string, number> | undefined => {
    let sum: Record<string, number> | undefined;
    let inside = false;
    for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
      const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (head) {
        inside = head[1] === file;
        if (inside) sum ??= {};
        continue;
      }
      const field = /^(\w+):\s+(\d+) kB/.exec(line);
      if (inside && sum && field) sum[field[1]!] = (sum[field[1]!] ?? 0) + Number(field[2]);
    }
    return sum;
  };
  const qemuPid = async (vm: string): Promise<number> => {
    const info = JSON.parse((await banger(['--json', 'vm', 'show', vm], env)).stdout) as VMInfo;
    return (JSON.parse(readFileSync(join(home, 'state', 'vms', info.id, 'handles.json'), 'utf8')) as { pid: number }).pid;
  };

  it('the children\'s guest RAM is the snapshot\'s RAM image mapped privately: most of what each QEMU holds of it is shared; guest memory written in one is not in the other', async (t) => {
    assert.ok(fork, 'fork ran');
    const snap = JSON.parse((await banger(['--json', 'vm', 'snapshot', 'show', fork.snapshot], env)).stdout) as SnapshotInfo;
    const image = join(snap.dir, 'memory.ram');
    assert.ok(statSync(image).isFile(), 'the snapshot keeps the RAM as an image of its own');
    for (const kid of ['kid-1', 'kid-2']) {
      const ram = mappingOf(await qemuPid(kid), image);
      assert.ok(ram, `${kid}'s QEMU maps ${image}`);
      const rss = ram.Rss ?? 0;
      const priv = (ram.Private_Clean ?? 0) + (ram.Private_Dirty ?? 0);
      t.diagnostic(`${kid} guest RAM: Rss ${rss} kB, Pss ${ram.Pss} kB, shared ${(ram.Shared_Clean ?? 0) + (ram.Shared_Dirty ?? 0)} kB, private ${priv} kB (written since the restore ${ram.Anonymous} kB)`);
      assert.ok(rss > 32 * 1024, `${kid} holds ${rss} kB of guest RAM`);
      assert.ok(priv < 0.5 * rss, `${kid}: ${priv} kB of its ${rss} kB of guest RAM are private: the pages are not shared`);
    }
    await sh('kid-1', 'echo only-in-kid-1-memory > /dev/shm/mine');
    assert.equal(await sh('kid-1', 'cat /dev/shm/mine'), 'only-in-kid-1-memory');
    for (const vm of ['kid-2', 'parent']) assert.equal(await sh(vm, 'cat /dev/shm/mine 2>/dev/null || echo absent'), 'absent', `${vm} does not see kid-1's memory`);
  });

  it('pause stops a VM without ending it; resume continues it', async () => {
    assert.ok(fork, 'fork ran');
    const p = await banger(['--json', 'vm', 'pause', 'kid-2'], env);
    assert.equal(p.code, 0, p.stderr);
    assert.equal((JSON.parse(p.stdout) as VMInfo).state, 'paused');
    const r = await banger(['vm', 'resume', 'kid-2'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sh('kid-2', `kill -0 ${sleeper} && cat /root/note.txt`), 'before-snapshot');
  });

  /** What a refused restore must leave as it was: VMs, VM and snapshot directories, the snapshot's users, QEMU processes. */
  const footprint = async () => {
    const vms = (JSON.parse((await banger(['--json', 'vm', 'list'], env)).stdout) as VMInfo[]).map((v) => `${v.name} ${v.state}`).sort();
    const snaps = (JSON.parse((await banger(['--json', 'vm', 'snapshot', 'list'], env)).stdout) as SnapshotInfo[]).map((x) => `${x.name} ${[...x.usedBy].sort().join(',')}`);
    const dirs = (d: string) => readdirSync(join(home, 'state', d)).sort();
    return { vms, snaps, vmDirs: dirs('vms'), snapshotDirs: dirs('snapshots'), qemu: processesUnder(home).length };
  };

  it('a daemon killed while a snapshot holds a VM paused: the next daemon lets it run; vm resume continues a guest paused behind banger\'s back; a failed snapshot --stop resumes it', async () => {
    assert.ok(fork, 'fork ran');
    const kid = JSON.parse((await banger(['--json', 'vm', 'show', 'kid-2'], env)).stdout) as VMInfo;
    const sock = (JSON.parse(readFileSync(join(home, 'state', 'vms', kid.id, 'handles.json'), 'utf8')) as { controlSocket: string }).controlSocket;
    const guestRunning = async () => (await withQmp(sock, (q) => q.queryStatus({ timeoutMs: 5000 }), { timeoutMs: 5000 })).running;
    const before = await footprint();
    assert.equal((await banger(['daemon', 'stop'], env, 120_000)).code, 0);
    // The command starts a daemon of its own, with the fault set: it dies right after pausing kid-2.
    const cut = await banger(['vm', 'snapshot', 'create', 'kid-2', '--name', 'cut'], { ...env, [FAULT_ENV]: 'snapshot.paused:crash' }, 600_000);
    assert.notEqual(cut.code, 0, `the snapshot finished although the daemon was to die:\n${cut.stdout}`);
    assert.equal(await guestRunning(), false, 'the daemon died with kid-2 paused');
    const after = await footprint();
    assert.deepEqual(after, before, 'the next daemon kept every VM and removed the unpublished snapshot');
    assert.equal(await guestRunning(), true, 'the next daemon let kid-2 run again');
    assert.equal(await sh('kid-2', 'cat /root/note.txt'), 'before-snapshot');

    await withQmp(sock, (q) => q.execute('stop', undefined, { timeoutMs: 5000 }), { timeoutMs: 5000 });
    assert.equal(await guestRunning(), false);
    const r = await banger(['--json', 'vm', 'resume', 'kid-2'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as VMInfo).state, 'running');
    assert.equal(await guestRunning(), true, 'vm resume continued a guest the store had as running');
    assert.equal(await sh('kid-2', 'cat /root/note.txt'), 'before-snapshot');

    // A snapshot --stop that fails after saving the memory lets the VM run on, and keeps nothing.
    assert.equal((await banger(['daemon', 'stop'], env, 120_000)).code, 0);
    const failed = await banger(['vm', 'snapshot', 'create', 'kid-2', '--stop', '--name', 'cut'], { ...env, [FAULT_ENV]: 'snapshot.saved:error' }, 600_000);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /fault injected at snapshot\.saved/);
    assert.equal(await guestRunning(), true, 'the failed snapshot --stop let kid-2 run again');
    assert.equal((await banger(['daemon', 'stop'], env, 120_000)).code, 0, 'the daemon with the fault set stops');
    assert.deepEqual(await footprint(), before);
    assert.equal(await sh('kid-2', 'cat /root/note.txt'), 'before-snapshot');
  });

  it('a restore refuses a snapshot whose memory file fails its sha256 or whose disk is missing, naming the file, and leaves nothing behind', async () => {
    assert.ok(fork, 'fork ran');
    const snap = JSON.parse((await banger(['--json', 'vm', 'snapshot', 'show', fork.snapshot], env)).stdout) as SnapshotInfo;
    assert.equal(snap.checksum, 'recorded', 'the background hash of the fork snapshot recorded its sums (before the daemon restarts above)');
    const before = await footprint();

    const memory = join(snap.dir, 'memory.bin');
    const at = Math.floor(statSync(memory).size / 2);
    const saved = Buffer.alloc(64);
    const fd = openSync(memory, 'r+');
    try {
      readSync(fd, saved, 0, saved.length, at);
      writeSync(fd, Buffer.from(saved.map((b) => b ^ 0xff)), 0, saved.length, at);
      const r = await banger(['vm', 'create', '--from', fork.snapshot, '--name', 'bad-memory'], env, 600_000);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`snapshot ${fork.snapshot}: memory file memory\\.bin fails its sha256 check`));
      assert.match(r.stderr, new RegExp(`banger vm snapshot delete ${fork.snapshot}`), 'the hint says how to get rid of it');
      assert.deepEqual(await footprint(), before, 'a refused restore leaves nothing behind');
    } finally {
      writeSync(fd, saved, 0, saved.length, at);
      closeSync(fd);
    }

    const work = join(snap.dir, 'work.ext4');
    renameSync(work, `${work}.away`);
    try {
      const r = await banger(['vm', 'run', '--from', fork.snapshot, '--rm', '--name', 'bad-disk', '--', 'true'], env, 600_000);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`snapshot ${fork.snapshot} is incomplete: missing work\\.ext4`));
      assert.deepEqual(await footprint(), before, 'a refused restore leaves nothing behind');
    } finally {
      renameSync(`${work}.away`, work);
    }
  });

  it('a snapshot in use cannot be deleted; it can once its children are gone', async () => {
    assert.ok(fork, 'fork ran');
    const refused = await banger(['vm', 'snapshot', 'delete', fork.snapshot], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /in use by vms kid-1, kid-2/);
    for (const kid of ['kid-1', 'kid-2']) assert.equal((await banger(['vm', 'delete', kid], env, 120_000)).code, 0);
    const ok = await banger(['vm', 'snapshot', 'delete', fork.snapshot], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await sh('parent', 'cat /root/note.txt'), 'before-snapshot');
  });

  it('suspend ends the process and keeps memory on disk; start continues where it was', async () => {
    const s1 = await banger(['vm', 'suspend', 'parent'], env, 300_000);
    assert.equal(s1.code, 0, s1.stderr);
    const show = JSON.parse((await banger(['--json', 'vm', 'show', 'parent'], env)).stdout) as VMInfo;
    assert.equal(show.state, 'suspended');
    assert.deepEqual(processesUnder(join(home, 'state', 'vms', show.id)), [], 'no VM process while suspended');
    const st = await banger(['vm', 'start', 'parent'], env, 300_000);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(await sh('parent', 'cat /proc/sys/kernel/random/boot_id'), bootId, 'not rebooted');
    assert.equal(await sh('parent', `kill -0 ${sleeper} && echo alive`), 'alive', 'the process started before the suspend runs again');
    const skew = Math.abs(Number(await sh('parent', 'date +%s')) - Date.now() / 1000);
    assert.ok(skew < 30, `guest clock corrected after start (skew ${skew}s)`);
  });

  const pool = async (): Promise<PoolTemplateInfo[]> => {
    const r = await banger(['--json', 'vm', 'pool'], env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as PoolTemplateInfo[];
  };

  it('warm pool: the first vm run boots cold and builds a template of a finished boot; the second restores from it with its own identity and a grown disk', async () => {
    writeFileSync(join(home, 'config.toml'), config(true));
    assert.equal((await banger(['daemon', 'stop'], env, 120_000)).code, 0, 'the daemon restarts with warm_pool = true (VMs keep running)');
    const first = await banger(['vm', 'run', '--rm', '--', 'true'], env, 40 * 60_000);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /cold boot \(no warm pool template for this image and shape yet/);
    const deadline = Date.now() + 40 * 60_000;
    let list = await pool();
    while (!list.some((t) => t.status === 'ready') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5000));
      list = await pool();
    }
    assert.deepEqual(list.map((t) => [t.imageName, t.vcpu, t.memoryMiB, t.status]), [['deb', 1, 512, 'ready']]);
    const vms = JSON.parse((await banger(['--json', 'vm', 'list'], env)).stdout) as VMInfo[];
    assert.ok(vms.every((v) => !v.name.startsWith('_pool')), 'no pool VM in vm list');
    const snaps = JSON.parse((await banger(['--json', 'vm', 'snapshot', 'list'], env)).stdout) as SnapshotInfo[];
    assert.deepEqual(snaps, [], 'the template is not a user snapshot');
    const r = await banger(['vm', 'run', '--rm', '--name', 'pooled', '--disk-size', '2G', '--', 'sh', '-c', 'hostname; df -B1 --output=size /root | tail -1; systemctl is-system-running || true'], env, 20 * 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /pooled: restored from warm pool/);
    const [hostname, size, state] = r.stdout.trim().split('\n');
    assert.equal(hostname, 'pooled', 'the restored VM has its own hostname');
    assert.notEqual(state, 'starting', 'the template was saved once its boot had finished, so the restored VM has no boot left to do');
    assert.ok(Number(size) > 1.5 * 1024 ** 3, `the work disk was grown to the 2G asked for (df says ${size} bytes)`);
    assert.deepEqual((await pool()).map((t) => [t.status, t.usedBy]), [['ready', []]], '--rm removed the restored VM');
  });

  it('warm pool: a stale template (the image\'s kernel changed) is not used, and --clear removes it', async () => {
    const later = new Date(Date.now() + 3600_000);
    utimesSync(join(home, 'vmlinuz'), later, later);
    assert.deepEqual((await pool()).map((t) => t.status), ['stale']);
    const r = await banger(['vm', 'run', '--rm', '--', 'true'], env, 40 * 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /cold boot \(the warm pool template is stale/);
    assert.doesNotMatch(r.stderr, /restored from warm pool/);
    const cleared = await banger(['--json', 'vm', 'pool', '--clear'], env, 10 * 60_000);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.deepEqual(await pool(), [], 'the stale template and the rebuild it started are gone');
  });
});
