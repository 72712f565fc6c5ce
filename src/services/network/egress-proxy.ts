/**
 * The egress of user-mode VMs: an HTTP proxy run by the daemon, one unix socket per running VM.
 *
 * QEMU's slirp stays restricted (`restrict=on`: no packet of the guest is routed anywhere). Its one
 * opening is a `guestfwd` rule: a TCP connection of the guest to EGRESS_PROXY_ADDR:EGRESS_PROXY_PORT
 * starts a connector that joins it to this VM's socket here. The guest's tools find the proxy through
 * http_proxy/https_proxy (written by the seed). Every request names its target (`CONNECT host:port`,
 * or an absolute `http://` URL), and this side decides: egress off (no --nat, no allowlist) refuses;
 * an allowlist admits only its names, wildcards and addresses; the name is resolved here and a target
 * that is the host itself (loopback, unspecified, link-local, multicast, any address of the host's
 * interfaces) is refused whatever the policy, so the host's own services are never reachable. The
 * connection goes out from the daemon's own sockets to the address checked, never re-resolved.
 * Allowed and refused targets are recorded per VM for `vm egress`.
 *
 * Policy changes (`vm set --nat/--no-nat/--allow/--deny`) apply to the next request at once.
 *
 * @module
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { connect, isIP, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { addressAllowed, nameAllowed, type AllowEntry } from '../../model/egress.js';
import type { NameRecord } from './egress-book.js';

/** Where the guest reaches the proxy (inside slirp's 10.0.2.0/24, outside its DHCP range). */
export const EGRESS_PROXY_ADDR = '10.0.2.100';
export const EGRESS_PROXY_PORT = 3128;
export const EGRESS_PROXY_URL = `http://${EGRESS_PROXY_ADDR}:${EGRESS_PROXY_PORT}`;
/** Concurrent connections one VM may hold through the proxy. */
const MAX_CONNECTIONS = 256;
const CONNECT_TIMEOUT_MS = 15_000;

export interface EgressPolicy {
  vmName: string;
  nat: boolean;
  /** Undefined: no allowlist (nat decides: everything or nothing). */
  allow?: readonly AllowEntry[];
}

export type Verdict = { ok: true; address: string } | { ok: false; status: 403 | 502; reason: string };

export type Resolver = (name: string) => Promise<string[]>;

export interface EgressProxyOptions {
  /** Name resolution (default: the host's resolver). */
  resolve?: Resolver;
  /** The host's own addresses (default: every address of its interfaces, read per request). */
  hostAddresses?: () => Iterable<string>;
  /**
   * Which resolved addresses are never a target (default: isHostOrSpecial with hostAddresses).
   * Tests that have only loopback to serve from replace it to stand some loopback address for "outside".
   */
  forbidden?: (addr: string, hostAddrs: readonly string[]) => boolean;
  log?: (message: string) => void;
}

interface VmProxy {
  server: Server;
  socket: string;
  policy: EgressPolicy;
  allowed: Map<string, NameRecord>;
  denied: Map<string, NameRecord>;
}

const defaultResolve: Resolver = async (name) => (await dnsLookup(name, { all: true, verbatim: true })).map((a) => a.address);

function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

/** An address that is the host itself or no single remote host: never a proxy target. */
export function isHostOrSpecial(addr: string, hostAddrs: Iterable<string> = []): boolean {
  let a = addr.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) a = mapped[1]!;
  for (const h of hostAddrs) if (h.toLowerCase().replace(/%.*$/, '') === a) return true;
  if (isIP(a) === 4) {
    const [x, y] = a.split('.').map(Number) as [number, number];
    return x === 127 || x === 0 || (x === 169 && y === 254) || x >= 224;
  }
  if (isIP(a) === 6) return a === '::1' || a === '::' || /^fe[89ab]/.test(a) || a.startsWith('ff');
  return true;
}

export class EgressProxy {
  private readonly vms = new Map<string, VmProxy>();
  private readonly resolve: Resolver;
  private readonly hostAddresses: () => Iterable<string>;
  private readonly forbidden: (addr: string, hostAddrs: readonly string[]) => boolean;

  constructor(private readonly opts: EgressProxyOptions = {}) {
    this.resolve = opts.resolve ?? defaultResolve;
    this.hostAddresses = opts.hostAddresses ?? interfaceAddresses;
    this.forbidden = opts.forbidden ?? isHostOrSpecial;
  }

  has(vmId: string): boolean {
    return this.vms.has(vmId);
  }

