/**
 * A strict stand-in for Firecracker's API server, for tests where no firecracker binary or KVM
 * exists. It follows the API description's semantics: every body is validated against the
 * description's definition (unknown fields refused, as Firecracker does), pre-boot resources are
 * refused after InstanceStart, snapshot/create only while Paused, snapshot/load only as the first
 * call on a fresh process (logger and metrics aside), and only state saved by the same version, with its
 * memory file present and network_overrides naming saved interfaces; every drive's file must open (at
 * InstanceStart and at a load, relative paths from the working directory); refusals are 400 with `fault_message`,
 * successes 204. Once started it writes the guest's serial output to its "serial console" (stdout:
 * the probe kernel's marker, interpreted as tiny-guest.ts describes, or boot lines for a real kernel), flushes
 * metrics as JSON lines, powers off on SendCtrlAltDel, and serves the vsock UDS with the
 * `CONNECT <port>` handshake, answering the banger guest channel like the guest bits do (readdress
 * changes the modelled guest NIC, which snapshots save and loads bring back).
 *
 * @module
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FirecrackerSchema } from './schema.js';
import { interpretTinyGuest } from './tiny-guest.js';
import { guestAddressProblems, READDRESS_GUEST_BITS } from '../../model/guest-address.js';

export type StandinState = 'Not started' | 'Running' | 'Paused';

export interface StandinOptions {
  schema: FirecrackerSchema;
  version?: string;
  id?: string;
  /** Where the guest's serial console goes (stdout of a real firecracker). */
  console?: (line: string) => void;
  /** Called when the guest powers off (a real firecracker exits). */
  onPowerOff?: () => void;
  /** How long the guest takes to power off after SendCtrlAltDel; never when undefined is given as 'ignore'. */
  powerOffDelayMs?: number | 'ignore';
  /** Listening ports the guest channel reports. */
  guestPorts?: number[];
  /** Refuse the request to this path with 400 and this fault_message (an injected refusal, for error paths; a refused snapshot/create leaves partly written files, as a full disk does). */
  fault?: { path: string; message: string };
  /** Append every request and its answer to this file as JSON lines (for tests of what the driver sent). */
  recordTo?: string;
  /** The chroot a jailed firecracker sees as "/": every path in a request is resolved inside it. */
  root?: string;
  /**
   * A broken host: after InstanceStart the guest's vCPU 'hang's (state Running, nothing on the serial
   * port) or 'crash'es (firecracker exits through onCrash). Otherwise the guest runs, see tiny-guest.ts.
   */
  guest?: 'hang' | 'crash';
  /** Called when the guest crashes (a real firecracker exits with an error). */
  onCrash?: () => void;
  /**
   * The guest bits version of the guest (default: this release's). Older than the readdress command,
   * the guest channel answers it as the older script did ("error unknown command").
   */
  guestBits?: number;
}

/** The guest's network as the stand-in models it: its NIC's MAC and IPv4 address (saved with the state). */
export interface StandinGuestNet {
  mac?: string;
  cidr?: string;
}

/** What the stand-in was asked, for tests. */
export interface StandinRequest {
  method: string;
  path: string;
  body: unknown;
  status: number;
  /** The JSON the stand-in answered with, if any. */
  reply?: unknown;
}

/** The routes the stand-in serves (path templates as the API description writes them); anything else is refused. */
export const STANDIN_ROUTES: readonly (readonly [method: string, template: string])[] = [
  ['GET', '/'],
  ['GET', '/version'],
  ['GET', '/vm/config'],
  ['PUT', '/logger'],
  ['PUT', '/metrics'],
  ['PUT', '/machine-config'],
  ['PUT', '/boot-source'],
  ['PUT', '/drives/{drive_id}'],
  ['PUT', '/network-interfaces/{iface_id}'],
  ['PUT', '/vsock'],
  ['PUT', '/actions'],
  ['PATCH', '/vm'],
  ['PUT', '/snapshot/create'],
  ['PUT', '/snapshot/load'],
];

