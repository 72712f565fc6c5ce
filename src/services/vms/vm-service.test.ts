/**
 * The VM lifecycle on the fake driver: real store, real files, real VM processes that answer SSH with
 * the pinned host key, in seconds. QEMU end-to-end tests cover the same paths with real guests.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { BangerError } from '../../api/errors.js';
import { exec as sshExec } from '../../drivers/ssh/client.js';
import { vmFiles } from '../../model/filenames.js';
import { listProcesses, pidAlive, signalProcess, waitForExit } from '../../system/proc.js';
import { LeaseRepo } from '../../store/leases.js';
import { VMRepo } from '../../store/vms.js';
import { fakeWorld, type FakeWorld } from '../../testing/fake-services.js';
import { quietContext, type OpContext } from '../op-context.js';

const GiB = 1024 ** 3;

function stagesContext(signal?: AbortSignal): OpContext & { stages: string[] } {
  const stages: string[] = [];
  const base = quietContext(signal);
  return { ...base, stages, stage: (id, _label, fn) => (stages.push(id), fn()) };
}

function code(err: unknown): string {
  return err instanceof BangerError ? err.code : `not a BangerError: ${String(err)}`;
}

describe('vm service on the fake driver', () => {
  let w: FakeWorld;
  before(async () => {
    w = await fakeWorld({ bootDelayMs: 300 });
  });
  after(async () => {
    await w.close();
  });

  it('create boots a VM and marks it running only once SSH with the pinned key answers', async () => {
    const ctx = stagesContext();
    const info = await w.services.vms.create({ name: 'alpha' }, ctx);
    assert.equal(info.state, 'running');
    assert.deepEqual(ctx.stages, ['hypervisor', 'image', 'disks', 'network', 'seed', 'boot', 'ssh']);
    const r = await sshExec(w.services.vms.sshTarget('alpha'), ['echo', 'hello'], { timeoutMs: 10_000 });
    assert.equal(r.stdout.trim(), 'hello');
    assert.equal(info.spec.rootSizeBytes, 8 * GiB);
    const root = vmFiles(w.layout.vmsDir, info.id).rootDisk('raw');
    assert.equal(statSync(root).size, 8 * GiB, 'the root disk has the requested virtual size');
    assert.ok(statSync(root).blocks * 512 < 64 * 1024 ** 2, 'and stays sparse');
    const lease = new LeaseRepo(w.db).get(info.id);
    assert.ok(lease?.mac && lease.hostPort === info.sshPort, 'the network lease records the MAC and the forwarded port');
  });

  it('a VM whose SSH never answers ends in error with lastError, its process gone, and ssh/exec refuse it', async () => {
    const m = await fakeWorld({ noSsh: ['mute'] }, { ssh_wait_timeout: '2s' });
    try {
      await assert.rejects(m.services.vms.create({ name: 'mute' }, quietContext()), /did not become reachable over ssh/);
      const show = m.services.vms.show('mute');
      assert.equal(show.state, 'error');
      assert.match(show.lastError ?? '', /did not become reachable/);
      assert.equal(show.pid, undefined);
      assert.deepEqual(processesOf(show.id), [], 'no process of the failed VM is left');
      assert.throws(() => m.services.vms.sshTarget('mute'), (e: unknown) => code(e) === 'not_running' && /banger vm logs mute/.test((e as BangerError).hint ?? ''));
      await assert.rejects(m.services.vms.start('mute', quietContext()), /did not become reachable/, 'an error VM can be started again');
      await m.services.vms.delete('mute');
      assert.deepEqual(m.services.vms.list(), []);
    } finally {
      await m.close();
    }
  });

  it('refuses a name that looks like an id, and resolves names, ids and id prefixes without ambiguity', async () => {
    const alpha = w.services.vms.show('alpha');
    await assert.rejects(async () => w.services.vms.create({ name: alpha.id, noStart: true }, quietContext()), (e: unknown) => code(e) === 'bad_request' && /looks like a VM id/.test((e as Error).message));
    assert.equal(w.services.vms.show(alpha.id).name, 'alpha');
    assert.equal(w.services.vms.show(alpha.id.slice(0, 5)).name, 'alpha');
    assert.throws(() => w.services.vms.show(alpha.id.slice(0, 3)), (e: unknown) => code(e) === 'not_found' && /at least 4/.test((e as Error).message));
  });

  it('stop is graceful, start boots again, restart holds the lock once, kill forces it down', async () => {
    const stopped = await w.services.vms.stop('alpha');
    assert.equal(stopped.state, 'stopped');
    assert.equal(stopped.stoppedReason, 'stopped');
    assert.equal(w.services.vms.show('alpha').pid, undefined);
    const started = await w.services.vms.start('alpha', quietContext());
    assert.equal(started.state, 'running');
    await assert.rejects(w.services.vms.start('alpha', quietContext()), (e: unknown) => code(e) === 'bad_request');
    const restarted = await w.services.vms.restart('alpha', quietContext());
    assert.equal(restarted.state, 'running');
    assert.notEqual(restarted.pid, started.pid);
    const killed = await w.services.vms.kill('alpha');
    assert.equal(killed.state, 'stopped');
    assert.equal(killed.stoppedReason, 'killed with SIGKILL');
    assert.equal(started.pid !== undefined && pidAlive(restarted.pid!), false);
    await assert.rejects(w.services.vms.kill('alpha'), (e: unknown) => code(e) === 'not_running');
  });

  it('a VM whose process dies is shown stopped without a write, and the next mutating call settles it', async () => {
    const info = await w.services.vms.start('alpha', quietContext());
    signalProcess(info.pid!, 'SIGKILL');
    assert.ok(await waitForExit(info.pid!, 5000));
    const repo = new VMRepo(w.db);
    const before = repo.get(info.id)!;
    const shown = w.services.vms.show('alpha');
    assert.equal(shown.state, 'stopped');
    assert.match(shown.stoppedReason ?? '', /process exited/);
    assert.equal(w.services.vms.list().find((v) => v.name === 'alpha')?.state, 'stopped');
    assert.equal(repo.get(info.id)!.state, 'running', 'reads never write');
    assert.equal(repo.get(info.id)!.updatedAt, before.updatedAt);
    const again = await w.services.vms.start('alpha', quietContext());
    assert.equal(again.state, 'running');
  });

  it('prune never deletes a VM that another request is creating', async () => {
    const creating = w.services.vms.create({ name: 'busy' }, quietContext());
    await new Promise((r) => setTimeout(r, 50));
    const pruned = await w.services.vms.prune();
    assert.ok(pruned.skipped.includes('busy'), JSON.stringify(pruned));
    assert.ok(!pruned.deleted.includes('busy'));
    const info = await creating;
    assert.equal(info.state, 'running');
    const again = await w.services.vms.prune();
    assert.ok(!again.deleted.includes('busy') && !again.deleted.includes('alpha'), 'running VMs are kept');
    await w.services.vms.delete('busy');
  });

  it('delete waits for a create in progress, then removes process, files, lease and row', async () => {
    const creating = w.services.vms.create({ name: 'doomed' }, quietContext());
    await new Promise((r) => setTimeout(r, 20));
    const id = new VMRepo(w.db).byName('doomed')!.id;
    const deleted = await w.services.vms.delete('doomed');
    assert.deepEqual(deleted, { deleted: 'doomed' });
    assert.equal((await creating).state, 'running', 'the create finished before delete ran');
    assert.equal(new VMRepo(w.db).get(id), undefined);
    assert.equal(new LeaseRepo(w.db).get(id), undefined);
    assert.equal(existsSync(vmFiles(w.layout.vmsDir, id).dir), false);
    assert.deepEqual(processesOf(id), []);
  });

  it('a cancelled create removes the VM and its process', async () => {
    const ac = new AbortController();
    const ctx = stagesContext(ac.signal);
    const creating = w.services.vms.create({ name: 'cancelme' }, { ...ctx, stage: (id, l, fn) => (id === 'ssh' && ac.abort(), ctx.stage(id, l, fn)) });
    await assert.rejects(creating);
    assert.throws(() => w.services.vms.show('cancelme'), (e: unknown) => code(e) === 'not_found');
    assert.deepEqual(new VMRepo(w.db).list().filter((r) => r.name === 'cancelme'), []);
  });

  it('set changes a stopped VM and refuses a running one', async () => {
    await assert.rejects(w.services.vms.set('alpha', { vcpu: 1 }), (e: unknown) => code(e) === 'bad_request' && /stop it first/.test((e as BangerError).hint ?? ''));
    await w.services.vms.stop('alpha');
    const changed = await w.services.vms.set('alpha', { vcpu: 1, memoryMiB: 256 });
    assert.equal(changed.spec.vcpu, 1);
    assert.equal(changed.spec.memoryMiB, 256);
  });

  it('a restarted daemon adopts live VMs, stops dead ones, removes unfinished creates and orphan processes', async () => {
    const live = await w.services.vms.create({ name: 'survivor' }, quietContext());
    const dead = await w.services.vms.create({ name: 'victim' }, quietContext());
    const orphan = await w.services.vms.create({ name: 'orphan' }, quietContext());
    signalProcess(dead.pid!, 'SIGKILL');
    await waitForExit(dead.pid!, 5000);
    const repo = new VMRepo(w.db);
    repo.delete(orphan.id);
    const unfinished = await w.services.vms.create({ name: 'halfmade', noStart: true }, quietContext());
    w.db.prepare("UPDATE vms SET state = 'created' WHERE id = ?").run(unfinished.id);

    const restarted = await w.restart();
    assert.equal(restarted.vms.show('survivor').state, 'running');
    assert.equal(restarted.vms.show('survivor').pid, live.pid);
    assert.equal(repo.byName('victim')!.state, 'stopped');
    assert.match(repo.byName('victim')!.runtime.stoppedReason ?? '', /gone when the daemon started/);
    assert.equal(repo.byName('halfmade'), undefined);
    assert.equal(existsSync(vmFiles(w.layout.vmsDir, unfinished.id).dir), false);
    assert.ok(await waitForExit(orphan.pid!, 5000), 'the orphan VM process was killed');
    assert.equal(existsSync(vmFiles(w.layout.vmsDir, orphan.id).dir), false);
    const r = await sshExec(restarted.vms.sshTarget('survivor'), ['true'], { timeoutMs: 10_000 });
    assert.equal(r.code, 0);
    for (const n of ['survivor', 'victim']) await restarted.vms.delete(n);
  });
});

/** Live processes whose command line names a file of this VM. */
function processesOf(vmId: string): number[] {
  return listProcesses()
    .filter((p) => p.argv.some((a) => a.includes(`/vms/${vmId}/`)))
    .map((p) => p.pid);
}
