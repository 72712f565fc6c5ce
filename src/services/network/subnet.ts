/**
 * The bridge subnet as numbers: parsed from bridge_ip and cidr, guest addresses picked from it (the
 * lowest free one, so the first VM gets .2 next to a .1 bridge), and the check that it does not overlap
 * a route the host already has (which would make guests shadow a real network).
 *
 * @module
 */
import { badRequest } from '../../api/errors.js';

export interface Subnet {
  /** Network address as a 32-bit number. */
  net: number;
  prefix: number;
  /** The bridge's own address. */
  gateway: number;
}

export function ipToNum(ip: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new TypeError(`not an IPv4 address: ${ip}`);
  return m.slice(1).reduce((a, o) => a * 256 + Number(o), 0);
}

export function numToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

const size = (prefix: number) => 2 ** (32 - prefix);

/** The subnet of bridge_ip/cidr; refused when the bridge address is the network or broadcast address. */
export function bridgeSubnet(bridgeIp: string, prefix: number): Subnet {
  let ip: number;
  try {
    ip = ipToNum(bridgeIp);
  } catch {
    throw badRequest(`bridge_ip "${bridgeIp}" is not an IPv4 address`, 'set bridge_ip in config.toml to an address such as "172.16.0.1"');
  }
  if (!Number.isInteger(prefix) || prefix < 8 || prefix > 30) {
    throw badRequest(`cidr ${prefix} is not a prefix length from 8 to 30`, 'set cidr in config.toml, e.g. cidr = 24');
  }
  const net = ip - (ip % size(prefix));
  if (ip === net || ip === net + size(prefix) - 1) {
    throw badRequest(`bridge_ip ${bridgeIp} is the network or broadcast address of ${numToIp(net)}/${prefix}`, `set bridge_ip in config.toml to a host address such as ${numToIp(net + 1)}`);
  }
  return { net, prefix, gateway: ip };
}

export function subnetString(s: Subnet): string {
  return `${numToIp(s.net)}/${s.prefix}`;
}

export function contains(s: Subnet, ip: string): boolean {
  const n = ipToNum(ip);
  return n >= s.net && n < s.net + size(s.prefix);
}

/** The lowest host address of the subnet that is neither the bridge's nor in `taken`; undefined when full. */
export function lowestFree(s: Subnet, taken: ReadonlySet<string>): string | undefined {
  for (let n = s.net + 1; n < s.net + size(s.prefix) - 1; n++) {
    if (n === s.gateway) continue;
    const ip = numToIp(n);
    if (!taken.has(ip)) return ip;
  }
  return undefined;
}

export interface HostRoute {
  /** `default` or `a.b.c.d[/len]`, as `ip -j route` prints it. */
  dst: string;
  dev?: string;
}

/** The first host route (other than a default route or one on our own bridge) that overlaps the subnet. */
export function overlappingRoute(s: Subnet, routes: readonly HostRoute[], bridgeName: string): HostRoute | undefined {
  for (const r of routes) {
    if (r.dst === 'default' || r.dev === bridgeName) continue;
    const [addr, len] = r.dst.split('/');
    let start: number;
    try {
      start = ipToNum(addr!);
    } catch {
      continue;
    }
    const p = len === undefined ? 32 : Number(len);
    const rs = start - (start % size(p));
    const re = rs + size(p);
    if (rs < s.net + size(s.prefix) && s.net < re) return r;
  }
  return undefined;
}
