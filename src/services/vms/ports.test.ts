/** Published ports: spec parsing, the `ss` reader, and changing forwards (all or nothing, conflicts, next start). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { BangerError } from '../../api/errors.js';
import { parsePortSpec, parsePortSpecs, type PublishedPort } from '../../api/ports.js';
import type { PortPublishing } from '../network/provider.js';
import type { VMRow } from '../../store/vms.js';
import { answersHttp, changeForwards, describeSockets, parseSs } from './ports.js';

const SS = `tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=301,fd=3))
tcp   LISTEN 0      5          127.0.0.1:8001      0.0.0.0:*    users:(("perl",pid=410,fd=3))
tcp   LISTEN 0      511                *:3000            *:*    users:(("node",pid=420,fd=18))
udp   UNCONN 0      0      127.0.0.53%lo:53        0.0.0.0:*    users:(("systemd-resolve",pid=200,fd=13))
tcp   LISTEN 0      128                *:9000            *:*
garbage line`;

/** A service on IPv6 only ([::] is ss's IPV6_V6ONLY socket), one on IPv4 only, one on the IPv6 loopback, and UDP on every address. */
const SS_FAMILIES = `tcp   LISTEN 0      511             [::]:4000         [::]:*    users:(("api",pid=500,fd=3))
tcp   LISTEN 0      511          0.0.0.0:4100      0.0.0.0:*    users:(("web",pid=501,fd=3))
tcp   LISTEN 0      511            [::1]:4200         [::]:*    users:(("dbg",pid=502,fd=3))
tcp   LISTEN 0      511          0.0.0.0:4300      0.0.0.0:*    users:(("both",pid=503,fd=3))
tcp   LISTEN 0      511             [::]:4300         [::]:*    users:(("both",pid=503,fd=4))
udp   UNCONN 0      0                  *:5353            *:*    users:(("mdns",pid=504,fd=5))`;

