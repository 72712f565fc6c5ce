/** The DNS server with fake-driver VMs: each VM its own 127.77.x.y, dig answers it until delete, ssh NAME.vm works. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { run, runUnchecked, which } from '../../system/exec.js';
import { fakeWorld, type FakeWorld } from '../../testing/fake-services.js';
import { quietContext } from '../op-context.js';

const haveDig = which('dig') !== undefined;

async function dig(port: number, name: string): Promise<{ status: string; answer: string }> {
  const r = await run(['dig', '@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', '+noall', '+comments', '+answer', name, 'A'], { timeoutMs: 10_000 });
  const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? '?';
  const answer = r.stdout.split('\n').find((l) => /\sIN\s+A\s/.test(l))?.trim().split(/\s+/).pop() ?? '';
  return { status, answer };
}

describe('dns server with fake-driver VMs', { skip: haveDig ? false : 'dig is not installed (scripts/install-deps.sh --test)' }, () => {
  let w: FakeWorld;
  let port = 0;
  before(async () => {
    w = await fakeWorld();
    port = Number(w.services.dns.addr()?.split(':')[1]);
    await w.services.vms.create({ name: 'a' }, quietContext());
    await w.services.vms.create({ name: 'b' }, quietContext());
  });
  after(async () => {
    await w.close();
  });

  it('gives each VM its own 127.77.x.y and answers <name>.vm with it', async () => {
    const [a, b] = [w.services.vms.show('a'), w.services.vms.show('b')];
    assert.match(a.sshHost ?? '', /^127\.77\.\d+\.\d+$/);
    assert.match(b.sshHost ?? '', /^127\.77\.\d+\.\d+$/);
    assert.notEqual(a.sshHost, b.sshHost);
    assert.deepEqual(await dig(port, 'a.vm'), { status: 'NOERROR', answer: a.sshHost });
    assert.deepEqual(await dig(port, 'B.VM'), { status: 'NOERROR', answer: b.sshHost });
    assert.equal((await dig(port, 'example.com')).status, 'REFUSED');
    const st = await w.services.dns.status();
    assert.deepEqual([st.answers, st.records], [true, 2]);
  });

  it('ssh with banger ssh_config reaches a.vm at its address (port 22 when it can be bound)', async () => {
    const a = w.services.vms.show('a');
    if (process.getuid?.() === 0) assert.equal(a.sshPort, 22);
    const cfg = await w.services.vms.syncSSHConfig();
    const r = await runUnchecked(['ssh', '-F', cfg, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', 'a.vm', 'echo', 'reached'], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'reached');
  });

  it('keeps the address across stop and start, and answers NXDOMAIN after delete', async () => {
    const before = w.services.vms.show('a').sshHost;
    await w.services.vms.stop('a');
    assert.equal((await dig(port, 'a.vm')).status, 'NXDOMAIN', 'a stopped VM is not answered');
    await w.services.vms.start('a', quietContext());
    assert.equal(w.services.vms.show('a').sshHost, before);
    assert.equal((await dig(port, 'a.vm')).answer, before);
    await w.services.vms.delete('a');
    assert.equal((await dig(port, 'a.vm')).status, 'NXDOMAIN');
    assert.equal((await dig(port, 'b.vm')).status, 'NOERROR');
  });
});
