import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions, parseVersion } from './version.js';
import { distroFamily, installCommand } from './hints.js';

test('parseVersion finds X.Y[.Z], optionally after a marker', () => {
  assert.deepEqual(parseVersion('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7)', /version\s+/), [7, 2, 22]);
  assert.deepEqual(parseVersion('mke2fs 1.47.0 (5-Feb-2023)', /mke2fs\s+/), [1, 47, 0]);
  assert.deepEqual(parseVersion('Firecracker v1.14'), [1, 14, 0]);
  assert.equal(parseVersion('no digits here'), undefined);
  assert.equal(parseVersion('1.2.3', /version/), undefined);
});

test('compareVersions orders numerically', () => {
  assert.equal(compareVersions([1, 10, 0], [1, 9, 9]), 1);
  assert.equal(compareVersions([1, 5, 0], [1, 5, 0]), 0);
  assert.equal(compareVersions([1, 4, 9], [1, 5, 0]), -1);
});

test('installCommand: Debian gets the exact apt-get line, sudo only when not root', () => {
  const debian = { osRelease: { ID: 'debian' }, uid: 0 };
  assert.equal(installCommand(['qemu'], debian), 'apt-get install qemu-system-x86 qemu-utils');
  assert.equal(installCommand(['qemu', 'qemu-img'], debian), 'apt-get install qemu-system-x86 qemu-utils');
  assert.equal(installCommand(['e2fsprogs'], { ...debian, uid: 1000 }), 'sudo apt-get install e2fsprogs');
  assert.equal(installCommand(['openssh-client'], { osRelease: { ID: 'arch' }, uid: 0 }), 'pacman -S openssh');
  assert.match(installCommand(['debian-archive-keyring'], { osRelease: { ID: 'fedora' }, uid: 0 }), /^install debian-archive-keyring \(Debian package names\)/);
  assert.equal(distroFamily({ ID: 'linuxmint', ID_LIKE: 'ubuntu debian' }), 'debian');
  assert.equal(distroFamily({}), undefined);
});