function served(method: string, path: string): boolean {
  return STANDIN_ROUTES.some(([m, t]) => m === method && new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path));
}

const PRE_BOOT = ['/logger', '/metrics', '/machine-config', '/boot-source', '/drives/', '/network-interfaces/', '/vsock', '/snapshot/load'];

export class FirecrackerStandin {
  state: StandinState = 'Not started';
  readonly requests: StandinRequest[] = [];
  private readonly resources = new Map<string, Record<string, unknown>>();
  private restored = false;
  private http?: Server;
  private vsock?: NetServer;
  private vsockPath?: string;
  private metricsPath?: string;
  private poweredOff = false;
  /** The guest's NIC: the configured guest_mac at boot, what a snapshot saved at a load, what readdress set. */
  guestNet: StandinGuestNet = {};

  constructor(private readonly opts: StandinOptions) {}

  /** A path of a request as the host sees it (inside the chroot when jailed). */
  private host(p: string): string {
    return this.opts.root ? join(this.opts.root, p) : p;
  }

  listen(socketPath: string): Promise<void> {
    this.http = createHttpServer((req, res) => void this.handle(req, res));
    const http = this.http;
    return new Promise((resolve, reject) => {
      http.once('error', reject);
      http.listen(socketPath, () => resolve());
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
    await this.closeVsock();
  }

  private async closeVsock(): Promise<void> {
    const v = this.vsock;
    this.vsock = undefined;
    if (v) await new Promise<void>((r) => v.close(() => r()));
    if (this.vsockPath) rmSync(this.vsockPath, { force: true });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0]!;
    let body: unknown;
    const reply = (status: number, payload?: unknown) => {
      const entry: StandinRequest = { method, path, body, status, ...(payload === undefined ? {} : { reply: payload }) };
      this.requests.push(entry);
      if (this.opts.recordTo) appendFileSync(this.opts.recordTo, JSON.stringify(entry) + '\n');
      if (payload === undefined) {
        res.writeHead(status);
        res.end();
      } else {
        const out = JSON.stringify(payload);
        res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) });
        res.end(out);
      }
    };
    const fault = (message: string) => reply(400, { fault_message: message });
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      return fault(`Invalid JSON body: ${text.slice(0, 80)}`);
    }
    if (this.opts.fault?.path === path) {
      // A snapshot that fails part-way (a full disk) leaves what it had written.
      const b = body as { snapshot_path?: unknown; mem_file_path?: unknown } | undefined;
      if (path === '/snapshot/create' && typeof b?.mem_file_path === 'string') writeFileSync(this.host(b.mem_file_path), Buffer.alloc(1024));
      if (path === '/snapshot/create' && typeof b?.snapshot_path === 'string') writeFileSync(this.host(b.snapshot_path), '{');
      return fault(this.opts.fault.message);
    }
    const definition = this.opts.schema.bodyDefinition(method, path);
    if (definition === null || !served(method, path)) return fault(`Invalid request method and/or path: ${method} ${path}.`);
    if (definition !== undefined) {
      if (body === undefined) return fault('Empty request body.');
      const problems = this.opts.schema.problems(definition, body);
      if (problems.length > 0) return fault(`An error occurred when deserializing the json body of a request: ${problems.join('; ')}.`);
    }
    try {
      const result = this.apply(method, path, body as Record<string, unknown>);
      return result === undefined ? reply(204) : reply(200, result);
    } catch (err) {
      return fault(err instanceof Error ? err.message : String(err));
    }
  }

  private apply(method: string, path: string, body: Record<string, unknown>): unknown {
    if (method === 'GET' && path === '/') return { app_name: 'Firecracker', id: this.opts.id ?? 'anonymous-instance', state: this.state, vmm_version: this.version() };
    if (method === 'GET' && path === '/version') return { firecracker_version: this.version() };
    if (method === 'GET' && path === '/vm/config') return Object.fromEntries(this.resources);
    if (method === 'GET') throw new Error(`The stand-in does not serve GET ${path}.`);
    if (method === 'PUT' && PRE_BOOT.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p))) {
      if (this.state !== 'Not started' || this.restored) throw new Error(`The requested operation is not supported after starting the microVM.`);
    }
    switch (`${method} ${path.replace(/^\/(drives|network-interfaces)\/.*/, '/$1/{id}')}`) {
      case 'PUT /logger':
      case 'PUT /metrics':
      case 'PUT /machine-config':
      case 'PUT /boot-source':
      case 'PUT /vsock':
        if (path === '/metrics') this.metricsPath = this.host(body.metrics_path as string);
        if (path === '/vsock') this.vsockPath = this.host(body.uds_path as string);
        this.resources.set(path.slice(1), body);
        return undefined;
      case 'PUT /drives/{id}':
      case 'PUT /network-interfaces/{id}': {
        const id = path.split('/')[2];
        const key = path.startsWith('/drives') ? 'drive_id' : 'iface_id';
        if (body[key] !== id) throw new Error(`The id from the path [${id}] does not match the id from the body [${String(body[key])}]!`);
        this.resources.set(path.slice(1), body);
        return undefined;
      }
      case 'PUT /actions':
        return this.action(body.action_type as string);
      case 'PATCH /vm':
        if (this.state === 'Not started') throw new Error('The requested operation is not supported before starting the microVM.');
        this.state = body.state === 'Paused' ? 'Paused' : 'Running';
        return undefined;
      case 'PUT /snapshot/create':
        if (this.state !== 'Paused') throw new Error('Create snapshot error: The microVM is not paused; pause it before taking a snapshot.');
        if (body.snapshot_type === 'Diff' && this.resources.get('machine-config')?.track_dirty_pages !== true) {
          throw new Error('Diff snapshots are not allowed on uVMs with dirty page tracking disabled.');
        }
        writeFileSync(this.host(body.snapshot_path as string), JSON.stringify({ standin: 'vmstate', version: this.version(), resources: Object.fromEntries(this.resources), guestNet: this.guestNet }));
        writeFileSync(this.host(body.mem_file_path as string), Buffer.alloc(4096));
        return undefined;
      case 'PUT /snapshot/load': {
        const configured = [...this.resources.keys()].filter((k) => k !== 'logger' && k !== 'metrics');
        if (configured.length > 0) throw new Error('Load snapshot error: Loading a microVM snapshot not allowed after configuring boot-specific resources.');
        if (body.mem_file_path !== undefined && body.mem_backend !== undefined) throw new Error('Only one of mem_file_path and mem_backend may be given.');
        if (body.mem_file_path === undefined && body.mem_backend === undefined) throw new Error('Either mem_file_path or mem_backend must be given.');
        let saved: { version?: string; resources?: Record<string, Record<string, unknown>>; guestNet?: StandinGuestNet };
        try {
          saved = JSON.parse(readFileSync(this.host(body.snapshot_path as string), 'utf8')) as typeof saved;
        } catch (err) {
          throw new Error(`Load snapshot error: Cannot open snapshot file: ${(err as Error).message}`);
        }
        if (saved.version !== this.version()) {
          throw new Error(`Load snapshot error: Failed to restore from snapshot: the snapshot was made by Firecracker v${saved.version ?? '?'}, and this is v${this.version()}: unsupported snapshot data version`);
        }
        const mem = body.mem_backend as { backend_path: string } | undefined;
        const memPath = mem ? mem.backend_path : (body.mem_file_path as string);
        if (!existsSync(this.host(memPath))) throw new Error(`Load snapshot error: Failed to restore from snapshot: Cannot open the memory file: No such file or directory (os error 2)`);
        const restored = new Map(Object.entries(saved.resources ?? {}));
        for (const o of (body.network_overrides as { iface_id: string; host_dev_name: string }[] | undefined) ?? []) {
          const nic = restored.get(`network-interfaces/${o.iface_id}`);
          if (!nic) throw new Error(`Load snapshot error: Failed to restore from snapshot: Invalid network override: no interface ${o.iface_id}`);
          restored.set(`network-interfaces/${o.iface_id}`, { ...nic, host_dev_name: o.host_dev_name });
        }
        this.checkDrives(restored, 'Load snapshot error: Failed to restore from snapshot: ');
        for (const [k, v] of restored) this.resources.set(k, v);
        const vs = body.vsock_override as { uds_path?: string } | undefined;
        const vsockRes = this.resources.get('vsock');
        if (vs?.uds_path) this.vsockPath = this.host(vs.uds_path);
        else if (vsockRes) this.vsockPath = this.host(vsockRes.uds_path as string);
        this.guestNet = { ...(saved.guestNet ?? {}) };
        this.restored = true;
        this.state = body.resume_vm === true ? 'Running' : 'Paused';
        this.startDevices();
        return undefined;
      }
      default:
        throw new Error(`Invalid request method and/or path: ${method} ${path}.`);
    }
  }

  private action(type: string): undefined {
    if (type === 'InstanceStart') {
      if (this.state !== 'Not started' || this.restored) throw new Error('The requested operation is not supported after starting the microVM.');
      if (!this.resources.has('boot-source')) throw new Error('Cannot start microvm without kernel configuration.');
      const kernel = (this.resources.get('boot-source')!.kernel_image_path as string);
      let head: Buffer;
      try {
        head = readFileSync(this.host(kernel)).subarray(0, 4);
      } catch (err) {
        throw new Error(`Start microvm error: Cannot load kernel due to invalid memory configuration or invalid kernel image: ${(err as Error).message}`);
      }
      if (head.toString('latin1') !== '\x7fELF') throw new Error('Start microvm error: Cannot load kernel due to invalid memory configuration or invalid kernel image: Kernel Loader: failed to load ELF kernel image');
      this.checkDrives(this.resources, 'Start microvm error: ');
      this.state = 'Running';
      const mac = this.resources.get('network-interfaces/eth0')?.guest_mac;
      this.guestNet = typeof mac === 'string' ? { mac } : {};
      this.runGuest(kernel);
      this.startDevices();
      this.flushMetrics();
      return undefined;
    }
    if (type === 'FlushMetrics') {
      if (this.state === 'Not started') throw new Error('The requested operation is not supported before starting the microVM.');
      this.flushMetrics();
      return undefined;
    }
    if (type === 'SendCtrlAltDel') {
      if (this.state !== 'Running') throw new Error('The requested operation is not supported before starting the microVM.');
      const delay = this.opts.powerOffDelayMs ?? 100;
      if (delay !== 'ignore') {
        setTimeout(() => {
          this.opts.console?.('[  OK  ] Reached target System Power Off.');
          this.poweredOff = true;
          this.opts.onPowerOff?.();
        }, delay);
      }
      return undefined;
    }
    throw new Error(`Unknown action ${type}.`);
  }

  /** Every drive's file opens (relative paths from the working directory, as firecracker resolves them). */
  private checkDrives(resources: ReadonlyMap<string, Record<string, unknown>>, prefix: string): void {
    for (const [k, v] of resources) {
      if (!k.startsWith('drives/') || typeof v.path_on_host !== 'string') continue;
      if (!existsSync(this.host(v.path_on_host))) {
        throw new Error(`${prefix}Unable to create the virtio block device: Virtio backend error: Error manipulating the backing file: No such file or directory (os error 2) ${v.path_on_host}`);
      }
    }
  }

  /** The guest's serial output: the probe kernel's marker (interpreted), boot lines for a real kernel, nothing on a broken host. */
  private runGuest(kernel: string): void {
    if (this.opts.guest === 'crash') {
      this.opts.console?.('[anonymous-instance:fc_vcpu 0] Failure in vcpu 0: KVM_EXIT_INTERNAL_ERROR');
      setTimeout(() => this.opts.onCrash?.(), 20);
      return;
    }
    if (this.opts.guest === 'hang') return;
    const serial = interpretTinyGuest(readFileSync(this.host(kernel)));
    if (serial !== undefined) {
      if (serial) process.nextTick(() => serial.replace(/\n$/, '').split('\n').forEach((l) => this.opts.console?.(l)));
      return;
    }
    this.opts.console?.(`[    0.000000] Linux version 6.1.0-standin (firecracker stand-in ${this.version()})`);
    this.opts.console?.(`[    0.000001] Command line: ${(this.resources.get('boot-source')!.boot_args as string | undefined) ?? ''}`);
  }

  private flushMetrics(): void {
    if (!this.metricsPath) return;
    const line = {
      utc_timestamp_ms: Date.now(),
      block: { read_bytes: 4096, write_bytes: 8192, read_count: 1, write_count: 2 },
      net: { rx_bytes_count: 1000, tx_bytes_count: 2000, rx_packets_count: 10, tx_packets_count: 20 },
      vcpu: { exit_io_in: 1, exit_io_out: 2 },
    };
    appendFileSync(this.metricsPath, JSON.stringify(line) + '\n');
  }

  private startDevices(): void {
    if (!this.vsockPath || this.vsock) return;
    rmSync(this.vsockPath, { force: true });
    this.vsock = createNetServer((s) => this.vsockConnection(s));
    this.vsock.listen(this.vsockPath);
  }

  /** Firecracker's host-initiated vsock handshake, then the guest side: port 52 is the banger guest channel. */
  private vsockConnection(s: Socket): void {
    let buf = '';
    let connected = false;
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      if (!connected) {
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        const m = /^CONNECT (\d+)$/.exec(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (!m || Number(m[1]) !== 52 || this.state !== 'Running' || this.poweredOff) {
          s.destroy();
          return;
        }
        connected = true;
        s.write(`OK ${1073741824 + Math.floor(Math.random() * 1000)}\n`);
      }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const cmd = buf.slice(0, nl).trim();
      if (cmd === 'health') s.end(`ok ${(process.uptime()).toFixed(2)}\n`);
      else if (cmd === 'ports') s.end((this.opts.guestPorts ?? [22]).map((p) => `tcp   LISTEN 0      128          0.0.0.0:${p}        0.0.0.0:*    users:(("sshd",pid=${400 + p},fd=3))`).join('\n') + '\n');
      else if (cmd.split(' ')[0] === 'readdress' && (this.opts.guestBits ?? READDRESS_GUEST_BITS) >= READDRESS_GUEST_BITS) s.end(this.readdress(cmd));
      else s.end(`error unknown command\n`);
    });
  }

  /** The guest bits' readdress (guest/channel.ts), checked as strictly, applied to the modelled NIC and recorded. */
  private readdress(line: string): string {
    const [, mac = '', cidr = '', gateway = '', ...dns] = line.split(/\s+/);
    const [address = '', prefix = ''] = cidr.split('/');
    let answer: string;
    if (!gateway) answer = 'error usage: readdress MAC CIDR GATEWAY [DNS...]\n';
    else {
      const problems = guestAddressProblems({ mac, address, prefix: /^\d+$/.test(prefix) ? Number(prefix) : NaN, gateway, nameservers: dns });
      if (problems.length > 0) answer = `error ${problems[0]}\n`;
      else {
        this.guestNet = { mac, cidr };
        answer = `ok readdress eth0 ${mac} ${cidr}\n`;
      }
    }
    const entry: StandinRequest = { method: 'VSOCK', path: 'readdress', body: line, status: answer.startsWith('ok') ? 200 : 400, reply: answer.trim() };
    this.requests.push(entry);
    if (this.opts.recordTo) appendFileSync(this.opts.recordTo, JSON.stringify(entry) + '\n');
    return answer;
  }

  private version(): string {
    return this.opts.version ?? '1.16.1';
  }
}
