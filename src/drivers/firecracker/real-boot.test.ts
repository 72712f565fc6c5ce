/**
 * The firecracker driver with a real firecracker and KVM: the probe's tiny boot, then the Debian
 * cloud kernel (the one the golden image carries, from /boot) booted from the vmlinux banger
 * extracts, with its initrd, a raw disk and the vsock device; its status, metrics and a stop; a
 * snapshot of the running guest restored as a child on its own disk; then the same boot under the real jailer when one is installed. Where the firecracker binary, a usable
 * /dev/kvm, root or the kernel is missing, it skips saying which.
 *
 * Restore as new VMs (inside a network namespace this file creates, run again in it): the golden
 * image booted on a tap of a bridge, saved, and restored as two children on taps of their own
 * (network_overrides), each re-addressed over the vsock guest channel; the host then reaches each
 * child's sshd at its own address and sees its own MAC.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:net';
import { run, which } from '../../system/exec.js';
import { generateHostKey } from '../ssh/keys.js';
import { bootArgs } from '../../guest/cmdline.js';
import { buildSeedDisk } from '../../guest/seed.js';
import { parseReaddressAnswer, readdressCommand } from '../../model/guest-address.js';
import { runInNetns } from '../../testing/netns.js';
import { sharedImage, sharedImageSkipReason } from '../../testing/shared-image.js';
import { guestHealthy } from './vsock.js';
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

const imageSkip = skip ?? sharedImageSkipReason();

/** The first line a TCP server sends (sshd's banner), or why none came. */
function banner(host: string, port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs });
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes('\n')) {
        s.destroy();
        resolve(text.split('\n')[0]!.trim());
      }
    });
    s.once('timeout', () => {
      s.destroy();
      resolve('timeout');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

if (!imageSkip && runInNetns(import.meta.url, 'firecracker restore as new VMs', 900_000, () => sharedImage())) {
  describe('firecracker: a snapshot restored as new VMs, each with its own tap, MAC and address', () => {
    let work = '';
    const BR = 'bgtfcbr0';
    const taps = ['bgtfc-s', 'bgtfc-c1', 'bgtfc-c2'];
    before(async () => {
      work = await mkdtemp(join(tmpdir(), 'banger-fcnew-'));
      await run(['ip', 'link', 'add', BR, 'type', 'bridge']);
      await run(['ip', 'addr', 'add', '10.213.50.1/24', 'dev', BR]);
      await run(['ip', 'link', 'set', BR, 'up']);
      for (const t of taps) {
        await run(['ip', 'tuntap', 'add', 'dev', t, 'mode', 'tap']);
        await run(['ip', 'link', 'set', t, 'master', BR]);
        await run(['ip', 'link', 'set', t, 'up']);
      }
    });
    after(() => rm(work, { recursive: true, force: true }));

    it('restores two children from one saved guest; each answers SSH at its own address with its own MAC', { timeout: 600_000 }, async () => {
      const image = await sharedImage();
      const d = new FirecrackerDriver({ bin: fc! });
      const hostKey = await generateHostKey('banger-test');
      const specOf = async (id: string, tap: string, mac: string, withDisks: boolean): Promise<LaunchSpec> => {
        const dir = join(work, id);
        const disks = { root: join(dir, 'root.img'), work: join(dir, 'work.img'), seed: join(dir, 'seed.img') };
        if (withDisks) {
          await d.createRootDisk(image.rootfsPath, disks.root, {});
          await d.createRootDisk(image.workSeedPath, disks.work, {});
          await buildSeedDisk(disks.seed, { hostname: 'fcsrc', authorizedKeys: [], hostKey, network: { mode: 'static', address: '10.213.50.10', prefix: 24, gateway: '10.213.50.1' }, nameservers: ['10.213.50.1'] });
        }
        return {
          vmId: id, name: id, vcpu: 1, memoryMiB: 512, kernelPath: image.kernelPath, initrdPath: image.initrdPath, cmdline: bootArgs({ hostname: 'fcsrc' }),
          disks: [
            { path: disks.root, format: 'raw', serial: 'root' },
            { path: disks.work, format: 'raw', serial: 'work' },
            { path: disks.seed, format: 'raw', readOnly: true, serial: 'seed' },
          ],
          network: { mode: 'tap', tap, mac },
          runDir: join(dir, 'run'),
          consoleLog: join(dir, 'console.log'),
        };
      };
      const s = await specOf('fcnew-s', taps[0]!, '02:fc:00:00:32:0a', true);
      const h = await d.launch(s);
      const children: { h: Awaited<ReturnType<typeof d.snapshots.restore>>; ip: string; mac: string }[] = [];
      try {
        const deadline = Date.now() + 240_000;
        while (!(await guestHealthy(d.vsockPath(h))) && Date.now() < deadline) await sleep(1000);
        assert.equal(await guestHealthy(d.vsockPath(h)), true, 'the guest channel answers');
        assert.match(await banner('10.213.50.10', 22, 60_000), /^SSH-2\.0-/, 'the source answers SSH at its seed address');
        await d.snapshots.pause(h);
        const mem = join(work, 'fcnew.mem');
        await d.snapshots.saveState(h, mem);
        const frozen = join(work, 'frozen');
        await run(['mkdir', '-p', frozen]);
        for (const disk of s.disks) await d.snapshots.freezeDisk(disk, join(frozen, `${disk.serial!}.img`));
        await d.kill(h);
        for (const [i, n] of [1, 2].entries()) {
          const mac = `02:fc:00:00:32:${(0x0b + i).toString(16).padStart(2, '0')}`;
          const ip = `10.213.50.${11 + i}`;
          const c = await specOf(`fcnew-c${n}`, taps[n]!, mac, false);
          await run(['mkdir', '-p', join(work, `fcnew-c${n}`)]);
          for (const disk of c.disks) await d.snapshots.createDiskOver({ ...disk, path: join(frozen, `${disk.serial!}.img`) }, disk.path);
          const r = await d.snapshots.restore(c, mem);
          children.push({ h: r, ip, mac });
          const answer = await d.guestChannel(r, readdressCommand({ mac, address: ip, prefix: 24, gateway: '10.213.50.1', nameservers: ['10.213.50.1'] }) as `readdress ${string}`, { timeoutMs: 20_000 });
          assert.deepEqual(parseReaddressAnswer(answer), { dev: 'eth0', mac, cidr: `${ip}/24` }, answer);
        }
        for (const c of children) {
          assert.match(await banner(c.ip, 22, 30_000), /^SSH-2\.0-/, `${c.ip} answers SSH`);
          const neigh = (await run(['ip', 'neigh', 'show', c.ip, 'dev', BR])).stdout;
          assert.match(neigh, new RegExp(`lladdr ${c.mac}`), `${c.ip} is at ${c.mac}`);
        }
        assert.doesNotMatch(await banner('10.213.50.10', 22, 3000), /^SSH-2\.0-/, 'no child kept the source address');
      } finally {
        await d.kill(h).catch(() => undefined);
        for (const c of children) await d.kill(c.h).catch(() => undefined);
      }
    });
  });
} else {
if (imageSkip) {
  describe('firecracker: a snapshot restored as new VMs', () => {
    it('restores two children with their own tap, MAC and address', { skip: imageSkip }, () => undefined);
  });
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
}
