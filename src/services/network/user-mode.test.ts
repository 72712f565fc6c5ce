/** User-mode leases: one loopback address per VM, kept across stop and start, port 22 when it can be bound. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { openStore } from '../../store/db.js';
import { LeaseRepo } from '../../store/leases.js';
import { VMRepo, type VMRow } from '../../store/vms.js';
import { existsSync } from 'node:fs';
import { BangerError } from '../../api/errors.js';
import { EgressProxy, EGRESS_PROXY_URL } from './egress-proxy.js';
import { isVmLoopback, loopbackFor, UserModeNetwork, type PortProbe, type UserEgress } from './user-mode.js';

function row(id: string): VMRow {
  const now = new Date().toISOString();
  return { id, name: `n${id.slice(-1)}`, imageId: 'i', state: 'stopped', spec: { vcpu: 1, memoryMiB: 256, diskSizeBytes: 1, nat: false }, runtime: {}, createdAt: now, updatedAt: now };
}

describe('user-mode network', () => {
  let dir = '';
  let db: Database;
  const vms = ['b00000000001', 'b00000000002', 'b00000000003'].map(row);
  before(() => {
    dir = mkdtempSync('/tmp/bum-');
    db = openStore(join(dir, 'state.db'));
    for (const v of vms) new VMRepo(db).insert(v);
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const probe = (privileged: boolean): PortProbe => ({ canListen: () => Promise.resolve(privileged), freePort: () => Promise.resolve(40000 + Math.floor(Math.random() * 20000)) });

  it('derives addresses inside 127.77.0.0/16 and never .0 or .255', () => {
    for (let i = 0; i < 2000; i++) assert.ok(isVmLoopback(loopbackFor(`vm${i}`)), loopbackFor(`vm${i}`));
    assert.equal(isVmLoopback('127.77.3.0'), false);
    assert.equal(isVmLoopback('127.77.3.255'), false);
    assert.equal(isVmLoopback('127.0.0.1'), false);
  });

  it('gives each VM its own address with port 22 when it can be bound, kept across detach and attach', async () => {
    const net = new UserModeNetwork(new LeaseRepo(db), probe(true));
    const a = await net.attach(vms[0]!);
    const b = await net.attach(vms[1]!);
    assert.ok(isVmLoopback(a.sshHost) && isVmLoopback(b.sshHost));
    assert.notEqual(a.sshHost, b.sshHost);
    assert.deepEqual([a.sshPort, b.sshPort], [22, 22]);
    // slirp's guest address, given as static so a trimmed boot's seed can put it on the card before networkd does.
    assert.deepEqual(a.guest, { mode: 'static', address: '10.0.2.15', prefix: 24, gateway: '10.0.2.2' });
    await net.detach(vms[0]!);
    assert.equal(new LeaseRepo(db).get(vms[0]!.id)?.ip, a.sshHost, 'the address stays leased while stopped');
    const again = await net.attach(vms[0]!);
    assert.deepEqual([again.sshHost, again.mac], [a.sshHost, a.mac]);
  });

  it('publishes ports on the VM\'s own address through the hypervisor, also while it is stopped (for its next start)', async () => {
    const net = new UserModeNetwork(new LeaseRepo(db), probe(true));
    const a = await net.attach(vms[0]!);
    await net.detach(vms[0]!);
    const calls: string[] = [];
    const hv = {
      publish: (addr: string, f: { hostPort: number; guestPort: number }) => Promise.resolve(void calls.push(`add ${addr}:${f.hostPort}-${f.guestPort}`)),
      unpublish: (addr: string, f: { hostPort: number }) => Promise.resolve(void calls.push(`remove ${addr}:${f.hostPort}`)),
    };
    const pub = net.publishing(vms[0]!, hv);
    assert.equal(pub.hostAddr, a.sshHost, 'the leased address, kept while stopped');
    assert.equal(pub.guestAddr, undefined, 'only published ports reach a user-mode guest');
    await pub.live?.publish({ hostPort: 8080, guestPort: 80 });
    await pub.live?.unpublish({ hostPort: 8080, guestPort: 80 });
    assert.deepEqual(calls, [`add ${a.sshHost}:8080-80`, `remove ${a.sshHost}:8080`]);
    assert.equal(net.publishing(vms[0]!, undefined).live, undefined, 'without a driver that changes forwards live, changes wait for the next start');
    await net.attach(vms[0]!);
  });

  it('picks another address when the derived one is held, and a free port when 22 cannot be bound', async () => {
    const leases = new LeaseRepo(db);
    const held = loopbackFor(vms[2]!.id);
    leases.put({ vmId: vms[1]!.id, mode: 'user', mac: '52:54:00:aa:bb:cc', ip: held, hostAddr: held, hostPort: 22 });
    const c = await new UserModeNetwork(leases, probe(false)).attach(vms[2]!);
    assert.notEqual(c.sshHost, held);
    assert.ok(c.sshPort >= 40000);
  });

  it('sweep forgets forwards of VMs that are not running but keeps their addresses; release frees the address', async () => {
    const leases = new LeaseRepo(db);
    const net = new UserModeNetwork(leases, probe(true));
    const before = leases.get(vms[0]!.id)!;
    const report = await net.sweep([vms[1]!]);
    assert.ok(report.removed.some((r) => r.includes(`${before.ip}:22`)), report.removed.join('; '));
    assert.equal(leases.get(vms[0]!.id)?.hostPort, undefined);
    assert.equal(leases.get(vms[0]!.id)?.ip, before.ip);
    assert.equal(leases.get(vms[1]!.id)?.hostPort, 22, 'a running VM keeps its forward');
    await net.release(vms[0]!);
    assert.equal(leases.get(vms[0]!.id), undefined);
  });

  it('sweep drops an address from before VM addresses were leased', async () => {
    const leases = new LeaseRepo(db);
    leases.put({ vmId: vms[0]!.id, mode: 'user', mac: '52:54:00:00:00:09', ip: '10.0.2.15' });
    const report = await new UserModeNetwork(leases, probe(true)).sweep([]);
    assert.ok(report.removed.includes(`address 10.0.2.15 of ${vms[0]!.id}`));
    assert.equal(leases.get(vms[0]!.id)?.ip, undefined);
  });

  it('gives a VM its egress proxy (socket and URL) while it runs: policy changes live, detach closes it, sweep reopens it', async () => {
    const proxy = new EgressProxy();
    let connector = true;
    const egress: UserEgress = { proxy, socketFor: (id) => join(dir, id, 'run', 'egress.sock'), connectorAvailable: () => connector };
    const net = new UserModeNetwork(new LeaseRepo(db), probe(true), egress);
    const vm = vms[1]!;
    const a = await net.attach(vm);
    assert.equal(a.mode, 'user');
    if (a.mode !== 'user') return;
    assert.equal(a.proxy, EGRESS_PROXY_URL);
    assert.equal(a.egressSocket, join(dir, vm.id, 'run', 'egress.sock'));
    assert.ok(existsSync(a.egressSocket), 'the daemon listens before the guest boots');
    assert.match((await proxy.decide({ vmName: vm.name, nat: false }, '192.0.2.1')).ok ? '' : 'refused', /refused/);
    await net.update({ ...vm, spec: { ...vm.spec, nat: true } });
    const egressReport = await net.egress({ ...vm, spec: { ...vm.spec, nat: true } });
    assert.equal(egressReport.running, true);
    assert.match(egressReport.note, /--nat, HTTP and HTTPS through banger's proxy/);
    await net.detach(vm);
    assert.equal(existsSync(a.egressSocket), false);
    assert.equal(proxy.has(vm.id), false);
    await net.sweep([vm]);
    assert.equal(proxy.has(vm.id), true, 'a VM still running after a daemon restart gets its listener back');
    await net.release(vm);
    assert.equal(proxy.has(vm.id), false);

    connector = false;
    const closed = await net.attach(vm);
    assert.equal(closed.mode === 'user' ? closed.egressSocket : 'tap', undefined, 'without the connector a VM without egress runs without the proxy');
    await assert.rejects(net.update({ ...vm, spec: { ...vm.spec, nat: true } }), (e: unknown) => e instanceof BangerError && e.code === 'unavailable' && /socat/.test(e.hint ?? ''));
    await assert.rejects(net.attach({ ...vm, spec: { ...vm.spec, nat: true } }), (e: unknown) => e instanceof BangerError && e.code === 'unavailable');
    await net.release(vm);
  });
});
