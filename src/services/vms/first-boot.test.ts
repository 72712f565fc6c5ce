import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageInfo } from '../../api/types.js';
import { BangerError } from '../../api/errors.js';
import type { VMRow } from '../../store/vms.js';
import { InstallerWatch, markFirstBootDone, pendingFirstBoot, refuseUnbootable, withInstallerEgress } from './first-boot.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-vm-first-boot-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const PLAN = { manager: 'apt', packages: ['openssh-server'], commands: [['apt-get', 'update']], hosts: ['deb.debian.org'] };

function image(meta: Record<string, unknown>): ImageInfo {
  return { id: 'i1', name: 'img', managed: true, distro: 'debian', arch: 'x86_64', source: 'oci:x', rootfsPath: '/x', sizeBytes: 1, createdAt: '', meta };
}

function vm(spec: Partial<VMRow['spec']>): VMRow {
  return { id: 'v1', name: 'v', imageId: 'i1', state: 'starting', spec: { vcpu: 1, memoryMiB: 512, diskSizeBytes: 1, nat: false, ...spec }, runtime: {}, createdAt: '', updatedAt: '' };
}

test('the installer egress adds the mirror hosts to the allowlist, keeps the user\'s entries and leaves --nat alone', () => {
  assert.deepEqual(withInstallerEgress(vm({}), ['deb.debian.org']).spec.allow, ['deb.debian.org']);
  assert.deepEqual(withInstallerEgress(vm({ allow: ['example.com', 'deb.debian.org'] }), ['deb.debian.org']).spec.allow, ['example.com', 'deb.debian.org']);
  const nat = vm({ nat: true });
  assert.equal(withInstallerEgress(nat, ['deb.debian.org']), nat, '--nat already lets everything out');
  assert.deepEqual(withInstallerEgress(vm({ nat: true, allow: ['a.example'] }), ['deb.debian.org']).spec.allow, ['a.example', 'deb.debian.org']);
  const row = vm({});
  withInstallerEgress(row, ['deb.debian.org']);
  assert.equal(row.spec.allow, undefined, 'the stored row is not changed');
});

test('the first boot is pending until the VM is marked done; images without the installer never are', () => {
  const marker = join(dir, 'first-boot.done');
  assert.deepEqual(pendingFirstBoot(image({ firstBoot: PLAN }), marker), PLAN);
  assert.equal(pendingFirstBoot(image({}), marker), undefined);
  assert.equal(pendingFirstBoot(image({ firstBoot: { manager: 'apt' } }), marker), undefined, 'a malformed plan is no plan');
  markFirstBootDone(marker);
  assert.equal(pendingFirstBoot(image({ firstBoot: PLAN }), marker), undefined);
});

test('an image without an init system is refused with what to add', () => {
  refuseUnbootable(image({ firstBoot: PLAN }));
  assert.throws(() => refuseUnbootable(image({ initMissing: true })), (err: unknown) => {
    assert.ok(err instanceof BangerError);
    assert.equal(err.code, 'unavailable');
    assert.match(err.message, /image img has no init system \(systemd\), so banger cannot boot it/);
    assert.match(err.hint ?? '', /systemd-sysv/);
    return true;
  });
});

test('the console watch passes on the installer\'s lines as they arrive (split writes too) and notes its failure', () => {
  const log = join(dir, 'console.log');
  const seen: string[] = [];
  const w = new InstallerWatch(log, (l) => seen.push(l));
  w.poll();
  writeFileSync(log, '[  OK  ] Started x.\r\n[   12.3] banger-first-boot: running: apt-get update\nGet:1 http://deb.debian.org/debian bookworm InRelease\nbanger-first-boot: run');
  w.poll();
  assert.deepEqual(seen, ['banger-first-boot: running: apt-get update']);
  appendFileSync(log, 'ning: apt-get install -y openssh-server\r\n');
  w.poll();
  assert.equal(seen[1], 'banger-first-boot: running: apt-get install -y openssh-server');
  assert.equal(w.failure, undefined);
  appendFileSync(log, 'banger-first-boot: FAILED: apt-get install -y openssh-server exited 100\n');
  w.poll();
  assert.equal(w.failure, 'banger-first-boot: FAILED: apt-get install -y openssh-server exited 100');
  assert.equal(seen.length, 3);
});
