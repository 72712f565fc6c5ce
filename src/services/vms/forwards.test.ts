/**
 * Published ports through the VM service on the fake driver (real store, real VM processes): stored at
 * create, kept across stop, start and a daemon restart, a taken host port refusing the start with a
 * hint, and `vm forward` on stopped and running VMs. The QEMU end-to-end test (e2e/user-net.test.ts)
 * covers the same paths with real forwards into a guest.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { BangerError } from '../../api/errors.js';
import { canListen } from '../../system/net.js';
import { fakeWorld, type FakeWorld } from '../../testing/fake-services.js';
import { quietContext } from '../op-context.js';

function code(err: unknown): string {
  return err instanceof BangerError ? err.code : `not a BangerError: ${String(err)}`;
}

function hold(addr: string, port: number): Promise<Server> {
  const s = createServer().listen(port, addr);
  return new Promise((resolve, reject) => {
    s.once('listening', () => resolve(s));
    s.once('error', reject);
  });
}

describe('published ports on the fake driver', () => {
  let w: FakeWorld;
  before(async () => {
    w = await fakeWorld({ bootDelayMs: 100 });
  });
  after(async () => {
    await w.close();
  });

  it('create stores -p ports; bad specs are refused before anything is made', async () => {
    const info = await w.services.vms.create({ name: 'web', ports: ['18080:80', '3000'] }, quietContext());
    assert.equal(info.state, 'running');
    assert.deepEqual(info.spec.ports, [{ hostPort: 18080, guestPort: 80 }, { hostPort: 3000, guestPort: 3000 }]);
    await assert.rejects(async () => w.services.vms.create({ name: 'bad', ports: ['80:99999'] }, quietContext()), (e: unknown) => code(e) === 'bad_request' && /99999/.test((e as Error).message));
    await assert.rejects(async () => w.services.vms.create({ name: 'twice', ports: ['80', '80:81'] }, quietContext()), (e: unknown) => code(e) === 'bad_request' && /given twice/.test((e as Error).message));
    assert.deepEqual(w.services.vms.list().map((v) => v.name), ['web'], 'no VM row is left by a refused create');
  });

  it('vm forward on a running VM whose driver cannot change forwards live stores them for the next start', async () => {
    const r = await w.services.vms.forward('web', { add: ['18081:81'] });
    assert.match(r.pending ?? '', /next start/);
    assert.deepEqual(w.services.vms.show('web').spec.ports?.map((p) => p.hostPort), [18080, 3000, 18081]);
    await assert.rejects(w.services.vms.forward('web', { add: ['18080:82'] }), (e: unknown) => code(e) === 'already_exists' && /--remove 18080/.test((e as BangerError).hint ?? ''));
    const ssh = w.services.vms.show('web').sshPort!;
    await assert.rejects(w.services.vms.forward('web', { add: [`${ssh}:2222`] }), (e: unknown) => code(e) === 'already_exists' && /sshd/.test((e as Error).message));
    await assert.rejects(w.services.vms.forward('web', { remove: [1] }), (e: unknown) => code(e) === 'bad_request');
  });

  it('a stopped VM changes its forwards without pending; a taken host port refuses the start, which works once freed', async () => {
    const addr = w.services.vms.show('web').sshHost!;
    assert.match(addr, /^127\.77\./);
    await w.services.vms.stop('web');
    const r = await w.services.vms.forward('web', { remove: [18081] });
    assert.equal(r.pending, undefined);
    assert.deepEqual(r.published, [{ hostPort: 18080, guestPort: 80 }, { hostPort: 3000, guestPort: 3000 }]);
    const squatter = await hold(addr, 18080);
    try {
      await assert.rejects(
        w.services.vms.start('web', quietContext()),
        (e: unknown) => code(e) === 'already_exists' && new RegExp(`${addr.replaceAll('.', '\\.')}:18080`).test((e as Error).message) && /vm forward web --remove 18080/.test((e as BangerError).hint ?? ''),
      );
      const after = w.services.vms.show('web');
      assert.notEqual(after.state, 'running');
      assert.equal(after.pid, undefined, 'no VM process is left by the refused start');
    } finally {
      await new Promise((r) => squatter.close(r));
    }
    const started = await w.services.vms.start('web', quietContext());
    assert.equal(started.state, 'running');
    assert.equal(started.sshHost, addr, 'the VM keeps its own address');
  });

  it('a restarted daemon has the same published ports; delete frees them', async () => {
    const again = await w.restart();
    const web = again.vms.show('web');
    assert.equal(web.state, 'running');
    assert.deepEqual(web.spec.ports, [{ hostPort: 18080, guestPort: 80 }, { hostPort: 3000, guestPort: 3000 }]);
    await again.vms.delete('web');
    assert.equal(await canListen(web.sshHost!, web.sshPort!), true, 'the sshd forward is gone with the VM');
  });
});
