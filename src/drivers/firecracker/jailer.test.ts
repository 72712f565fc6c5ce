/**
 * The firecracker driver under the jailer, with the stand-in jailer (which checks its arguments
 * like the real one, makes the chroot, records its cgroup settings and drops to uid/gid) running
 * the stand-in firecracker: the chroot layout and its ownership, the cgroup limits taken from the
 * VM's size, the jail removed when the VM stops and by the sweep when a VM's cleanup never ran.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BangerError } from '../../api/errors.js';
import { findProcesses, isAlive, signalProcess } from '../../system/proc.js';
import { installStandin, installStandinJailer, standinSpec, tinyVmlinux } from '../../testing/firecracker/fixture.js';
import type { VMHandle } from '../hypervisor.js';
import { FirecrackerDriver } from './driver.js';
import { JAIL, JAIL_MARKER, jailerArgv, jailFor, prepareJail, VMM_OVERHEAD_MIB } from './jailer.js';
import { guestHealthy } from './vsock.js';

const UID = 41234;
const GID = 41235;
const asRoot = process.getuid?.() === 0 ? undefined : 'the jailer tests need root (chown and setuid), which was missing';

const procIds = async (pid: number) => {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return { uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]), gid: Number(/^Gid:\s+(\d+)/m.exec(status)?.[1]) };
};

describe('jailer argv', () => {
  const spec = { vmId: 'vm-1', vcpu: 4, memoryMiB: 1024 };
  const opts = { bin: '/usr/bin/jailer', chrootBase: '/srv/jail', uid: 123, gid: 456 };

  it('carries the VM size as cgroup v2 limits (memory with the VMM overhead, cpu quota per vCPU)', () => {
    const argv = jailerArgv(opts, '/usr/bin/firecracker', spec);
    const cgroups = argv.flatMap((a, i) => (a === '--cgroup' ? [argv[i + 1]] : []));
    assert.deepEqual(cgroups, [`memory.max=${(1024 + VMM_OVERHEAD_MIB) * 1024 * 1024}`, 'cpu.max=400000 100000']);
    assert.deepEqual(argv.slice(argv.indexOf('--')), ['--', '--api-sock', JAIL.apiSock]);
    for (const [flag, value] of [['--id', 'vm-1'], ['--exec-file', '/usr/bin/firecracker'], ['--uid', '123'], ['--gid', '456'], ['--chroot-base-dir', '/srv/jail'], ['--cgroup-version', '2']]) {
      assert.equal(argv[argv.indexOf(flag!) + 1], value);
    }
    const small = jailerArgv(opts, '/usr/bin/firecracker', { ...spec, vcpu: 1, memoryMiB: 256 });
    assert.ok(small.includes(`memory.max=${(256 + VMM_OVERHEAD_MIB) * 1024 * 1024}`) && small.includes('cpu.max=100000 100000'));
  });

  it('cgroup v1 names its own files', () => {
    const argv = jailerArgv({ ...opts, cgroupVersion: 1 }, '/usr/bin/firecracker', spec);
    assert.ok(argv.includes('memory.limit_in_bytes=' + String((1024 + VMM_OVERHEAD_MIB) * 1024 * 1024)));
    assert.ok(argv.includes('cpu.cfs_quota_us=400000') && argv.includes('cpu.cfs_period_us=100000'));
  });

  it('refuses bad ids, uids and relative paths', () => {
    assert.throws(() => jailerArgv(opts, '/usr/bin/firecracker', { ...spec, vmId: '../x' }), /cannot name a jail/);
    assert.throws(() => jailerArgv({ ...opts, uid: -1 }, '/usr/bin/firecracker', spec), /uid -1/);
    assert.throws(() => jailerArgv(opts, 'firecracker', spec), /absolute firecracker path/);
    assert.throws(() => jailFor({ chrootBase: 'jail' }, '/usr/bin/firecracker', 'vm-1'), /must be an absolute path/);
  });
});

describe('firecracker under the (stand-in) jailer', { skip: asRoot }, () => {
  let work = '';
  let base = '';
  let fcBin = '';
  let jailerBin = '';
  const handles: VMHandle[] = [];
  const driver = (extra: { bin?: string; jailerBin?: string } = {}) =>
    new FirecrackerDriver({ bin: extra.bin ?? fcBin, jailer: { bin: extra.jailerBin ?? jailerBin, chrootBase: base, uid: UID, gid: GID } });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-fcjail-'));
    // The jailed process runs as UID and reaches the stand-in's code and the chroot through these.
    await chmod(work, 0o755);
    base = join(work, 'jail');
    await mkdir(base);
    await writeFile(join(work, 'vmlinux'), tinyVmlinux());
    fcBin = await installStandin(join(work, 'bin'));
    jailerBin = await installStandinJailer(join(work, 'bin'));
  });

  after(async () => {
    const d = driver();
    for (const h of handles) await d.kill(h).catch(() => undefined);
    for (const pid of findProcesses((argv) => argv.some((a) => a.includes(work)))) signalProcess(pid, 'SIGKILL');
    await rm(work, { recursive: true, force: true });
  });

  const spec = (id: string) => standinSpec(work, id, join(work, id, 'run'));

  it('lays out the chroot: artifacts hard-linked in, owned by the jail uid/gid, and runs firecracker as that uid', async () => {
    const d = driver();
    const s = await spec('jail-a');
    const h = await d.launch(s);
    handles.push(h);
    const jail = jailFor({ chrootBase: base }, fcBin, 'jail-a');
    assert.equal(h.controlSocket, join(jail.root, JAIL.apiSock));
    for (const [inJail, from] of [['vmlinux', join(work, 'vmlinux')], ['disk-root', s.disks[0]!.path], ['disk-work', s.disks[1]!.path], ['disk-seed', s.disks[2]!.path]] as const) {
      const [a, b] = [await stat(join(jail.root, inJail)), await stat(from)];
      assert.equal(a.ino, b.ino, `${inJail} is a hard link of ${from}`);
      assert.equal(a.uid, UID, `${inJail} owner`);
      assert.equal(a.gid, GID, `${inJail} group`);
    }
    for (const f of ['firecracker.log', 'metrics.json', 'run', '.']) {
      const st = await stat(join(jail.root, f));
      assert.deepEqual([st.uid, st.gid], [UID, GID], `${f} is the jail's`);
    }
    assert.ok((await stat(join(jail.root, 'firecracker'))).isFile(), 'the jailer copied the firecracker binary in');
    assert.ok((await stat(join(jail.dir, JAIL_MARKER))).isFile());
    assert.deepEqual(await procIds(h.pid), { uid: UID, gid: GID });
    assert.equal(await d.status(h), 'running');
    // The jailed firecracker's metrics and vsock are reached through the chroot.
    assert.equal(typeof (await d.metrics(h)).utc_timestamp_ms, 'number');
    assert.equal(await guestHealthy(d.vsockPath(h)), true);
    assert.ok(d.ownProcesses(join(work, 'vms')).some((p) => p.pid === h.pid && p.vmId === 'jail-a'), 'the jailed process is found as this install\'s');
    await d.kill(h);
  });

  it('the jailer gets the cgroup limits of the VM spec', async () => {
    const d = driver();
    const s = { ...(await spec('jail-cg')), vcpu: 2, memoryMiB: 512 };
    const h = await d.launch(s);
    handles.push(h);
    const rec = JSON.parse(await readFile(join(base, 'firecracker', 'jail-cg', 'cgroups.json'), 'utf8')) as { version: number; settings: Record<string, string> };
    assert.deepEqual(rec, { version: 2, settings: { 'memory.max': String((512 + VMM_OVERHEAD_MIB) * 1024 * 1024), 'cpu.max': '200000 100000' } });
    await d.kill(h);
  });

  it('the jail is removed when the VM stops, gracefully or killed', async () => {
    const d = driver();
    const a = await d.launch(await spec('jail-stop'));
    handles.push(a);
    assert.equal(await d.shutdown(a, { timeoutMs: 5000 }), 'graceful');
    await assert.rejects(stat(join(base, 'firecracker', 'jail-stop')), 'jail gone after a graceful stop');
    const b = await d.launch(await spec('jail-kill'));
    handles.push(b);
    await d.kill(b);
    await assert.rejects(stat(join(base, 'firecracker', 'jail-kill')), 'jail gone after a kill');
    assert.ok((await stat(join(work, 'files', 'jail-kill', 'root.img'))).isFile(), "the VM's own disks stay");
  });

  it('snapshots under the jailer: saved out of the jail, restored into a fresh jail holding the child\'s own disks and the saved files', async () => {
    const d = driver();
    const s = await spec('jail-snap-a');
    const h = await d.launch(s);
    handles.push(h);
    const mem = join(work, 'jail-snap.mem');
    await d.snapshots.pause(h);
    await d.snapshots.saveState(h, mem);
    await d.snapshots.resume(h);
    for (const f of [mem, `${mem}.vmstate`]) assert.ok((await stat(f)).isFile(), `${f} was moved out of the jail`);
    const source = jailFor({ chrootBase: base }, fcBin, 'jail-snap-a');
    await assert.rejects(stat(join(source.root, JAIL.memory)), 'nothing is left in the source jail');
    await d.kill(h);

    const c = await spec('jail-snap-b');
    const r = await d.snapshots.restore({ ...c, network: { mode: 'tap', tap: 'tap-jsnap-b', mac: '02:fc:00:00:00:03' } }, mem);
    handles.push(r);
    const jail = jailFor({ chrootBase: base }, fcBin, 'jail-snap-b');
    assert.equal(r.controlSocket, join(jail.root, JAIL.apiSock));
    assert.equal(await d.status(r), 'running');
    assert.equal((await stat(join(jail.root, 'disk-root'))).ino, (await stat(c.disks[0]!.path)).ino, "the child's root disk is linked in");
    assert.equal((await stat(join(jail.root, JAIL.memory))).ino, (await stat(mem)).ino, 'the memory file is linked in, not copied');
    await assert.rejects(stat(join(jail.root, 'vmlinux')), 'a restore needs no kernel');
    assert.deepEqual(await procIds(r.pid), { uid: UID, gid: GID });
    assert.equal(await guestHealthy(d.vsockPath(r)), true);
    await d.kill(r);
    await assert.rejects(stat(jail.dir), 'the jail goes with the VM');
    assert.ok((await stat(mem)).isFile(), 'the saved state stays');
  });

  it('the sweep removes jails of VMs that no longer run, and leaves live ones and foreign directories alone', async () => {
    const d = driver();
    const live = await d.launch(await spec('jail-live'));
    handles.push(live);
    const orphan = await d.launch(await spec('jail-orphan'));
    // A daemon killed before the VM's cleanup: the process dies, the jail stays.
    signalProcess(orphan.pid, 'SIGKILL');
    for (let i = 0; i < 100 && isAlive(orphan.pid); i++) await new Promise((r) => setTimeout(r, 20));
    const stillRunning = await d.launch(await spec('jail-running'));
    handles.push(stillRunning);
    const foreign = join(base, 'firecracker', 'someone-else');
    await mkdir(join(foreign, 'root'), { recursive: true });

    const removed = await d.sweep(new Set(['jail-live']));
    assert.deepEqual(removed, [join(base, 'firecracker', 'jail-orphan')]);
    await assert.rejects(stat(join(base, 'firecracker', 'jail-orphan')));
    assert.ok((await stat(foreign)).isDirectory(), 'a jail banger did not make is kept');
    assert.ok((await stat(join(base, 'firecracker', 'jail-live'))).isDirectory());
    assert.ok((await stat(join(base, 'firecracker', 'jail-running'))).isDirectory(), 'a jail whose firecracker still runs is kept');
    assert.equal(await d.status(live), 'running');
    assert.deepEqual(await new FirecrackerDriver({ bin: fcBin }).sweep(new Set()), [], 'without the jailer there is nothing to sweep');
    await d.kill(live);
    await d.kill(stillRunning);
  });

  it('a writable disk on another filesystem than the chroot base is refused with a hint, leaving no jail', async () => {
    const shm = await mkdtemp('/dev/shm/banger-fcjail-');
    try {
      const d = new FirecrackerDriver({ bin: fcBin, jailer: { bin: jailerBin, chrootBase: shm, uid: UID, gid: GID } });
      await assert.rejects(d.launch(await spec('jail-xdev')), (err: unknown) => {
        assert.ok(err instanceof BangerError);
        assert.equal(err.code, 'bad_request');
        assert.match(err.message, /cannot link .*root\.img into the jail .*EXDEV/);
        assert.match(err.hint ?? '', /same filesystem/);
        return true;
      });
      await assert.rejects(stat(join(shm, 'firecracker', 'jail-xdev')), 'nothing half-made is left');
    } finally {
      await rm(shm, { recursive: true, force: true });
    }
  });

  it('read-only artifacts on another filesystem are copied in, owned by the jail', async () => {
    const shm = await mkdtemp('/dev/shm/banger-fcjail-');
    try {
      const s = await spec('jail-copy');
      s.disks = s.disks.map((x) => ({ ...x, readOnly: true }));
      const jail = jailFor({ chrootBase: shm }, fcBin, 'jail-copy');
      const paths = await prepareJail(jail, { uid: UID, gid: GID }, s, { kernel: join(work, 'vmlinux') });
      assert.deepEqual(paths.disks, ['/disk-root', '/disk-work', '/disk-seed']);
      for (const f of ['vmlinux', 'disk-root', 'disk-seed']) {
        const st = await stat(join(jail.root, f));
        assert.deepEqual([st.uid, st.gid, st.nlink], [UID, GID, 1], `${f} is a copy owned by the jail`);
      }
      assert.deepEqual(await readFile(join(jail.root, 'vmlinux')), tinyVmlinux());
    } finally {
      await rm(shm, { recursive: true, force: true });
    }
  });

  it('a jailer that refuses to start fails the launch with what it said, and the jail is removed', async () => {
    const refusing = join(work, 'bin', 'jailer-refusing');
    await writeFile(refusing, '#!/bin/sh\necho "jailer: Failed to create cgroup: permission denied" >&2\nexit 1\n', { mode: 0o755 });
    const d = driver({ jailerBin: refusing });
    await assert.rejects(d.launch(await spec('jail-refused')), (err: unknown) => {
      assert.ok(err instanceof BangerError);
      assert.equal(err.code, 'operation_failed');
      assert.match(err.message, /exited before serving its API.*Failed to create cgroup/s);
      return true;
    });
    await assert.rejects(stat(join(base, 'firecracker', 'jail-refused')));
  });
});
