import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BangerError } from '../../api/errors.js';
import { which } from '../../system/exec.js';
import { QEMU_IMG_BIN, createOverlay, imageInfo, imageVirtualSize } from './overlay.js';

const GiB = 1024 ** 3;
const skip = which(QEMU_IMG_BIN) ? undefined : `${QEMU_IMG_BIN} not installed`;

describe('qcow2 overlays', { skip }, () => {
  let dir = '';
  let base = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-overlay-'));
    base = join(dir, 'rootfs.ext4');
    await writeFile(base, '');
    await truncate(base, 20 * GiB);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates an overlay over a 20 GiB sparse base in well under a second', async () => {
    const overlay = join(dir, 'root.qcow2');
    const t0 = performance.now();
    await createOverlay(base, overlay);
    const took = performance.now() - t0;
    assert.ok(took < 1000, `took ${took.toFixed(0)}ms`);
    assert.ok((await stat(overlay)).size < 1024 * 1024);
    const info = await imageInfo(overlay);
    assert.equal(info.format, 'qcow2');
    assert.equal(info.virtualSizeBytes, 20 * GiB);
    assert.equal(info.backingFile, base);
    assert.equal(info.backingFormat, 'raw');
    assert.deepEqual((await readdir(dir)).sort(), ['root.qcow2', 'rootfs.ext4']);
  });

  it('can be larger than its base', async () => {
    const overlay = join(dir, 'big.qcow2');
    await createOverlay(base, overlay, { sizeBytes: 32 * GiB });
    assert.equal(await imageVirtualSize(overlay), 32 * GiB);
  });

  it('refuses to replace an existing overlay, a missing base or a shrinking size', async () => {
    const code = (c: string) => (e: unknown) => e instanceof BangerError && e.code === c;
    await assert.rejects(createOverlay(base, join(dir, 'root.qcow2')), code('already_exists'));
    await assert.rejects(createOverlay(join(dir, 'nope.ext4'), join(dir, 'x.qcow2')), code('not_found'));
    await assert.rejects(createOverlay(base, join(dir, 'small.qcow2'), { sizeBytes: GiB }), code('bad_request'));
    await assert.rejects(imageInfo(join(dir, 'nope.qcow2')), code('operation_failed'));
    assert.ok(!(await readdir(dir)).some((n) => n.endsWith('.tmp')));
  });
});
