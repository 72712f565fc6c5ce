/**
 * `vm create --driver` on the fake driver: the config insists on qemu (which is missing here, so a VM
 * that used it would fail at once), and a VM created with --driver fake boots, keeps its driver and
 * starts again with it; unknown and unavailable drivers are refused with the names or the reason.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VMInfo } from '../api/types.js';
import { CliHarness } from '../testing/cli-harness.js';
import { writeTinyImageFiles } from '../testing/tiny-image.js';

describe('vm create --driver', () => {
  const h = new CliHarness({ BANGER_FAKE_DRIVER: '{}' });
  before(async () => {
    writeFileSync(
      join(h.home, 'config.toml'),
      ['driver = "qemu"', `qemu_bin = "${join(h.home, 'no-qemu')}"`, `firecracker_bin = "${join(h.home, 'no-firecracker')}"`, 'default_image_name = "tiny"', 'warm_pool = false', 'ssh_wait_timeout = "30s"', ''].join('\n'),
    );
    const { rootfs, kernel } = await writeTinyImageFiles(h.home);
    const r = await h.run(['image', 'register', '--name', 'tiny', '--rootfs', rootfs, '--kernel', kernel]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => h.cleanup());

  const show = async (name: string) => JSON.parse((await h.run(['--json', 'vm', 'show', name])).stdout) as VMInfo;

  it('an unknown driver is refused before anything starts, naming the drivers there are', async () => {
    const r = await h.run(['vm', 'create', '--name', 'nope', '--driver', 'xen']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown driver "xen"; this daemon has qemu, firecracker, fake/);
    assert.equal((await h.run(['vm', 'show', 'nope'])).code, 3, 'no VM was made');
  });

  it('a driver that cannot run here is refused with its reason and the fix', async () => {
    const r = await h.run(['vm', 'create', '--name', 'fc', '--driver', 'firecracker']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no-firecracker was not found, and the firecracker driver needs it/);
    assert.match(r.stderr, /firecracker_bin/);
    const q = await h.run(['vm', 'create', '--name', 'q']);
    assert.notEqual(q.code, 0, 'without --driver the config\'s qemu is used');
    assert.match(q.stderr, /no-qemu was not found/);
  });

  it('--driver fake boots the VM on it, keeps it, and starts it again with it while the config says qemu', async () => {
    const r = await h.run(['vm', 'create', '--name', 'box', '--driver', 'fake']);
    assert.equal(r.code, 0, r.stderr);
    let v = await show('box');
    assert.equal(v.state, 'running');
    assert.equal(v.driver, 'fake');
    assert.equal(v.spec.driver, 'fake');
    assert.equal((await h.run(['vm', 'stop', 'box'])).code, 0);
    assert.match((await h.run(['vm', 'show', 'box'])).stdout, /\ndriver: +fake\b/);
    const s = await h.run(['vm', 'start', 'box']);
    assert.equal(s.code, 0, s.stderr);
    v = await show('box');
    assert.equal(v.state, 'running');
    assert.equal(v.driver, 'fake');
    assert.equal((await h.run(['vm', 'delete', 'box'])).code, 0);
  });

  it('the help of vm create and vm run shows --driver with an example', async () => {
    for (const verb of ['create', 'run']) {
      const r = await h.run(['vm', verb, '--help']);
      assert.match(r.stdout, /--driver <name>/);
      assert.match(r.stdout, /--driver firecracker/);
    }
  });
});
