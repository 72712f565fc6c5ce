import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliHarness } from '../testing/cli-harness.js';
import { scratchDir } from '../testing/scratch-dir.js';

describe('image and kernel commands', () => {
  const h = new CliHarness();
  after(() => h.cleanup());
  const scratch = scratchDir('banger-img-');

  it('lists the buildable recipes', async () => {
    const r = await h.run(['image', 'build', '--list']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^RECIPE\s+DESCRIPTION\ndebian-bookworm\s+Debian 12/);
  });

  it('says which recipes exist for an unknown one (not_found)', async () => {
    const r = await h.run(['image', 'build', 'gentoo-9000']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /gentoo-9000/);
    assert.match(r.stderr, /debian-bookworm/);
  });

  it('starts with no images and no kernels', async () => {
    assert.match((await h.run(['image', 'list'])).stdout, /no images yet/);
    assert.deepEqual(JSON.parse((await h.run(['--json', 'kernel', 'list'])).stdout), []);
  });

  it('refuses to register a missing or non-ext4 rootfs, naming the path', async () => {
    const missing = join(scratch, 'nope.ext4');
    const a = await h.run(['image', 'register', '--name', 'x', '--rootfs', missing, '--kernel', '/etc/hostname']);
    assert.equal(a.code, 2);
    assert.ok(a.stderr.includes(missing), a.stderr);
    const notExt4 = join(scratch, 'plain.img');
    writeFileSync(notExt4, Buffer.alloc(1 << 20));
    const b = await h.run(['image', 'register', '--name', 'x', '--rootfs', notExt4, '--kernel', '/etc/hostname']);
    assert.equal(b.code, 2);
    assert.ok(b.stderr.includes(notExt4), b.stderr);
    const both = await h.run(['image', 'register', '--name', 'x', '--rootfs', notExt4, '--kernel', '/k', '--kernel-ref', 'k']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /mutually exclusive/);
  });

  it('refuses to import a file that is not a kernel', async () => {
    const fake = join(scratch, 'vmlinuz');
    writeFileSync(fake, 'not a kernel at all\n'.repeat(100));
    const r = await h.run(['kernel', 'import', 'fake', '--kernel', fake]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /not a Linux kernel|not a kernel/i);
    assert.deepEqual(JSON.parse((await h.run(['--json', 'kernel', 'list'])).stdout), []);
  });

  it('reports unknown images and kernels as not found', async () => {
    const i = await h.run(['image', 'show', 'ghost']);
    assert.equal(i.code, 3);
    assert.match(i.stderr, /buildable: debian-bookworm/);
    assert.equal((await h.run(['kernel', 'show', 'ghost'])).code, 3);
  });
});
