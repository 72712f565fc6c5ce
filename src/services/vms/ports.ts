/**
 * Published ports and listening guest sockets: `vm forward` (publish a guest port on the VM's own
 * host address, live where the driver can, else at the next start) and `vm ports` (what listens in
 * the guest, over SSH with `ss`, joined with what is published, with an http:// link where a
 * published port answers HTTP). The caller holds the VM's lock for forward; ports only reads.
 *
 * @module
 */
import { request } from 'node:http';
import { alreadyExists, badRequest, operationFailed } from '../../api/errors.js';
import { parsePortSpecs, type ForwardRequest, type ForwardResult, type GuestSocket, type PublishedPort, type VMPorts } from '../../api/ports.js';
import { exec as sshExec } from '../../drivers/ssh/client.js';
import type { VMHandle } from '../../drivers/hypervisor.js';
import { canListen } from '../../system/net.js';
import type { VMRow } from '../../store/vms.js';
import type { SSHTarget } from '../../api/types.js';

/** The guest command: listening TCP and UDP sockets, numeric, with processes, no header. */
export const SS_COMMAND = ['ss', '-Htlnup'];

/** Parses `ss -Htlnup` output into sockets (unknown lines are skipped). */
export function parseSs(text: string): GuestSocket[] {
  const out: GuestSocket[] = [];
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5 || (cols[0] !== 'tcp' && cols[0] !== 'udp')) continue;
    const local = cols[4]!;
    const cut = local.lastIndexOf(':');
    const port = Number(local.slice(cut + 1));
    if (cut < 0 || !Number.isInteger(port) || port < 1) continue;
    const address = local.slice(0, cut).replace(/^\[|\]$/g, '').replace(/%.*$/, '');
    const s: GuestSocket = { proto: cols[0], address: address === '*' ? '0.0.0.0' : address, port };
    const proc = /users:\(\("([^"]+)"/.exec(line);
    if (proc) s.process = proc[1]!;
    out.push(s);
  }
  return out;
}

function isLoopback(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1';
}

/** Joins sockets with published ports: endpoint, and a warning where a published port cannot be reached. */
export function describeSockets(sockets: GuestSocket[], published: readonly PublishedPort[], hostAddr: string | undefined): GuestSocket[] {
  const byGuest = new Map(published.map((p) => [p.guestPort, p]));
  const tcpPorts = new Set(sockets.filter((s) => s.proto === 'tcp' && !isLoopback(s.address)).map((s) => s.port));
  return sockets.map((s) => {
    const out = { ...s };
    const pub = s.proto === 'tcp' ? byGuest.get(s.port) : undefined;
    if (pub && hostAddr && !isLoopback(s.address)) out.endpoint = `${hostAddr}:${pub.hostPort}`;
    if (s.proto === 'tcp' && isLoopback(s.address) && !tcpPorts.has(s.port)) {
      out.warning = `listens only on the guest's loopback (${s.address}): nothing outside the VM can reach it; bind 0.0.0.0${pub ? ', the published port needs that' : ''}`;
    }
    return out;
  });
}

/** True when `host:port` answers an HTTP request within timeoutMs. */
export function answersHttp(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/', method: 'HEAD', timeout: timeoutMs, headers: { Connection: 'close' } }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** What listens in a running VM, and what of it the host reaches. */
export async function guestPorts(target: SSHTarget, row: VMRow): Promise<VMPorts> {
  const r = await sshExec(target, SS_COMMAND, { timeoutMs: 15_000, connectTimeoutS: 5 });
  if (r.code !== 0) throw operationFailed(`listing sockets in vm ${row.name} failed (ss exited ${r.code}): ${r.stderr.trim()}`, 'the image needs ss (Debian package iproute2)');
  const published = row.spec.ports ?? [];
  const hostAddr = row.runtime.sshHost;
  const sockets = describeSockets(parseSs(r.stdout), published, hostAddr);
  await Promise.all(
    sockets.map(async (s) => {
      if (!s.endpoint) return;
      const [host, port] = [s.endpoint.slice(0, s.endpoint.lastIndexOf(':')), Number(s.endpoint.slice(s.endpoint.lastIndexOf(':') + 1))];
      if (await answersHttp(host, port)) s.url = `http://${s.endpoint}/`;
    }),
  );
  return { name: row.name, ...(hostAddr ? { hostAddr } : {}), sockets, published };
}

/** What the forward needs to change a running VM. */
export interface LiveForwarding {
  handle: VMHandle | undefined;
  publish?: (handle: VMHandle, hostAddr: string, fwd: PublishedPort) => Promise<void>;
  unpublish?: (handle: VMHandle, hostAddr: string, fwd: PublishedPort) => Promise<void>;
}

/**
 * Publishes and removes ports: validated and checked free first, applied to the running VM (all or
 * nothing: what was applied is undone when a later one fails), then stored so the next start has them.
 * Returns the new list; the caller stores it.
 */
export async function changeForwards(row: VMRow, req: ForwardRequest, live: LiveForwarding): Promise<{ ports: PublishedPort[]; result: ForwardResult }> {
  const add = parsePortSpecs(req.add ?? []);
  const remove = req.remove ?? [];
  const current = row.spec.ports ?? [];
  for (const port of remove) {
    if (!current.some((p) => p.hostPort === port)) throw badRequest(`host port ${port} is not published by vm ${row.name}`, `see what is: banger vm ports ${row.name}`);
  }
  const kept = current.filter((p) => !remove.includes(p.hostPort));
  for (const p of add) {
    const clash = kept.find((k) => k.hostPort === p.hostPort);
    if (clash) {
      throw alreadyExists(`host port ${p.hostPort} already publishes guest port ${clash.guestPort} of vm ${row.name}`, `remove it first: banger vm forward ${row.name} --remove ${p.hostPort}`);
    }
    if (p.hostPort === row.runtime.sshPort) throw alreadyExists(`host port ${p.hostPort} is the VM's sshd`, 'pick another host port: HOSTPORT:GUESTPORT');
  }
  const next = [...kept, ...add];
  const running = row.state === 'running' && live.handle !== undefined;
  const hostAddr = row.runtime.sshHost;
  const result: ForwardResult = { name: row.name, ...(hostAddr ? { hostAddr } : {}), published: next };
  if (!running || !hostAddr) return { ports: next, result };
  const handle = live.handle!;
  const { publish, unpublish } = live;
  if (!publish || !unpublish) {
    result.pending = `vm ${row.name} cannot change published ports while it runs (its driver cannot change them live): the change takes effect at its next start (banger vm restart ${row.name})`;
    return { ports: next, result };
  }
  // Removals first, so one request can move a host port to another guest port; a failure puts back what was.
  const removed = current.filter((c) => remove.includes(c.hostPort));
  for (const p of removed) await unpublish(handle, hostAddr, p);
  const done: PublishedPort[] = [];
  try {
    for (const p of add) {
      if (!(await canListen(hostAddr, p.hostPort))) throw alreadyExists(`host port ${hostAddr}:${p.hostPort} is taken`, `pick another host port: banger vm forward ${row.name} OTHERPORT:${p.guestPort}`);
      await publish(handle, hostAddr, p);
      done.push(p);
    }
  } catch (err) {
    for (const p of done) await unpublish(handle, hostAddr, p).catch(() => undefined);
    for (const p of removed) await publish(handle, hostAddr, p).catch(() => undefined);
    throw err;
  }
  return { ports: next, result };
}