const USER_VIEW = { name: 'dev', hostAddr: '127.77.1.2', linkFamily: 4 } as const;
const BRIDGE_VIEW = { name: 'dev', hostAddr: '127.0.0.1', guestAddr: '10.213.0.2', linkFamily: 4 } as const;

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
      'tcp 0.0.0.0 22 sshd', 'tcp 127.0.0.1 8001 perl', 'tcp * 3000 node', 'udp 127.0.0.53 53 systemd-resolve', 'tcp * 9000 -',
    ]);
    assert.deepEqual(parseSs(SS_FAMILIES).map((x) => x.address), ['::', '0.0.0.0', '::1', '0.0.0.0', '::', '*'], 'IPv6-only, IPv4-only and dual-stack stay apart');
  });

  it('gives published ports their host endpoint and warns about loopback-only listeners', () => {
    const s = describeSockets(parseSs(SS), [{ hostPort: 8080, guestPort: 3000 }, { hostPort: 8001, guestPort: 8001 }], USER_VIEW);
    const web = s.find((x) => x.port === 3000)!;
    assert.equal(web.endpoint, '127.77.1.2:8080');
    assert.equal(web.forward, '127.77.1.2:8080');
    const lo = s.find((x) => x.port === 8001)!;
    assert.equal(lo.endpoint, undefined, 'a loopback-only listener is not reachable through the forward');
    assert.match(lo.warning ?? '', /loopback.*published port/);
    assert.equal(s.find((x) => x.port === 22)?.warning, undefined);
    assert.equal(s.find((x) => x.port === 22)?.endpoint, undefined, 'in user mode only published ports have an endpoint');
  });

  it('bridge mode: every socket reachable from outside the guest has a NAME.vm endpoint; published ones also their 127.0.0.1 port', () => {
    const s = describeSockets(parseSs(SS), [{ hostPort: 8080, guestPort: 3000 }], BRIDGE_VIEW);
    const at = (port: number) => s.find((x) => x.port === port)!;
    assert.equal(at(22).endpoint, 'dev.vm:22');
    assert.equal(at(9000).endpoint, 'dev.vm:9000');
    assert.equal(at(3000).endpoint, 'dev.vm:3000');
    assert.equal(at(3000).forward, '127.0.0.1:8080');
    assert.equal(at(22).forward, undefined);
    assert.equal(at(8001).endpoint, undefined, 'the guest\'s loopback is not reachable');
    assert.match(at(8001).warning ?? '', /loopback \(127\.0\.0\.1\).*bind 0\.0\.0\.0$/);
    assert.equal(at(53).endpoint, undefined, 'nor a UDP socket on it');
    const udp = describeSockets(parseSs(SS_FAMILIES), [], BRIDGE_VIEW).find((x) => x.port === 5353)!;
    assert.equal(udp.endpoint, 'dev.vm:5353', 'UDP on every address is reached too');
  });

  it('warns when a service listens only on the address family the link does not use, or on the IPv6 loopback', () => {
    const v4 = describeSockets(parseSs(SS_FAMILIES), [{ hostPort: 14000, guestPort: 4000 }], USER_VIEW);
    const at = (list: typeof v4, port: number, address?: string) => list.find((x) => x.port === port && (address === undefined || x.address === address))!;
    assert.match(at(v4, 4000).warning ?? '', /only on IPv6 \(::\) while the host reaches the VM over IPv4.*bind 0\.0\.0\.0.*published port needs that/);
    assert.equal(at(v4, 4000).endpoint, undefined, 'the forward cannot reach an IPv6-only service');
    assert.equal(at(v4, 4100).warning, undefined);
    assert.match(at(v4, 4200).warning ?? '', /only on the guest's loopback \(::1\)/);
    assert.equal(at(v4, 4300, '::').warning, undefined, 'the same service also on IPv4 is reachable: no warning');
    assert.equal(at(v4, 4300, '0.0.0.0').warning, undefined);

    const v6 = describeSockets(parseSs(SS_FAMILIES), [], { ...BRIDGE_VIEW, guestAddr: 'fd00::2', linkFamily: 6 });
    assert.match(at(v6, 4100).warning ?? '', /only on IPv4 \(0\.0\.0\.0\) while the host reaches the VM over IPv6.*bind :: \(both families\)/);
    assert.equal(at(v6, 4100).endpoint, undefined);
    assert.equal(at(v6, 4000).warning, undefined);
    assert.equal(at(v6, 4000).endpoint, 'dev.vm:4000');
    assert.match(at(v6, 4200).warning ?? '', /loopback \(::1\).*bind :: \(both families\)/);
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
  const live = (failOn?: number, hostAddr = '127.77.200.9'): PortPublishing => ({
    hostAddr,
    linkFamily: 4,
    live: {
      publish: (f: PublishedPort) => {
        if (f.hostPort === failOn) return Promise.reject(new BangerError('operation_failed', 'refused'));
        calls.push(`add ${hostAddr}:${f.hostPort}-${f.guestPort}`);
        return Promise.resolve();
      },
      unpublish: (f: PublishedPort) => {
        calls.push(`remove ${hostAddr}:${f.hostPort}`);
        return Promise.resolve();
      },
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

  it('publishing on another address than the sshd (bridge mode: 127.0.0.1) may use port 22', async () => {
    const r = await changeForwards(row(undefined, 'stopped'), { add: ['22:2222'] }, live(undefined, '127.0.0.1'));
    assert.equal(r.result.hostAddr, '127.0.0.1');
    assert.deepEqual(r.ports, [{ hostPort: 22, guestPort: 2222 }]);
    assert.equal(await codeAsync(changeForwards(row(undefined, 'stopped'), { add: ['22:2222'] }, live())), 'already_exists', 'on the sshd\'s own address it is refused');
  });

  it('says the change waits for the next start when the running VM cannot change forwards live', async () => {
    const noLive = await changeForwards(row(undefined), { add: ['9000'] }, { hostAddr: '127.77.200.9', linkFamily: 4 });
    assert.match(noLive.result.pending ?? '', /driver cannot change them live.*next start/);
    assert.deepEqual(noLive.ports, [{ hostPort: 9000, guestPort: 9000 }]);
  });
});