  /** Starts (or keeps) the VM's listener on `socket` with `policy`; the log of this run is kept when it already listens there. */
  async listen(vmId: string, socket: string, policy: EgressPolicy): Promise<void> {
    const prior = this.vms.get(vmId);
    if (prior && prior.socket === socket) {
      prior.policy = policy;
      return;
    }
    if (prior) await this.close(vmId);
    mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
    rmSync(socket, { force: true });
    const vm: VmProxy = { server: createServer(), socket, policy, allowed: new Map(), denied: new Map() };
    vm.server.maxConnections = MAX_CONNECTIONS;
    vm.server.on('request', (req, res) => void this.forward(vm, req, res));
    vm.server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => void this.tunnel(vm, req, client, head));
    vm.server.on('clientError', (_err, s: Socket) => s.destroy());
    await new Promise<void>((resolve, reject) => {
      vm.server.once('error', reject);
      vm.server.listen(socket, () => {
        vm.server.off('error', reject);
        resolve();
      });
    });
    chmodSync(socket, 0o600);
    this.vms.set(vmId, vm);
  }

  setPolicy(vmId: string, policy: EgressPolicy): void {
    const vm = this.vms.get(vmId);
    if (vm) vm.policy = policy;
  }

  /** Stops the VM's listener and drops its open connections. */
  async close(vmId: string): Promise<void> {
    const vm = this.vms.get(vmId);
    if (!vm) return;
    this.vms.delete(vmId);
    vm.server.closeAllConnections();
    await new Promise<void>((resolve) => vm.server.close(() => resolve()));
    rmSync(vm.socket, { force: true });
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.vms.keys()]) await this.close(id);
  }

  /** What the VM's proxy allowed and refused in this run. */
  log(vmId: string): { allowed: NameRecord[]; denied: NameRecord[] } | undefined {
    const vm = this.vms.get(vmId);
    return vm ? { allowed: [...vm.allowed.values()], denied: [...vm.denied.values()] } : undefined;
  }

  /** Whether the VM may reach host:port now, and at which address. */
  async decide(policy: EgressPolicy, host: string): Promise<Verdict> {
    const name = host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
    const literal = isIP(name);
    const deny = (reason: string): Verdict => ({ ok: false, status: 403, reason });
    if (!policy.nat && policy.allow === undefined) {
      return deny(`vm ${policy.vmName} has no egress; allow it on the host with: banger vm set ${policy.vmName} --nat (or --allow ${literal ? name : name || 'example.com'})`);
    }
    if (policy.allow !== undefined) {
      const ok = literal ? addressAllowed(policy.allow, name) : nameAllowed(policy.allow, name);
      if (!ok) return deny(`${name} is not in the allowlist of vm ${policy.vmName}; add it on the host with: banger vm set ${policy.vmName} --allow ${name}`);
    }
    let addresses: string[];
    try {
      addresses = literal ? [name] : await this.resolve(name);
    } catch {
      return { ok: false, status: 502, reason: `${name} does not resolve` };
    }
    const hostAddrs = [...this.hostAddresses()];
    const usable = addresses.filter((a) => !this.forbidden(a, hostAddrs));
    if (usable.length === 0) return deny(`${name} is the host itself (${addresses[0] ?? 'no address'}): a VM never reaches the host's own services`);
    return { ok: true, address: usable.find((a) => isIP(a) === 4) ?? usable[0]! };
  }

  private note(vm: VmProxy, verdict: 'allowed' | 'denied', target: string, address?: string): void {
    const map = verdict === 'allowed' ? vm.allowed : vm.denied;
    const r = map.get(target) ?? { name: target, count: 0, last: '' };
    r.count += 1;
    r.last = new Date().toISOString();
    if (address) r.addresses = [...new Set([...(r.addresses ?? []), address])];
    map.set(target, r);
    if (verdict === 'denied') this.opts.log?.(`vm ${vm.policy.vmName}: egress to ${target} refused`);
  }

  /** `CONNECT host:port`: a tunnel to the checked address. */
  private async tunnel(vm: VmProxy, req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    client.on('error', () => client.destroy());
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(req.url ?? '');
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535) {
      client.end(plain(400, 'CONNECT needs host:port\n'));
      return;
    }
    const target = `${m[1]!.toLowerCase()}:${port}`;
    const v = await this.decide(vm.policy, m[1]!);
    if (!v.ok) {
      this.note(vm, 'denied', target);
      client.end(plain(v.status, `${v.reason}\n`));
      return;
    }
    const upstream = connect({ host: v.address, port, timeout: CONNECT_TIMEOUT_MS });
    upstream.once('timeout', () => upstream.destroy(new Error('timed out')));
    let connected = false;
    upstream.once('error', (err) => {
      if (!connected && !client.destroyed) client.end(plain(502, `cannot reach ${target}: ${err.message}\n`));
      else client.destroy();
    });
    upstream.once('connect', () => {
      connected = true;
      upstream.setTimeout(0);
      this.note(vm, 'allowed', target, v.address);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    client.once('close', () => upstream.destroy());
  }

  /** An absolute `http://` request: sent on from here, one request at a time. */
  private async forward(vm: VmProxy, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
      if (url.protocol !== 'http:') throw new Error('not http');
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`this is banger's egress proxy: use it as http_proxy/https_proxy (${EGRESS_PROXY_URL})\n`);
      return;
    }
    const port = Number(url.port || 80);
    const target = `${url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1')}:${port}`;
    const v = await this.decide(vm.policy, url.hostname);
    if (!v.ok) {
      this.note(vm, 'denied', target);
      res.writeHead(v.status, { 'content-type': 'text/plain' }).end(`${v.reason}\n`);
      return;
    }
    const headers: OutgoingHttpHeaders = {};
    for (const [k, val] of Object.entries(req.headers)) {
      if (!/^(proxy-connection|proxy-authorization|connection|keep-alive)$/i.test(k) && val !== undefined) headers[k] = val;
    }
    const out = httpRequest({ host: v.address, port, method: req.method, path: `${url.pathname}${url.search}`, headers, agent: false, timeout: CONNECT_TIMEOUT_MS });
    out.once('socket', (s: Socket) => s.once('connect', () => out.setTimeout(0)));
    out.on('timeout', () => out.destroy(new Error('timed out')));
    out.on('response', (up) => {
      this.note(vm, 'allowed', target, v.address);
      const h: OutgoingHttpHeaders = {};
      for (const [k, val] of Object.entries(up.headers)) if (!/^(connection|keep-alive)$/i.test(k) && val !== undefined) h[k] = val;
      res.writeHead(up.statusCode ?? 502, up.statusMessage, h);
      up.pipe(res);
    });
    out.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`cannot reach ${target}: ${err.message}\n`);
      else res.destroy();
    });
    req.pipe(out);
  }
}

function plain(status: number, body: string): string {
  const text = status === 400 ? 'Bad Request' : status === 403 ? 'Forbidden' : 'Bad Gateway';
  return `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
