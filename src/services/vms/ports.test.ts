/** Published ports: spec parsing, the `ss` reader, and changing forwards (all or nothing, conflicts, next start). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { BangerError } from '../../api/errors.js';
import { parsePortSpec, parsePortSpecs, type PublishedPort } from '../../api/ports.js';
import type { VMHandle } from '../../drivers/hypervisor.js';
import type { VMRow } from '../../store/vms.js';
import { answersHttp, changeForwards, describeSockets, parseSs } from './ports.js';

const SS = `tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=301,fd=3))
tcp   LISTEN 0      5          127.0.0.1:8001      0.0.0.0:*    users:(("perl",pid=410,fd=3))
tcp   LISTEN 0      511             [::]:3000         [::]:*    users:(("node",pid=420,fd=18))
udp   UNCONN 0      0      127.0.0.53%lo:53        0.0.0.0:*    users:(("systemd-resolve",pid=200,fd=13))
tcp   LISTEN 0      128                *:9000            *:*
garbage line`;

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof BangerError ? err.code : 'other';
  }
  return undefined;
}

async function codeAsync(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return err instanceof BangerError ? err.code : (err as Error).message;
  }
  return undefined;
}

function row(ports: PublishedPort[] | undefined, state: VMRow['state'] = 'running'): VMRow {
  const now = new Date().toISOString();
  return {
    id: 'a1', name: 'dev', imageId: 'i', state,
    spec: { vcpu: 1, memoryMiB: 256, diskSizeBytes: 1, nat: false, ...(ports ? { ports } : {}) },
    runtime: { sshHost: '127.77.200.9', sshPort: 22 }, createdAt: now, updatedAt: now,
  };
}

const handle: VMHandle = { driver: 'qemu', pid: 2, controlSocket: '/x/control.sock', accel: 'tcg', startedAt: '' };

describe('port specs', () => {
  it('reads [HOSTPORT:]GUESTPORT and refuses the rest with bad_request', () => {
    assert.deepEqual(parsePortSpec('3000'), { hostPort: 3000, guestPort: 3000 });
    assert.deepEqual(parsePortSpec('8080:80'), { hostPort: 8080, guestPort: 80 });
    for (const bad of ['', 'http', '0', '70000', '80:', ':80', '1:2:3', '-1']) assert.equal(code(() => parsePortSpec(bad)), 'bad_request', bad);
    assert.equal(code(() => parsePortSpecs(['8080:80', '8080:81'])), 'bad_request');
  });
});

describe('guest sockets', () => {
  it('parses ss output with processes and bracketed or scoped addresses', () => {
    const s = parseSs(SS);
    assert.deepEqual(s.map((x) => `${x.proto} ${x.address} ${x.port} ${x.process ?? '-'}`), [
      'tcp 0.0.0.0 22 sshd', 'tcp 127.0.0.1 8001 perl', 'tcp :: 3000 node', 'udp 127.0.0.53 53 systemd-resolve', 'tcp 0.0.0.0 9000 -',
    ]);
  });

  it('gives published ports their host endpoint and warns about loopback-only listeners', () => {
    const s = describeSockets(parseSs(SS), [{ hostPort: 8080, guestPort: 3000 }, { hostPort: 8001, guestPort: 8001 }], '127.77.1.2');
    assert.equal(s.find((x) => x.port === 3000)?.endpoint, '127.77.1.2:8080');
    const lo = s.find((x) => x.port === 8001)!;
    assert.equal(lo.endpoint, undefined, 'a loopback-only listener is not reachable through the forward');
    assert.match(lo.warning ?? '', /loopback.*published port/);
    assert.equal(s.find((x) => x.port === 22)?.warning, undefined);
  });

  it('answersHttp tells an HTTP server from a plain TCP one', async () => {
    const { createServer: http } = await import('node:http');
    const web = http((_q, r) => r.end('ok')).listen(0, '127.0.0.1');
    const raw = createServer((c) => c.end('SSH-2.0-x\r\n')).listen(0, '127.0.0.1');
    await Promise.all([web, raw].map((s) => new Promise((r) => s.once('listening', r))));
    const port = (s: { address(): unknown }) => (s.address() as { port: number }).port;
    assert.equal(await answersHttp('127.0.0.1', port(web)), true);
    assert.equal(await answersHttp('127.0.0.1', port(raw), 500), false);
    web.close();
    raw.close();
  });
});

describe('changing forwards', () => {
  const calls: string[] = [];
  const live = (failOn?: number) => ({
    handle,
    publish: (_h: VMHandle, addr: string, f: PublishedPort) => {
      if (f.hostPort === failOn) return Promise.reject(new BangerError('operation_failed', 'refused'));
      calls.push(`add ${addr}:${f.hostPort}-${f.guestPort}`);
      return Promise.resolve();
    },
    unpublish: (_h: VMHandle, addr: string, f: PublishedPort) => {
      calls.push(`remove ${addr}:${f.hostPort}`);
      return Promise.resolve();
    },
  });

  it('stores forwards of a stopped VM without touching a driver', async () => {
    calls.length = 0;
    const r = await changeForwards(row([{ hostPort: 80, guestPort: 80 }], 'stopped'), { add: ['8080:80'], remove: [80] }, live());
    assert.deepEqual(r.ports, [{ hostPort: 8080, guestPort: 80 }]);
    assert.deepEqual(calls, []);
  });

  it('applies them live on a running VM, all or nothing', async () => {
    calls.length = 0;
    const r = await changeForwards(row([{ hostPort: 80, guestPort: 80 }]), { add: ['18080:80'], remove: [80] }, live());
    assert.deepEqual(calls, ['remove 127.77.200.9:80', 'add 127.77.200.9:18080-80']);
    assert.deepEqual(r.ports, [{ hostPort: 18080, guestPort: 80 }]);
    calls.length = 0;
    const moved = await changeForwards(row([{ hostPort: 18090, guestPort: 80 }]), { add: ['18090:81'], remove: [18090] }, live());
    assert.deepEqual(calls, ['remove 127.77.200.9:18090', 'add 127.77.200.9:18090-81'], 'one request moves a host port to another guest port');
    assert.deepEqual(moved.ports, [{ hostPort: 18090, guestPort: 81 }]);
    calls.length = 0;
    assert.equal(await codeAsync(changeForwards(row(undefined), { add: ['18081:1', '18082:2'] }, live(18082))), 'operation_failed');
    assert.deepEqual(calls, ['add 127.77.200.9:18081-1', 'remove 127.77.200.9:18081'], 'the one applied is undone');
  });

  it('refuses a host port already published, the sshd port, an unknown removal, and a port taken on the host', async () => {
    assert.equal(await codeAsync(changeForwards(row([{ hostPort: 8080, guestPort: 80 }]), { add: ['8080:81'] }, live())), 'already_exists');
    assert.equal(await codeAsync(changeForwards(row(undefined), { add: ['22:2222'] }, live())), 'already_exists');
    assert.equal(await codeAsync(changeForwards(row(undefined), { remove: [9999] }, live())), 'bad_request');
    const held: Server = createServer().listen(0, '127.77.200.9');
    await new Promise((r) => held.once('listening', r));
    const port = (held.address() as { port: number }).port;
    calls.length = 0;
    assert.equal(await codeAsync(changeForwards(row(undefined), { add: [`${port}:80`] }, live())), 'already_exists');
    assert.deepEqual(calls, []);
    held.close();
  });

  it('says the change waits for the next start when the running VM cannot change forwards live', async () => {
    const noLive = await changeForwards(row(undefined), { add: ['9000'] }, { handle });
    assert.match(noLive.result.pending ?? '', /driver cannot change them live.*next start/);
    assert.deepEqual(noLive.ports, [{ hostPort: 9000, guestPort: 9000 }]);
  });
});
