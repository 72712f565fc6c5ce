import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearStaging, makeStaging, mountsUnder, publishDir, removeTree } from './staging.js';

test('staging: make, publish by rename, refuse to overwrite, clear leftovers', async () => {
  const root = await mkdtemp(join(tmpdir(), 'banger-staging-test-'));
  try {
    const s = await makeStaging(join(root, 'staging'), 'build-x');
    await mkdir(join(s, 'out'));
    await writeFile(join(s, 'out', 'file'), 'x');
    await publishDir(join(s, 'out'), join(root, 'images', 'x'));
    assert.ok(existsSync(join(root, 'images', 'x', 'file')));
    await mkdir(join(s, 'out2'));
    await assert.rejects(publishDir(join(s, 'out2'), join(root, 'images', 'x')), /already exists/);
    assert.deepEqual(await mountsUnder(s), []);
    await removeTree(s);
    assert.ok(!existsSync(s));
    await makeStaging(join(root, 'staging'), 'left-over');
    assert.equal((await clearStaging(join(root, 'staging'))).length, 1);
    assert.deepEqual(await clearStaging(join(root, 'staging')), []);
    assert.deepEqual(await clearStaging(join(root, 'absent')), []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('mountsUnder sees real mount points', async () => {
  const mounts = await mountsUnder('/');
  assert.ok(mounts.includes('/'));
  assert.ok(mounts.indexOf('/') === mounts.length - 1, 'deepest first');
});
