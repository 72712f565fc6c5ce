/**
 * Published ports and listening guest sockets: `vm forward` (publish a guest port on the host where
 * the VM's network puts it, live where it can, else at the next start) and `vm ports` (what listens in
 * the guest, by `ss` through the driver's vsock guest channel where it has one and over SSH otherwise, joined with where the host reaches it, with an http:// link where it
 * answers HTTP). The caller holds the VM's lock for forward; ports only reads.
 *
 * @module
 */
import { request } from 'node:http';
import { alreadyExists, badRequest, operationFailed } from '../../api/errors.js';
import { parsePortSpecs, type ForwardRequest, type ForwardResult, type GuestSocket, type PublishedPort, type VMPorts } from '../../api/ports.js';
import { exec as sshExec } from '../../drivers/ssh/client.js';
import { canListen } from '../../system/net.js';
import type { VMRow } from '../../store/vms.js';
import type { SSHTarget } from '../../api/types.js';
import type { PortPublishing } from '../network/provider.js';

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
    const s: GuestSocket = { proto: cols[0], address, port };
    const proc = /users:\(\("([^"]+)"/.exec(line);
    if (proc) s.process = proc[1]!;
    out.push(s);
  }
  return out;
}

function isLoopback(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1' || addr.startsWith('::ffff:127.');
}

/** The family a listening address accepts: `*` (ss's dual-stack socket) takes both. */
function familyOf(addr: string): 4 | 6 | 'both' {
  if (addr === '*') return 'both';
  return addr.includes(':') && !/^::ffff:\d/.test(addr) ? 6 : 4;
}

/** What `vm ports` knows of how the host reaches the VM (from the network's PortPublishing). */
export interface SocketView {
  /** The VM's name: `<name>.vm` is the endpoint where the host reaches the guest directly. */
  name: string;
  /** Where published ports bind on the host. */
  hostAddr?: string;
  /** Set when the host reaches every guest port at the guest's own address (bridge mode). */
  guestAddr?: string;
  linkFamily: 4 | 6;
}

function trap(s: GuestSocket, view: SocketView, published: boolean): string | undefined {
  const need = published ? ', the published port needs that' : '';
  const any = view.linkFamily === 6 ? ':: (both families)' : '0.0.0.0';
  if (isLoopback(s.address)) return `listens only on the guest's loopback (${s.address}): nothing outside the VM can reach it; bind ${any}${need}`;
  const fam = familyOf(s.address);
  if (fam === 6 && view.linkFamily === 4) {
    return `listens only on IPv6 (${s.address}) while the host reaches the VM over IPv4: nothing outside the VM can reach it; bind 0.0.0.0, or :: without IPV6_V6ONLY${need}`;
  }
  if (fam === 4 && view.linkFamily === 6) {
    return `listens only on IPv4 (${s.address}) while the host reaches the VM over IPv6: nothing outside the VM can reach it; bind :: (both families)${need}`;
  }
  return undefined;
}

/**
 * Joins sockets with how the host reaches them: the endpoint (the published port in user mode,
 * `<name>.vm:PORT` in bridge mode), the published forward, and a warning where a TCP service cannot be
 * reached from outside the guest (loopback only, or only the address family the link does not use).
 */
