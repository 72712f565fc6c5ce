import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BangerError } from '../../api/errors.js';
import { clearBuildScratch, makeBuildScratch, scratchBases, scratchPrefix, scratchProblem } from './build-scratch.js';

test('the chroot goes to the first base every parent of which others may search', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'banger-scratch-'));
  try {
    await chmod(dir, 0o755);
    const priv = join(dir, 'private');
    const open = join(dir, 'open');
    await mkdir(priv, { mode: 0o700 });
    await mkdir(join(priv, 'inner'), { mode: 0o777 });
    await chmod(join(priv, 'inner'), 0o777);
    await mkdir(open, { mode: 0o755 });
    assert.match((await scratchProblem(join(priv, 'inner')))!, /private is not searchable by others \(mode 700\)/);
    assert.equal(await scratchProblem(open), undefined);
    assert.match((await scratchProblem(join(dir, 'absent')))!, /ENOENT/);

    const staging = join(dir, 'state', 'staging');
    const s = await makeBuildScratch(staging, [join(priv, 'inner'), open]);
    assert.equal(join(s, '..'), open);
    assert.ok(s.slice(open.length + 1).startsWith(scratchPrefix(staging)));
    assert.equal((await lstat(s)).mode & 0o7777, 0o711);

    await assert.rejects(makeBuildScratch(staging, [priv, join(dir, 'absent')]), (e: BangerError) => e.code === 'unavailable' && /private is not searchable by others/.test(e.message) && /absent: ENOENT/.test(e.message) && /TMPDIR/.test(e.hint ?? ''));

    await mkdir(join(open, 'someone-else'));
    const other = await makeBuildScratch(join(dir, 'other-state', 'staging'), [open]);
    assert.deepEqual(await clearBuildScratch(staging, [open]), [s]);
    assert.deepEqual((await readdir(open)).sort(), [other.slice(open.length + 1), 'someone-else'].sort(), 'another state directory\'s scratch and foreign entries stay');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bases: TMPDIR first, then /var/tmp and /tmp, relative paths ignored', () => {
  assert.deepEqual(scratchBases({ TMPDIR: '/run/user/1000' }), ['/run/user/1000', '/var/tmp', '/tmp']);
  assert.deepEqual(scratchBases({ TMPDIR: 'rel' }), ['/var/tmp', '/tmp']);
  assert.deepEqual(scratchBases({ TMPDIR: '/tmp' }), ['/tmp', '/var/tmp']);
});
