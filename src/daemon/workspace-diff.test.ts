/**
 * GET /vms/:name/workspace/diff on a fake-driver VM (its guest is this host through `sshd -i`, so the
 * guest path is a scratch directory here): the daemon runs the same script as `banger vm workspace
 * diff` over its own ssh connection, names the changed files with their line counts, gives the patch
 * on request (cut at a limit), and leaves the guest's repository as it was.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BangerError } from '../api/errors.js';
import { ROUTES } from '../api/routes.js';
import type { WorkspaceDiff } from '../api/types.js';
import { run } from '../system/exec.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { tinyImageHome } from '../testing/tiny-image.js';
import { gitIn, makeWorkspaceRepo } from '../testing/workspace-repo.js';

async function rejects(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof BangerError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(`${err.message}\n${err.hint ?? ''}`, re);
    return true;
  });
}

describe('the workspace diff route (fake driver)', () => {
  let h: CliHarness;
  let repo = '';
  let guest = '';
  const diff = (query = '') => h.client().get<WorkspaceDiff>(`/vms/box/workspace/diff${query}`);

  before(async () => {
    h = await tinyImageHome();
    repo = join(h.home, 'src', 'repo');
    guest = join(h.home, 'guest', 'repo');
    await makeWorkspaceRepo(repo);
    for (const name of ['box', 'bare']) {
      const r = await h.run(['vm', 'create', '--name', name]);
      assert.equal(r.code, 0, r.stderr);
    }
    const r = await h.run(['vm', 'workspace', 'prepare', 'box', repo, '--guest-path', guest]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await h.run(['vm', 'delete', 'box']);
    await h.run(['vm', 'delete', 'bare']);
    await h.cleanup();
  });

  it('shows no changes right after the prepare', async () => {
    const d = await diff();
    assert.deepEqual({ files: d.files, added: d.added, deleted: d.deleted, patch: d.patch }, { files: [], added: 0, deleted: 0, patch: undefined });
    assert.equal(d.guestPath, guest);
  });

  it("names the guest's edits, deletions, renames and binary files with their line counts, and leaves its repository alone", async () => {
    writeFileSync(join(guest, 'a.txt'), 'alpha from the guest\nline two\nstaged line\nmore\n');
    rmSync(join(guest, 'with space.txt'));
    renameSync(join(guest, 'dir', 'b.txt'), join(guest, 'dir', 'c.txt'));
    writeFileSync(join(guest, 'guest-new.bin'), Buffer.from([0, 200, 3]));
    writeFileSync(join(guest, 'new file ü.txt'), 'one\ntwo\n');
    await gitIn(guest, 'add', 'a.txt');
    const statusBefore = await gitIn(guest, 'status', '--porcelain');

    const d = await diff();
    const byPath = new Map(d.files.map((f) => [f.path, f]));
    assert.deepEqual(byPath.get('a.txt'), { path: 'a.txt', added: 2, deleted: 1 });
    assert.deepEqual(byPath.get('with space.txt'), { path: 'with space.txt', added: 0, deleted: 1 });
    assert.deepEqual(byPath.get('dir/c.txt'), { path: 'dir/c.txt', from: 'dir/b.txt', added: 0, deleted: 0 });
    assert.deepEqual(byPath.get('guest-new.bin'), { path: 'guest-new.bin', added: 0, deleted: 0, binary: true });
    assert.deepEqual(byPath.get('new file ü.txt'), { path: 'new file ü.txt', added: 2, deleted: 0 });
    assert.equal(d.files.length, 5, JSON.stringify(d.files));
    assert.equal(d.added, 4);
    assert.equal(d.deleted, 2);
    assert.equal(d.patch, undefined, 'no patch unless asked');

    assert.equal(await gitIn(guest, 'status', '--porcelain'), statusBefore, "the guest's index is untouched");
    assert.deepEqual(readdirSync(join(guest, '.git')).filter((f) => f.startsWith('banger-export-index')), [], 'no temporary index is left');

    // The CLI reads the same changes client-side.
    const cli = await h.run(['vm', 'diff', 'box']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /5 files changed, 4 insertions\(\+\), 2 deletions\(-\)/);
  });

  it('adds the patch for reading with patch=1: text hunks, binary files named', async () => {
    const d = await diff('?patch=1');
    assert.equal(d.files.length, 5);
    assert.equal(d.truncated, false);
    assert.match(d.patch ?? '', /^diff --git a\/a\.txt b\/a\.txt$/m);
    assert.match(d.patch ?? '', /^-alpha$/m);
    assert.match(d.patch ?? '', /^\+alpha from the guest$/m);
    assert.match(d.patch ?? '', /^rename from dir\/b\.txt$/m);
    assert.match(d.patch ?? '', /^Binary files \/dev\/null and b\/guest-new\.bin differ$/m);
    assert.doesNotMatch(d.patch ?? '', /GIT binary patch/, 'binary content is not sent to the page');
    await rejects(diff('?patch=yes'), 'bad_request', /patch="yes" is not a yes\/no value[^]*patch=1/);
  });

  it('cuts a patch larger than the limit and says so', async () => {
    const big = Array.from({ length: 40_000 }, (_, i) => `line ${i} ${'x'.repeat(30)}`).join('\n');
    writeFileSync(join(guest, 'big.txt'), big + '\n');
    const d = await diff('?patch=1');
    assert.equal(d.truncated, true);
    assert.equal(Buffer.byteLength(d.patch ?? ''), d.patchLimit);
    assert.deepEqual(d.files.find((f) => f.path === 'big.txt'), { path: 'big.txt', added: 40_000, deleted: 0 });
    rmSync(join(guest, 'big.txt'));
  });

  it('refuses a VM without a workspace, one that is not running, and a guest whose repository is gone', async () => {
    await rejects(h.client().get('/vms/bare/workspace/diff'), 'not_found', /vm bare has no workspace[^]*banger vm workspace prepare bare PATH/);
    await rejects(h.client().get('/vms/nope/workspace/diff'), 'not_found', /nope/);
    await h.client().run(ROUTES.vmStop, { name: 'bare' }, {}, () => undefined);
    await rejects(h.client().get('/vms/bare/workspace/diff'), 'not_running', /not running[^]*banger vm start bare/);
    await run(['mv', join(guest, '.git'), join(guest, 'git-moved')]);
    try {
      await rejects(diff(), 'not_found', /vm box has no git repository at .*guest\/repo any more[^]*workspace prepare box/);
    } finally {
      await run(['mv', join(guest, 'git-moved'), join(guest, '.git')]);
    }
    assert.ok(existsSync(join(guest, '.git', 'HEAD')));
  });
});