export function describeSockets(sockets: GuestSocket[], published: readonly PublishedPort[], view: SocketView): GuestSocket[] {
  const byGuest = new Map(published.map((p) => [p.guestPort, p]));
  const reachable = (s: GuestSocket) => !isLoopback(s.address) && [view.linkFamily, 'both'].includes(familyOf(s.address));
  const reached = new Set(sockets.filter((s) => s.proto === 'tcp' && reachable(s)).map((s) => s.port));
  return sockets.map((s) => {
    const out = { ...s };
    const pub = s.proto === 'tcp' ? byGuest.get(s.port) : undefined;
    if (reachable(s)) {
      if (pub && view.hostAddr) out.forward = `${view.hostAddr}:${pub.hostPort}`;
      if (view.guestAddr) out.endpoint = `${view.name}.vm:${s.port}`;
      else if (out.forward) out.endpoint = out.forward;
    }
    if (s.proto === 'tcp' && !reached.has(s.port)) {
      const w = trap(s, view, pub !== undefined);
      if (w) out.warning = w;
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
export async function guestPorts(target: SSHTarget, row: VMRow, pub: PortPublishing, channel?: (command: 'ports') => Promise<string>): Promise<VMPorts> {
  // The guest channel answers as ss does; an image without it (or without ss) is asked over SSH.
  const fromChannel = channel ? await channel('ports').then((t) => (t.startsWith('error') ? undefined : t), () => undefined) : undefined;
  const listing = fromChannel ?? (await sshListing(target, row));
  const published = row.spec.ports ?? [];
  const { hostAddr, guestAddr } = pub;
  const view: SocketView = { name: row.name, linkFamily: pub.linkFamily, ...(hostAddr ? { hostAddr } : {}), ...(guestAddr ? { guestAddr } : {}) };
  const sockets = describeSockets(parseSs(listing), published, view);
  await Promise.all(
    sockets.map(async (s) => {
      if (s.proto !== 'tcp' || !s.endpoint) return;
      // The probe goes to the address behind the endpoint: the daemon may not resolve `.vm` names itself.
      const probe = guestAddr ? { host: guestAddr, port: s.port } : splitHostPort(s.endpoint);
      if (await answersHttp(probe.host, probe.port)) s.url = `http://${s.endpoint}/`;
    }),
  );
  return { name: row.name, ...(hostAddr ? { hostAddr } : {}), ...(guestAddr ? { guestAddr } : {}), sockets, published, via: fromChannel !== undefined ? 'vsock' : 'ssh' };
}

async function sshListing(target: SSHTarget, row: VMRow): Promise<string> {
  const r = await sshExec(target, SS_COMMAND, { timeoutMs: 15_000, connectTimeoutS: 5 });
  if (r.code !== 0) throw operationFailed(`listing sockets in vm ${row.name} failed (ss exited ${r.code}): ${r.stderr.trim()}`, 'the image needs ss (Debian package iproute2)');
  return r.stdout;
}

function splitHostPort(endpoint: string): { host: string; port: number } {
  const cut = endpoint.lastIndexOf(':');
  return { host: endpoint.slice(0, cut), port: Number(endpoint.slice(cut + 1)) };
}

/**
 * Publishes and removes ports: validated and checked free first, applied to the running VM (all or
 * nothing: what was applied is undone when a later one fails), then stored so the next start has them.
 * Returns the new list; the caller stores it.
 */
export async function changeForwards(row: VMRow, req: ForwardRequest, pub: PortPublishing): Promise<{ ports: PublishedPort[]; result: ForwardResult }> {
  const add = parsePortSpecs(req.add ?? []);
  const remove = req.remove ?? [];
  const current = row.spec.ports ?? [];
  const hostAddr = pub.hostAddr;
  for (const port of remove) {
    if (!current.some((p) => p.hostPort === port)) throw badRequest(`host port ${port} is not published by vm ${row.name}`, `see what is: banger vm ports ${row.name}`);
  }
  const kept = current.filter((p) => !remove.includes(p.hostPort));
  for (const p of add) {
    const clash = kept.find((k) => k.hostPort === p.hostPort);
    if (clash) {
      throw alreadyExists(`host port ${p.hostPort} already publishes guest port ${clash.guestPort} of vm ${row.name}`, `remove it first: banger vm forward ${row.name} --remove ${p.hostPort}`);
    }
    if (p.hostPort === row.runtime.sshPort && hostAddr === row.runtime.sshHost) throw alreadyExists(`host port ${p.hostPort} is the VM's sshd`, 'pick another host port: HOSTPORT:GUESTPORT');
  }
  const next = [...kept, ...add];
  const result: ForwardResult = { name: row.name, ...(hostAddr ? { hostAddr } : {}), published: next };
  if (row.state !== 'running' || !hostAddr) return { ports: next, result };
  const live = pub.live;
  if (!live) {
    result.pending = `vm ${row.name} cannot change published ports while it runs (its driver cannot change them live): the change takes effect at its next start (banger vm restart ${row.name})`;
    return { ports: next, result };
  }
  // Removals first, so one request can move a host port to another guest port; a failure puts back what was.
  const removed = current.filter((c) => remove.includes(c.hostPort));
  for (const p of removed) await live.unpublish(p);
  const done: PublishedPort[] = [];
  try {
    for (const p of add) {
      if (!(await canListen(hostAddr, p.hostPort))) throw alreadyExists(`host port ${hostAddr}:${p.hostPort} is taken`, `pick another host port: banger vm forward ${row.name} OTHERPORT:${p.guestPort}`);
      await live.publish(p);
      done.push(p);
    }
  } catch (err) {
    for (const p of done) await live.unpublish(p).catch(() => undefined);
    for (const p of removed) await live.publish(p).catch(() => undefined);
    throw err;
  }
  return { ports: next, result };
}
