/** Published ports on the wire: `[HOSTPORT:]GUESTPORT` specs and what `vm ports` reports. */
import { badRequest } from './errors.js';

/** A guest TCP port published on the host (user mode: on the VM's own loopback address; bridge mode: on 127.0.0.1). */
export interface PublishedPort {
  hostPort: number;
  guestPort: number;
}

const SPEC = /^(?:(\d{1,5}):)?(\d{1,5})$/;
const SPEC_HINT = 'write [HOSTPORT:]GUESTPORT with ports 1-65535, e.g. 8080:80 or 3000';

/** Parses `[HOSTPORT:]GUESTPORT`; a bare port publishes the guest port on the same host port. */
export function parsePortSpec(spec: string): PublishedPort {
  const m = SPEC.exec(spec.trim());
  if (!m) throw badRequest(`invalid port ${JSON.stringify(spec)}`, SPEC_HINT);
  const guestPort = Number(m[2]);
  const hostPort = m[1] !== undefined ? Number(m[1]) : guestPort;
  for (const n of [hostPort, guestPort]) if (n < 1 || n > 65535) throw badRequest(`invalid port ${JSON.stringify(spec)}: ${n} is not in 1-65535`, SPEC_HINT);
  return { hostPort, guestPort };
}

/** Parses a list of specs, refusing one host port used twice. */
export function parsePortSpecs(specs: readonly string[]): PublishedPort[] {
  const out = specs.map(parsePortSpec);
  const seen = new Set<number>();
  for (const p of out) {
    if (seen.has(p.hostPort)) throw badRequest(`host port ${p.hostPort} is given twice`, 'each host port can publish one guest port');
    seen.add(p.hostPort);
  }
  return out;
}

export function formatPort(p: PublishedPort): string {
  return `${p.hostPort}:${p.guestPort}`;
}

/** One listening socket in the guest, as `vm ports` reports it. */
export interface GuestSocket {
  proto: 'tcp' | 'udp';
  /**
   * The address it listens on inside the guest: 0.0.0.0 (every IPv4 address), :: (every IPv6 address
   * only), * (every address of both families), 127.0.0.1, ...
   */
  address: string;
  port: number;
  /** The process name, when the guest reported it. */
  process?: string;
  /**
   * Where the host reaches it: user mode, its published port (`127.77.x.y:8080`); bridge mode, the
   * guest's own port (`NAME.vm:3000`) for every socket not bound to the guest's loopback.
   */
  endpoint?: string;
  /** Its published port on the host (`127.77.x.y:8080` in user mode, `127.0.0.1:8080` in bridge mode). */
  forward?: string;
  /** An http:// link to the endpoint, when it answered HTTP. */
  url?: string;
  /** A trap worth knowing (listening on the guest's loopback only, ...). */
  warning?: string;
}

export interface VMPorts {
  name: string;
  /** Where published ports bind on the host: the VM's own loopback address in user mode, 127.0.0.1 in bridge mode. */
  hostAddr?: string;
  /** Bridge mode: the guest's own address (what `NAME.vm` resolves to), where the host reaches every port. */
  guestAddr?: string;
  sockets: GuestSocket[];
  /** Published ports (`vm forward`, `vm run -p`), whether or not something listens on them. */
  published: PublishedPort[];
  /** How the sockets were listed: the driver's vsock guest channel, or SSH. */
  via?: 'vsock' | 'ssh';
}

export interface ForwardRequest {
  /** `[HOSTPORT:]GUESTPORT` specs to publish. */
  add?: string[];
  /** Host ports to stop publishing. */
  remove?: number[];
}

export interface ForwardResult {
  name: string;
  hostAddr?: string;
  published: PublishedPort[];
  /** Set when the change is stored but waits for the VM's next start. */
  pending?: string;
}
