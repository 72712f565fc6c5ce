/**
 * The firecracker driver with a real firecracker and KVM: the probe's tiny boot, then the Debian
 * cloud kernel (the one the golden image carries, from /boot) booted from the vmlinux banger
 * extracts, with its initrd, a raw disk and the vsock device; its status, metrics and a stop; a
 * snapshot of the running guest restored as a child on its own disk; then the same boot under the real jailer when one is installed. Where the firecracker binary, a usable
 * /dev/kvm, root or the kernel is missing, it skips saying which.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { which } from '../../system/exec.js';
import { isAlive } from '../../system/proc.js';
import type { LaunchSpec } from '../hypervisor.js';
import { FirecrackerDriver, firecrackerInstalled, kvmProblem, KVM_DEVICE } from './driver.js';
import { jailFor } from './jailer.js';

const fc = firecrackerInstalled(process.env.BANGER_FIRECRACKER_BIN ?? 'firecracker');
const kvm = await kvmProblem(KVM_DEVICE);
const release = (await readdir('/boot').catch(() => [] as string[]))
  .filter((n) => /^vmlinuz-.*-cloud-amd64$/.test(n))
  .sort()
  .pop()
  ?.slice('vmlinuz-'.length);
const skip = !fc
  ? 'the firecracker binary was missing (put a release on PATH or set BANGER_FIRECRACKER_BIN)'
  : kvm
    ? `a usable /dev/kvm was missing (${kvm})`
    : process.getuid?.() !== 0
      ? 'root was missing (the jailer and the probe run as root here)'
      : !release
        ? 'the Debian cloud kernel was missing from /boot (scripts/install-deps.sh --test)'
        : undefined;
const jailerBin = fc ? (which('jailer') ?? join(dirname(fc), 'jailer')) : undefined;

async function waitFor(file: string, re: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = await readFile(file, 'utf8').catch(() => '');
    if (re.test(text)) return text;
    await sleep(200);
  }
  assert.fail(`${re} did not appear in ${file} within ${timeoutMs}ms:\n${text.slice(-2000)}`);
}

describe('firecracker real boot', { skip }, () => {
  let work = '';
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-fcreal-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  const spec = async (id: string): Promise<LaunchSpec> => {
    const disk = join(work, `${id}-work.img`);
    await writeFile(disk, Buffer.alloc(8 * 1024 * 1024));
    return {
      vmId: id,
      name: id,
      vcpu: 1,
      memoryMiB: 512,
      kernelPath: `/boot/vmlinuz-${release}`,
      initrdPath: `/boot/initrd.img-${release}`,
      // No root filesystem: the initramfs shell is enough to show the kernel, its devices and the console.
      cmdline: 'console=ttyS0 panic=-1 rdinit=/bin/sh',
      disks: [{ path: disk, format: 'raw', serial: 'work' }],
      network: { mode: 'none' },
      runDir: join(work, id, 'run'),
      consoleLog: join(work, `${id}.console.log`),
    };
  };

  it('the probe boots a tiny microVM', async () => {
    const r = await new FirecrackerDriver({ bin: fc! }).probe();
    assert.equal(r.available, true, r.reason);
    assert.match(r.reason, /a test microVM booted/);
  });

  it('boots the Debian cloud kernel from the extracted vmlinux, reports status and metrics, and stops', async () => {
    const d = new FirecrackerDriver({ bin: fc! });
    const s = await spec('fcreal-a');
    const h = await d.launch(s);
    try {
      const consoleText = await waitFor(s.consoleLog, /Run \/bin\/sh as init process/, 60_000);
      assert.match(consoleText, new RegExp(`Linux version ${release!.replace(/[.+]/g, '\\$&')}`));
      assert.match(consoleText, /Command line: .*reboot=k pci=off/);
      assert.equal(await d.status(h), 'running');
      const m = await d.metrics(h);
      assert.equal(typeof m.utc_timestamp_ms, 'number');
      assert.ok(['graceful', 'killed'].includes(await d.shutdown(h, { timeoutMs: 5000 })));
      assert.equal(isAlive(h.pid), false);
      await assert.rejects(stat(h.controlSocket), 'the API socket is removed');
    } finally {
      await d.kill(h).catch(() => undefined);
    }
  });

  it('saves a running guest and restores it as a child on its own disk, which keeps running', async () => {
    const d = new FirecrackerDriver({ bin: fc! });
    const s = await spec('fcreal-s');
    const h = await d.launch(s);
    const mem = join(work, 'fcreal-s.mem');
    const c = await spec('fcreal-t');
    let r: Awaited<ReturnType<typeof d.snapshots.restore>> | undefined;
    try {
      await waitFor(s.consoleLog, /Run \/bin\/sh as init process/, 60_000);
      await d.snapshots.pause(h);
      const saved = await d.snapshots.saveState(h, mem);
      assert.equal(saved.memoryBytes, 512 * 1024 * 1024);
      assert.ok((await stat(`${mem}.vmstate`)).size > 0);
      await d.snapshots.resume(h);
      assert.equal(await d.status(h), 'running');
      await d.kill(h);
      await rm(c.disks[0]!.path);
      await d.snapshots.createDiskOver(s.disks[0]!, c.disks[0]!.path);
      r = await d.snapshots.restore(c, mem);
      assert.equal(await d.status(r), 'running');
      await sleep(2000);
      assert.equal(await d.status(r), 'running', 'the restored guest still runs');
      assert.equal(typeof (await d.metrics(r)).utc_timestamp_ms, 'number');
    } finally {
      await d.kill(h).catch(() => undefined);
      if (r) await d.kill(r).catch(() => undefined);
    }
  });

  it('boots under the real jailer, and its jail is removed when the VM stops', { skip: jailerBin && existsSync(jailerBin) ? undefined : 'the jailer binary was missing (put it beside firecracker or on PATH)' }, async () => {
    const chrootBase = join(work, 'jail');
    const d = new FirecrackerDriver({ bin: fc!, jailer: { bin: jailerBin!, chrootBase, uid: 0, gid: 0 } });
    const s = await spec('fcreal-j');
    const h = await d.launch(s);
    try {
      await waitFor(s.consoleLog, /Run \/bin\/sh as init process/, 60_000);
      assert.ok(h.controlSocket.startsWith(chrootBase));
      assert.equal(await d.status(h), 'running');
      await d.kill(h);
      await assert.rejects(stat(jailFor({ chrootBase }, fc!, 'fcreal-j').dir), 'the jail is gone');
    } finally {
      await d.kill(h).catch(() => undefined);
    }
  });
});
