/** Manifests read back from disk, and the refusals a restore makes before it starts anything. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BangerError } from '../../api/errors.js';
import { compatibilityProblem, keepHashAfterUnlink, parseManifest, readManifest, sha256File, verifyFiles, SNAPSHOT_FORMAT, type SnapshotManifest } from './snapshot-manifest.js';

function manifest(over: Partial<SnapshotManifest> = {}): SnapshotManifest {
  return {
    format: SNAPSHOT_FORMAT,
    id: 'abc123',
    name: 'warm',
    createdAt: '2026-01-01T00:00:00.000Z',
    source: { vmId: 'v1', vmName: 'dev' },
    image: { id: 'img', name: 'debian-bookworm' },
    driver: { driver: 'qemu', version: 'qemu 7.2.22', accel: 'tcg', memoryBytes: 4 },
    machine: { vcpu: 2, memoryMiB: 1024, diskSizeBytes: 1 << 30, kernelPath: '/k', cmdline: 'console=ttyS0', network: 'user' },
    disks: [
      { role: 'root', file: 'root.qcow2', format: 'qcow2', serial: 'root' },
      { role: 'work', file: 'work.ext4', format: 'raw', serial: 'work' },
    ],
    memory: { file: 'memory.bin', bytes: 4, sha256: '' },
    hostKeyFile: 'ssh_host_ed25519_key.pub',
    ...over,
  };
}

async function snapshotDir(): Promise<{ dir: string; m: SnapshotManifest }> {
  const dir = mkdtempSync('/tmp/bsnap-');
  for (const f of ['root.qcow2', 'work.ext4', 'ssh_host_ed25519_key.pub']) writeFileSync(join(dir, f), 'x');
  writeFileSync(join(dir, 'memory.bin'), 'mem!');
  const m = manifest({ memory: { file: 'memory.bin', bytes: 4, sha256: await sha256File(join(dir, 'memory.bin')) } });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  return { dir, m };
}

function message(err: unknown): string {
  assert.ok(err instanceof BangerError, `not a BangerError: ${String(err)}`);
  return `${err.code}: ${err.message} | ${err.hint ?? ''}`;
}

describe('snapshot manifests', () => {
  it('round-trips through the file and accepts intact files', async () => {
    const { dir, m } = await snapshotDir();
    try {
      assert.deepEqual(await readManifest(join(dir, 'manifest.json')), m);
      await verifyFiles(dir, m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a memory file that fails its sha256, naming the snapshot and how to fix it', async () => {
    const { dir, m } = await snapshotDir();
    try {
      writeFileSync(join(dir, 'memory.bin'), 'mem?');
      const err = await verifyFiles(dir, m).then(() => undefined, (e: unknown) => e);
      assert.match(message(err), /^operation_failed: snapshot warm: memory file memory\.bin fails its sha256 check .*\| delete it with banger vm snapshot delete warm/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a memory file changed in place after a check that passed is refused at the next check, even with its size and mtime put back', async () => {
    const { dir, m } = await snapshotDir();
    try {
      const mem = join(dir, 'memory.bin');
      await verifyFiles(dir, m);
      const { atime, mtime } = statSync(mem);
      writeFileSync(mem, 'mem?');
      utimesSync(mem, atime, mtime);
      assert.match(message(await verifyFiles(dir, m).then(() => undefined, (e: unknown) => e)), /memory file memory\.bin fails its sha256 check/);
      writeFileSync(mem, 'mem!');
      await verifyFiles(dir, m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses missing files, listing each one', async () => {
    const { dir, m } = await snapshotDir();
    try {
      rmSync(join(dir, 'work.ext4'));
      rmSync(join(dir, 'memory.bin'));
      const err = await verifyFiles(dir, m).then(() => undefined, (e: unknown) => e);
      assert.match(message(err), /snapshot warm is incomplete: missing memory\.bin, work\.ext4/);
      const gone = await verifyFiles(dir, manifest({ disks: [{ role: 'root', file: 'root.qcow2', format: 'qcow2', serial: 'root', backingFile: '/nonexistent/rootfs.ext4' }] })).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.match(message(gone), /missing memory\.bin, \/nonexistent\/rootfs\.ext4/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses state saved by another driver version, driver or accelerator', () => {
    const m = manifest();
    assert.equal(compatibilityProblem(m, { driver: 'qemu', version: 'qemu 7.2.22', accel: 'tcg' }), undefined);
    assert.match(message(compatibilityProblem(m, { driver: 'qemu', version: 'qemu 8.2.1', accel: 'tcg' })), /^bad_request: snapshot warm was saved by qemu 7\.2\.22, but this host runs qemu 8\.2\.1/);
    assert.match(message(compatibilityProblem(m, { driver: 'firecracker', version: 'firecracker 1.16.1', accel: 'kvm' })), /saved by the qemu driver and can only be restored by it, not by firecracker \| restore it with --driver qemu/);
    const fc = manifest({ driver: { driver: 'firecracker', version: 'firecracker 1.16.1', accel: 'kvm', memoryBytes: 4, companions: ['.vmstate'] } });
    assert.equal(compatibilityProblem(fc, { driver: 'firecracker', version: 'firecracker 1.16.1', accel: 'kvm' }), undefined);
    assert.match(message(compatibilityProblem(fc, { driver: 'firecracker', version: 'firecracker 1.15.0', accel: 'kvm' })), /saved by firecracker 1\.16\.1, but this host runs firecracker 1\.15\.0; saved state only loads into the same version/);
    assert.match(message(compatibilityProblem(fc, { driver: 'qemu', version: 'qemu 7.2.22', accel: 'kvm' })), /saved by the firecracker driver .* not by qemu \| restore it with --driver firecracker/);
    assert.match(message(compatibilityProblem(m, { driver: 'qemu', version: 'qemu 7.2.22', accel: 'kvm' })), /saved under tcg, but VMs here run under kvm/);
  });

  it('a firecracker snapshot needs its device state file beside the memory file', async () => {
    const { dir, m } = await snapshotDir();
    try {
      const fc = { ...m, driver: { driver: 'firecracker' as const, version: 'firecracker 1.16.1', accel: 'kvm', memoryBytes: 4, companions: ['.vmstate'] } };
      const err = await verifyFiles(dir, fc).then(() => undefined, (e: unknown) => e);
      assert.match(message(err), /^operation_failed: snapshot warm is incomplete: missing memory\.bin\.vmstate/);
      writeFileSync(join(dir, 'memory.bin.vmstate'), 'state');
      await verifyFiles(dir, fc);
      assert.throws(() => parseManifest({ ...fc, driver: { ...fc.driver, companions: ['/../x'] } }, 'm.json'), /invalid: driver companions/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses malformed or newer manifests and file names with directories', () => {
    assert.throws(() => parseManifest({ ...manifest(), format: SNAPSHOT_FORMAT + 1 }, 'm.json'), /snapshot format 3 is newer than this banger understands/);
    assert.throws(() => parseManifest({ ...manifest(), driver: undefined }, 'm.json'), /m\.json is invalid: driver missing/);
    assert.throws(() => parseManifest(manifest({ memory: { file: '../../etc/passwd', bytes: 1, sha256: 'x' } }), 'm.json'), /must not contain directories/);
    assert.throws(() => parseManifest(manifest({ disks: [{ role: 'root', file: '/abs/root.qcow2', format: 'qcow2', serial: 'root' }] }), 'm.json'), /invalid: disk/);
    assert.throws(() => parseManifest(manifest({ ram: { file: '../memory.ram', bytes: 1, sha256: 'x' } }), 'm.json'), /m\.json is invalid: ram/);
  });

  it('reads a format 1 manifest (RAM inside the memory file) as one without a RAM image', () => {
    const old = parseManifest({ ...manifest(), format: 1 }, 'm.json');
    assert.equal(old.format, 1);
    assert.equal(old.ram, undefined);
  });

  it('checks the RAM image too: missing, or failing its sha256', async () => {
    const { dir, m } = await snapshotDir();
    try {
      writeFileSync(join(dir, 'memory.ram'), 'ram!');
      const withRam = manifest({ memory: m.memory, ram: { file: 'memory.ram', bytes: 4, sha256: await sha256File(join(dir, 'memory.ram')) } });
      await verifyFiles(dir, withRam);
      writeFileSync(join(dir, 'memory.ram'), 'ram?');
      assert.match(message(await verifyFiles(dir, withRam).then(() => undefined, (e: unknown) => e)), /snapshot warm: RAM image memory\.ram fails its sha256 check/);
      rmSync(join(dir, 'memory.ram'));
      assert.match(message(await verifyFiles(dir, withRam, undefined, { hash: false }).then(() => undefined, (e: unknown) => e)), /incomplete: missing memory\.ram/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a RAM image whose other link (the stopped VM\'s RAM file) was removed still passes, and a write after that is still caught', async () => {
    const { dir, m } = await snapshotDir();
    try {
      const ram = join(dir, 'memory.ram');
      const live = join(dir, 'guest.ram');
      writeFileSync(live, 'ram!');
      linkSync(live, ram);
      const withRam = manifest({ memory: m.memory, ram: { file: 'memory.ram', bytes: 4, sha256: await sha256File(ram) } });
      await verifyFiles(dir, withRam);
      rmSync(live);
      keepHashAfterUnlink(ram);
      await verifyFiles(dir, withRam);
      const { atime, mtime } = statSync(ram);
      writeFileSync(ram, 'ram?');
      utimesSync(ram, atime, mtime);
      assert.match(message(await verifyFiles(dir, withRam).then(() => undefined, (e: unknown) => e)), /RAM image memory\.ram fails its sha256 check/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a RAM image written to when its other link went is checked again, not trusted', async () => {
    const { dir, m } = await snapshotDir();
    try {
      const ram = join(dir, 'memory.ram');
      const live = join(dir, 'guest.ram');
      writeFileSync(live, 'ram!');
      linkSync(live, ram);
      const withRam = manifest({ memory: m.memory, ram: { file: 'memory.ram', bytes: 4, sha256: await sha256File(ram) } });
      await verifyFiles(dir, withRam);
      writeFileSync(live, 'ram?');
      const { atime } = statSync(ram);
      utimesSync(ram, atime, new Date(Date.now() + 5000));
      rmSync(live);
      keepHashAfterUnlink(ram);
      assert.match(message(await verifyFiles(dir, withRam).then(() => undefined, (e: unknown) => e)), /RAM image memory\.ram fails its sha256 check/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
