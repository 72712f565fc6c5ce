/**
 * Workspaces through the CLI on a fake-driver VM (its guest is this host through `sshd -i`, so the
 * guest path is a scratch directory here): copy in, incremental copy, diff, export, apply, and the
 * refusals for bad input; commands that start in the workspace; the host's git identity in the guest.
 * `vm run` and `vm ssh` hand the terminal to ssh, so those run the CLI as a process of its own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VMInfo } from '../api/types.js';
import type { PrepareResult } from '../sdk/index.js';
import { run, runUnchecked } from '../system/exec.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { BANGER_BIN } from '../testing/cli-process.js';
import { tinyImageHome } from '../testing/tiny-image.js';
import { expectedTree, gitIn, makeWorkspaceRepo, treeState, UNTRACKED } from '../testing/workspace-repo.js';

/** A clean checkout of `files`, one commit on main. */
async function cleanRepo(dir: string, files: Record<string, string>): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await run(['git', 'init', '-q', '-b', 'main', dir]);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  await gitIn(dir, 'add', '-A');
  await gitIn(dir, 'commit', '-q', '-m', 'first');
  return dir;
}

describe('vm workspace (fake driver)', () => {
  let h: CliHarness;
  let repo = '';
  let guest = '';
  // The daemon's own global git config: the identity every VM gets at start.
  const hostGit = mkdtempSync(join(tmpdir(), 'banger-hostgit-'));
  writeFileSync(join(hostGit, 'gitconfig'), '[user]\n\tname = Grace Daemon\n\temail = grace@example.org\n');
  const cli = (args: string[], input = '') => runUnchecked([process.execPath, BANGER_BIN, ...args], { env: h.env, input, timeoutMs: 120_000 });
  before(async () => {
    h = await tinyImageHome({}, { env: { GIT_CONFIG_GLOBAL: join(hostGit, 'gitconfig') } });
    repo = join(h.home, 'src', 'repo');
    guest = join(h.home, 'guest', 'repo');
    await makeWorkspaceRepo(repo);
    await run(['git', '-C', repo, 'config', 'user.name', 'Ada Host']);
    await run(['git', '-C', repo, 'config', 'user.email', 'ada@example.org']);
    const r = await h.run(['vm', 'create', '--name', 'box']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await h.run(['vm', 'delete', 'box']);
    await h.cleanup();
    rmSync(hostGit, { recursive: true, force: true });
  });

  const prepare = async (...extra: string[]) => {
    const r = await h.run(['--json', 'vm', 'workspace', 'prepare', 'box', repo, '--guest-path', guest, ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as PrepareResult;
  };

  it('refuses what is not a checkout, before touching the VM', async () => {
    const plain = join(h.home, 'plain');
    mkdirSync(plain, { recursive: true });
    let r = await h.run(['vm', 'workspace', 'prepare', 'box', plain, '--guest-path', guest]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /not inside a git repository/);
    const bare = join(h.home, 'bare.git');
    await run(['git', 'init', '-q', '--bare', bare]);
    r = await h.run(['vm', 'workspace', 'prepare', 'box', bare, '--guest-path', guest]);
    assert.match(r.stderr, /bare git repository/);
    r = await h.run(['vm', 'workspace', 'prepare', 'box', join(h.home, 'nope')]);
    assert.match(r.stderr, /does not exist/);
    r = await h.run(['vm', 'workspace', 'prepare', 'box', repo, '--guest-path', 'relative/dir']);
    assert.match(r.stderr, /not an absolute directory/);
    r = await h.run(['vm', 'workspace', 'prepare', 'box', repo, '--from', 'main']);
    assert.match(r.stderr, /--from needs --branch/);
    r = await h.run(['vm', 'workspace', 'export', 'box']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /vm box has no workspace/);
    assert.match(r.stderr, /banger vm workspace prepare box PATH/);
  });

  it('refuses a checkout with submodules unless --submodules, then copies their files', async () => {
    const sub = join(h.home, 'sub');
    const sup = join(h.home, 'super');
    await run(['git', 'init', '-q', sub]);
    writeFileSync(join(sub, 'inner.txt'), 'inner\n');
    await gitIn(sub, 'add', '-A');
    await gitIn(sub, 'commit', '-q', '-m', 'sub');
    await run(['git', 'init', '-q', sup]);
    writeFileSync(join(sup, 'top.txt'), 'top\n');
    await gitIn(sup, 'add', '-A');
    await gitIn(sup, '-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', sub, 'lib');
    await gitIn(sup, 'commit', '-q', '-m', 'super');
    const dest = join(h.home, 'guest', 'super');
    let r = await h.run(['vm', 'workspace', 'prepare', 'box', sup, '--guest-path', dest]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /has submodules \(lib\)/);
    assert.match(r.stderr, /--submodules/);
    r = await h.run(['vm', 'workspace', 'prepare', 'box', sup, '--guest-path', dest, '--submodules']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(dest, 'lib', 'inner.txt'), 'utf8'), 'inner\n');
  });

  it('--dry-run lists the tracked files and sends nothing', async () => {
    const r = await h.run(['vm', 'workspace', 'prepare', 'box', repo, '--guest-path', guest, '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    const listed = r.stdout.trim().split('\n');
    assert.ok(listed.includes('with space.txt') && listed.includes('staged.txt') && listed.includes('link'));
    assert.ok(!listed.includes('gone.txt') && !listed.includes('debug.log') && !listed.includes(UNTRACKED[0]!));
    assert.throws(() => readFileSync(join(guest, 'a.txt')));
  });

  it('copies tracked files with their content, modes and symlinks; git in the guest sees the host\'s changes', async () => {
    const res = await prepare();
    assert.equal(res.incremental, false);
    assert.deepEqual(await treeState(guest), await expectedTree(repo, false));
    const status = await gitIn(guest, 'status', '--porcelain');
    assert.match(status, /^ M a\.txt$/m);
    assert.match(status, /^ D gone\.txt$/m);
    assert.match(status, /^\?\? staged\.txt$/m);
    assert.match(await gitIn(guest, 'log', '--format=%s'), /first commit/);
    const who = await run(['git', '-C', guest, 'config', '--local', '--get-regexp', '^user\\.']);
    assert.equal(who.stdout, 'user.name Ada Host\nuser.email ada@example.org\n', "the host's git identity came along");
    const show = JSON.parse((await h.run(['--json', 'vm', 'show', 'box'])).stdout) as VMInfo;
    assert.equal(show.workspace?.guestPath, guest);
    assert.equal(show.workspace?.headCommit, (await gitIn(repo, 'rev-parse', 'HEAD')).trim());
    assert.equal(show.workspace?.sourcePath, repo);
  });

  it('a second prepare sends only what changed: the untracked file, then one edited file', async () => {
    const withUntracked = await prepare('--include-untracked');
    assert.equal(withUntracked.incremental, true);
    assert.equal(withUntracked.sentFiles, 1);
    assert.deepEqual(await treeState(guest), await expectedTree(repo, true));
    writeFileSync(join(repo, 'run.sh'), '#!/bin/sh\necho changed\n');
    const one = await prepare('--include-untracked');
    assert.equal(one.sentFiles, 1);
    assert.equal(one.bundleBytes, 0);
    assert.deepEqual(await treeState(guest), await expectedTree(repo, true));
  });

  it('a host commit comes along as history only', async () => {
    await gitIn(repo, 'commit', '-q', '-m', 'second commit');
    const r = await prepare('--include-untracked');
    assert.ok(r.bundleBytes > 0);
    assert.equal(r.sentFiles, 0);
    assert.match(await gitIn(guest, 'log', '-1', '--format=%s'), /second commit/);
    assert.deepEqual(await treeState(guest), await expectedTree(repo, true));
  });

  it('a later prepare follows removals and kind changes (file to directory or symlink, directory to file), with short and long change lists', async () => {
    const start = await treeState(guest);
    const kinds = join(repo, 'kinds');
    mkdirSync(kinds);
    for (const f of ['f1', 'f2', 'f3']) writeFileSync(join(kinds, f), `${f}\n`);
    mkdirSync(join(repo, 'many'));
    // Enough long names that the list of removed paths no longer fits on a command line.
    for (let i = 0; i < 160; i++) writeFileSync(join(repo, 'many', `${'n'.repeat(200)}-${i}.txt`), `${i}\n`);
    assert.equal((await prepare('--include-untracked')).sentFiles, 163);
    assert.deepEqual(await treeState(guest), await expectedTree(repo, true));

    rmSync(join(kinds, 'f1'));
    mkdirSync(join(kinds, 'f1'));
    writeFileSync(join(kinds, 'f1', 'inner.txt'), 'inner\n');
    rmSync(join(kinds, 'f2'));
    await run(['ln', '-s', '../a.txt', join(kinds, 'f2')]);
    rmSync(join(kinds, 'f3'));
    const short = await prepare('--include-untracked');
    assert.deepEqual([short.incremental, short.sentFiles, short.deletedFiles], [true, 2, 2]);
    assert.deepEqual(await treeState(guest), await expectedTree(repo, true));

    rmSync(join(repo, 'many'), { recursive: true });
    rmSync(kinds, { recursive: true });
    writeFileSync(kinds, 'a file where a directory was\n');
    const long = await prepare('--include-untracked');
    assert.deepEqual([long.incremental, long.sentFiles, long.deletedFiles], [true, 1, 162]);
    assert.deepEqual(await treeState(guest), await expectedTree(repo, true));

    rmSync(kinds);
    await prepare('--include-untracked');
    assert.deepEqual(await treeState(guest), start);
    assert.equal(await gitIn(guest, 'ls-files', 'kinds', 'many'), '');
  });

  it('guest edits, deletes, renames and a commit come back through diff, export and apply', async () => {
    writeFileSync(join(guest, 'a.txt'), 'alpha from the guest\n');
    rmSync(join(guest, 'with space.txt'));
    renameSync(join(guest, 'dir', 'b.txt'), join(guest, 'dir', 'c.txt'));
    writeFileSync(join(guest, 'guest-new.bin'), Buffer.from([0, 200, 3]));
    await gitIn(guest, 'add', '-A');
    await gitIn(guest, 'commit', '-q', '-m', 'guest commit');
    writeFileSync(join(guest, 'after-commit.txt'), 'uncommitted\n');
    const indexBefore = readFileSync(join(guest, '.git', 'index'));

    const diff = await h.run(['vm', 'diff', 'box']);
    assert.equal(diff.code, 0, diff.stderr);
    for (const f of ['a.txt', 'with space.txt', 'after-commit.txt', 'guest-new.bin']) assert.ok(diff.stdout.includes(f), `${f} in ${diff.stdout}`);
    assert.match(diff.stdout, /rename dir\/\{b\.txt => c\.txt\}/);

    const patchFile = join(h.home, 'work.patch');
    const exp = await h.run(['vm', 'workspace', 'export', 'box', '--output', patchFile]);
    assert.equal(exp.code, 0, exp.stderr);
    assert.deepEqual(readFileSync(join(guest, '.git', 'index')), indexBefore, "the guest's index is untouched");
    const check = await runUnchecked(['git', '-C', repo, 'apply', '--check', patchFile]);
    assert.equal(check.code, 0, check.stderr);

    writeFileSync(join(repo, 'a.txt'), 'a conflicting host edit\n');
    const refused = await h.run(['vm', 'workspace', 'apply', 'box']);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /local changes to 1 file the guest also changed: a\.txt; nothing was applied/);
    assert.equal(readFileSync(join(repo, 'a.txt'), 'utf8'), 'a conflicting host edit\n');
    assert.ok(readFileSync(join(repo, 'with space.txt')));

    writeFileSync(join(repo, 'a.txt'), 'alpha\nline two\nstaged line\n');
    const applied = await h.run(['vm', 'workspace', 'apply', 'box']);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stderr, /applied 6 files/);
    assert.deepEqual(await treeState(repo).then((t) => t.filter((l) => !l.startsWith('debug.log\t'))), await treeState(guest));
  });

  it('export --base-commit: the whole change since the host HEAD; an unknown commit is not_found', async () => {
    const head = (await gitIn(repo, 'rev-parse', 'HEAD')).trim();
    const r = await h.run(['vm', 'workspace', 'export', 'box', '--base-commit', head]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^diff --git a\/gone\.txt b\/gone\.txt$/m, 'the host\'s uncommitted work copied in (its deletion of gone.txt) is part of it');
    const bad = await h.run(['vm', 'workspace', 'export', 'box', '--base-commit', 'deadbeefdeadbeef']);
    assert.equal(bad.code, 3, bad.stderr);
    assert.match(bad.stderr, /commit deadbeefdeadbeef is not in the guest's repository/);
  });

  it('vm exec runs in the workspace', async () => {
    const r = await h.run(['vm', 'exec', 'box', '--', 'pwd']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), guest);
  });
  it('tooling bootstrap: pinned versions are named; without mise in the image it says so and skips; --no-bootstrap is quiet', async () => {
    const pinned = join(h.home, 'pinned');
    mkdirSync(pinned, { recursive: true });
    await run(['git', 'init', '-q', pinned]);
    writeFileSync(join(pinned, 'go.mod'), 'module m\n\ngo 1.22\n');
    writeFileSync(join(pinned, '.python-version'), '3.12\n');
    await run(['git', '-C', pinned, 'add', '-A']);
    await run(['git', '-C', pinned, '-c', 'user.name=a', '-c', 'user.email=a@example.org', 'commit', '-q', '-m', 'pins']);
    const dest = join(h.home, 'guest', 'pinned');
    let r = await h.run(['vm', 'workspace', 'prepare', 'box', pinned, '--guest-path', dest]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /tooling: mise install for go@1\.22 \(go\.mod\), python@3\.12 \(\.python-version\)/);
    assert.match(r.stderr, /warning: the image has no mise; tooling bootstrap skipped/);
    r = await h.run(['vm', 'workspace', 'prepare', 'box', pinned, '--guest-path', dest, '--no-bootstrap']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /tooling|mise/);
  });

  it("the host's git identity is the guest's global one: a commit outside any workspace carries it", async () => {
    const elsewhere = join(h.home, 'guest', 'elsewhere');
    mkdirSync(elsewhere, { recursive: true });
    const r = await h.run(['vm', 'exec', 'box', '--guest-path', elsewhere, '--', 'sh', '-c', 'git init -q x && cd x && git commit -q --allow-empty -m m && git log -1 --format="%an <%ae>"']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'Grace Daemon <grace@example.org>');
  });

  it('vm run PATH --guest-path X -- cmd runs in the workspace; --branch with --branch-from makes the guest branch there', async () => {
    const src = await cleanRepo(join(h.home, 'src', 'branchy'), { 'v.txt': 'one\n' });
    writeFileSync(join(src, 'v.txt'), 'two\n');
    await gitIn(src, 'commit', '-q', '-am', 'second');
    const first = (await gitIn(src, 'rev-parse', 'HEAD~1')).trim();
    const dest = join(h.home, 'guest', 'run-here');
    const r = await cli(['vm', 'run', src, '--guest-path', dest, '--branch', 'try', '--branch-from', 'HEAD~1', '--rm', '--', 'sh', '-c', 'pwd; git symbolic-ref --short HEAD; git rev-parse HEAD; cat v.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [dest, 'try', first, 'one']);
  });

  it('vm workspace prepare --branch NAME --from REF checks out a guest-only branch at REF', async () => {
    const src = join(h.home, 'src', 'branchy');
    const dest = join(h.home, 'guest', 'branchy');
    const first = (await gitIn(src, 'rev-parse', 'HEAD~1')).trim();
    const r = await h.run(['vm', 'workspace', 'prepare', 'box', src, '--guest-path', dest, '--branch', 'feature', '--from', first.slice(0, 10)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await gitIn(dest, 'symbolic-ref', 'HEAD')).trim(), 'refs/heads/feature');
    assert.equal((await gitIn(dest, 'rev-parse', 'feature')).trim(), first);
    assert.equal(readFileSync(join(dest, 'v.txt'), 'utf8'), 'one\n');
    assert.equal((await runUnchecked(['git', '-C', src, 'rev-parse', '-q', '--verify', 'refs/heads/feature'])).code, 1, 'the branch is the guest\'s only');
  });

  it('vm exec --auto-prepare copies again when the host HEAD moved, and not when it did not', async () => {
    const src = await cleanRepo(join(h.home, 'src', 'moving'), { 'm.txt': 'm1\n' });
    const dest = join(h.home, 'guest', 'moving');
    assert.equal((await h.run(['vm', 'workspace', 'prepare', 'box', src, '--guest-path', dest])).code, 0);
    const head = async () => (await gitIn(src, 'rev-parse', 'HEAD')).trim();
    const before = await head();
    let r = await h.run(['vm', 'exec', 'box', '--auto-prepare', '--', 'git', 'rev-parse', 'HEAD']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), before);
    assert.doesNotMatch(r.stderr, /ready/, 'nothing to copy: no prepare');

    writeFileSync(join(src, 'm.txt'), 'm2\n');
    await gitIn(src, 'commit', '-q', '-am', 'moved');
    r = await h.run(['vm', 'exec', 'box', '--', 'cat', 'm.txt']);
    assert.equal(r.stdout, 'm1\n');
    assert.match(r.stderr, /moved to [0-9a-f]{12} since it was copied.*--auto-prepare copies the changes/);
    r = await h.run(['vm', 'exec', 'box', '--auto-prepare', '--', 'sh', '-c', 'git rev-parse HEAD; cat m.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`box:${dest} ready \\(`));
    assert.deepEqual(r.stdout.trim().split('\n'), [await head(), 'm2']);
    const shown = JSON.parse((await h.run(['--json', 'vm', 'show', 'box'])).stdout) as VMInfo;
    assert.equal(shown.workspace?.headCommit, await head(), 'the new base is recorded');
  });

  it('vm ssh starts in the workspace', async () => {
    const r = await cli(['vm', 'ssh', 'box'], 'pwd\nexit\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').pop(), join(h.home, 'guest', 'moving'));
  });

  it('workspace apply merges 3-way when the host moved on in the same file without conflicting', async () => {
    const lines = Array.from({ length: 12 }, (_, i) => `line ${i + 1}`);
    const src = await cleanRepo(join(h.home, 'src', 'three'), { 'f.txt': lines.join('\n') + '\n' });
    const dest = join(h.home, 'guest', 'three');
    assert.equal((await h.run(['vm', 'workspace', 'prepare', 'box', src, '--guest-path', dest])).code, 0);
    writeFileSync(join(dest, 'f.txt'), ['line 1 from the guest', ...lines.slice(1)].join('\n') + '\n');
    // Inside the guest's hunk context (so a plain apply fails), two lines away from its change.
    writeFileSync(join(src, 'f.txt'), [...lines.slice(0, 3), 'line 4 from the host', ...lines.slice(4)].join('\n') + '\n');
    await gitIn(src, 'commit', '-q', '-am', 'host moved on');
    const r = await h.run(['vm', 'workspace', 'apply', 'box']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /applied 1 file to .*\(3-way merge; the result is staged\)/);
    assert.equal(readFileSync(join(src, 'f.txt'), 'utf8'), ['line 1 from the guest', ...lines.slice(1, 3), 'line 4 from the host', ...lines.slice(4)].join('\n') + '\n');
  });
});
