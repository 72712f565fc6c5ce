/**
 * `vm fork` without a guest: the concurrent restore of the children (bounded, all or nothing, the
 * failed child named), the per-child branch names, and the refusals of `--branch` checked before any
 * snapshot is taken (on the fake driver). The real fork, with a workspace and --branch, runs in
 * src/e2e/warm.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BangerError, operationFailed } from '../../api/errors.js';
import { fakeWorld, type FakeWorld } from '../../testing/fake-services.js';
import { quietContext, type OpContext } from '../op-context.js';
import { checkBranchName, childBranch, childNames, restoreChildren } from './fork.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Plays the restoring: each child takes `ms`, `fail` fails, and a cancelled one notices its signal. */
function play(opts: { ms?: number; fail?: string } = {}) {
  const state = new Map<string, string>();
  let running = 0;
  let peak = 0;
  const stages: string[] = [];
  return {
    state,
    stages,
    peak: () => peak,
    work: {
      restore: async (name: string, n: number, ctx: OpContext) => {
        running++;
        peak = Math.max(peak, running);
        state.set(name, 'starting');
        try {
          await ctx.stage('ssh', 'waiting for ssh', async () => {
            for (let t = 0; t < (opts.ms ?? 20); t += 5) {
              if (ctx.signal.aborted) throw new Error('operation cancelled');
              await tick(5);
            }
          });
          if (name === opts.fail) {
            state.set(name, 'error');
            throw operationFailed(`qemu of ${name} exited 1`, 'see the console');
          }
          state.set(name, 'running');
          return `${name}#${n}`;
        } catch (err) {
          if (state.get(name) !== 'error') state.delete(name);
          throw err;
        } finally {
          running--;
        }
      },
      remove: (name: string) => {
        state.delete(name);
        return Promise.resolve();
      },
    },
    ctx: (): OpContext => ({ ...quietContext(), stage: (id, label, fn) => (stages.push(`${id}|${label}`), fn()) }),
  };
}

describe('fork: restoring the children', () => {
  it('restores every child, at most `parallel` at once, results in name order, each child\'s progress under its own name', async () => {
    const p = play();
    const names = childNames('kid', 6);
    assert.deepEqual(names, ['kid-1', 'kid-2', 'kid-3', 'kid-4', 'kid-5', 'kid-6']);
    const out = await restoreChildren(names, p.work, p.ctx(), 4);
    assert.deepEqual(out, ['kid-1#1', 'kid-2#2', 'kid-3#3', 'kid-4#4', 'kid-5#5', 'kid-6#6']);
    assert.equal(p.peak(), 4, 'four at a time, not one after another and not all six');
    assert.ok(p.stages.includes('kid-5:ssh|kid-5: waiting for ssh'), p.stages.join('\n'));
    assert.deepEqual([...p.state.values()], Array(6).fill('running'));
  });

  it('when one child fails, every child is removed and the error names it, why, and that the others went', async () => {
    const p = play({ fail: 'kid-2' });
    const err = await restoreChildren(childNames('kid', 4), p.work, p.ctx(), 2).then(
      () => assert.fail('the fork succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BangerError);
    assert.equal(err.code, 'operation_failed');
    assert.equal(err.message, 'child kid-2 failed: qemu of kid-2 exited 1; all 4 children were removed (kid-1, kid-3, kid-4 too)');
    assert.equal(err.hint, 'see the console');
    assert.deepEqual([...p.state.keys()], [], 'no child is left, the failed one included');
  });

  it('a child that cannot be removed is named with a way to remove it', async () => {
    const p = play({ fail: 'kid-1' });
    const work = { ...p.work, remove: (name: string) => (name === 'kid-2' ? Promise.reject(new Error('busy')) : p.work.remove(name)) };
    const err = (await restoreChildren(childNames('kid', 2), work, p.ctx(), 2).catch((e: unknown) => e)) as BangerError;
    assert.match(err.message, /^child kid-1 failed: .*; could not remove kid-2 \(busy\)$/);
    assert.equal(err.hint, 'remove them with banger vm delete kid-2');
  });

  it('a cancelled fork removes the children it had restored', async () => {
    const p = play({ ms: 200 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    const err = (await restoreChildren(childNames('kid', 3), p.work, { ...p.ctx(), signal: ac.signal }, 2).catch((e: unknown) => e)) as BangerError;
    assert.match(err.message, /^the fork was cancelled; all 3 children were removed/);
    assert.deepEqual([...p.state.keys()], []);
  });

  it('--branch: {n} becomes the child number; names git refuses are refused with the rule', () => {
    assert.equal(childBranch('try-{n}', 3), 'try-3');
    assert.equal(childBranch('agent/{n}/x{n}', 12), 'agent/12/x12');
    assert.equal(childBranch('same', 2), 'same');
    for (const ok of ['try-1', 'agent/fix-2', 'a.b_c']) checkBranchName(ok);
    const refusals: Array<[string, RegExp]> = [
      ['', /empty/],
      ['-x', /starts with "-"/],
      ['a b', /a space/],
      ['a..b', /"\.\."/],
      ['a/', /ends with "\/"/],
      ['x.lock', /\.lock/],
      ['a/.hidden', /starts with "\."/],
      ['a:b', /one of/],
    ];
    for (const [name, why] of refusals) assert.throws(() => checkBranchName(name), (e: BangerError) => why.test(e.message) && /--branch try-\{n\}/.test(e.hint ?? ''), name);
  });
});

describe('fork refusals on the fake driver', () => {
  let w: FakeWorld;
  before(async () => {
    w = await fakeWorld();
    await w.services.vms.create({ name: 'par' }, quietContext());
  });
  after(async () => {
    await w.close();
  });

  it('refuses --branch for a parent without a workspace, with the way to give it one', () => {
    assert.throws(
      () => w.services.vms.checkFork('par', { count: 2, branch: 'try-{n}' }),
      (e: BangerError) => e.code === 'bad_request' && /vm par has no workspace, so --branch has no checkout to branch/.test(e.message) && /banger vm workspace prepare par PATH/.test(e.hint ?? ''),
    );
  });

  it('with a workspace, refuses a branch name git would refuse before any snapshot is taken', async () => {
    await w.services.vms.recordWorkspace('par', { sourcePath: '/src', guestPath: '/root/repo', headCommit: 'a'.repeat(40), preparedCommit: 'b'.repeat(40), includeUntracked: false });
    assert.throws(() => w.services.vms.checkFork('par', { count: 2, branch: 'try {n}' }), /--branch "try 1" is not a valid branch name/);
    w.services.vms.checkFork('par', { count: 2, branch: 'try-{n}' });
    assert.deepEqual(w.services.vms.snapshotList(), []);
  });
});
