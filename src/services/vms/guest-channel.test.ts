/**
 * `vm health` and `vm ports` through the driver's vsock guest channel: a firecracker VM on the
 * stand-in (whose vsock device answers like the guest bits) is asked over vsock; the SSH target
 * points at a port nothing serves, so an answer proves the vsock path, and a failure shows the SSH
 * fallback was taken.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SSHTarget } from '../../api/types.js';
import { FirecrackerDriver } from '../../drivers/firecracker/driver.js';
import type { VMHandle } from '../../drivers/hypervisor.js';
import { installStandin, standinSpec, tinyVmlinux } from '../../testing/firecracker/fixture.js';
import type { VMRow } from '../../store/vms.js';
import { vmHealth } from './health.js';
import { guestPorts } from './ports.js';

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('vm health and vm ports over the vsock guest channel', () => {
  let work = '';
  let d: FirecrackerDriver;
  let h: VMHandle;
  let target: SSHTarget;
  const row = { id: 'chan-a', name: 'chan-a', spec: { ports: [] } } as unknown as VMRow;
  const pub = { hostAddr: '127.0.0.1', guestAddr: '10.213.0.2', linkFamily: 4 as const };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-chan-'));
    await writeFile(join(work, 'vmlinux'), tinyVmlinux());
    d = new FirecrackerDriver({ bin: await installStandin(join(work, 'bin')) });
    h = await d.launch(await standinSpec(work, 'chan-a', join(work, 'chan-a', 'run')));
    await writeFile(join(work, 'key'), '', { mode: 0o600 });
    target = { vm: 'chan-a', host: '127.0.0.1', port: await closedPort(), user: 'root', keyPath: join(work, 'key'), knownHostsPath: join(work, 'known_hosts'), hostKeyAlias: 'chan-a' };
  });
  after(async () => {
    await d.kill(h).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  });

  const channel = (command: 'health' | 'ports') => d.guestChannel(h, command, { timeoutMs: 2000 });

  it('health answers over vsock while SSH would not', async () => {
    const r = await vmHealth(target, channel);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.via, 'vsock');
    assert.equal(typeof r.channelMs, 'number');
    const ssh = await vmHealth(target);
    assert.equal(ssh.ok, false, 'without the channel the SSH probe runs, and nothing serves SSH here');
    assert.equal(ssh.via, 'ssh');
  });

  it('ports are listed over vsock and joined with how the host reaches them', async () => {
    const p = await guestPorts(target, row, pub, channel);
    assert.equal(p.via, 'vsock');
    const sshd = p.sockets.find((s) => s.port === 22);
    assert.ok(sshd, JSON.stringify(p.sockets));
    assert.equal(sshd.process, 'sshd');
    assert.equal(sshd.endpoint, 'chan-a.vm:22');
  });

  it('a guest without ss, or a channel that fails, falls back to SSH', async () => {
    await assert.rejects(guestPorts(target, row, pub, () => Promise.resolve('error ss is not installed (Debian package iproute2)\n')), /ssh to vm chan-a at 127\.0\.0\.1:\d+ failed/);
    await d.kill(h);
    const r = await vmHealth(target, channel);
    assert.equal(r.ok, false);
    assert.equal(r.via, 'ssh');
    assert.match(r.channelError ?? '', /not running/);
  });
});
