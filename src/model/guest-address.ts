/**
 * The address a restored guest takes on: a VM restored from another's saved state keeps that VM's
 * MAC, address and route in memory, so the host tells it its own over the guest channel with one
 * line, `readdress MAC CIDR GATEWAY [DNS...]` (see guest/channel.ts). This module builds and checks
 * that line; it does no I/O.
 *
 * @module
 */

/** The guest bits version whose guest channel first answers `readdress`. */
export const READDRESS_GUEST_BITS = 7;

export interface GuestAddress {
  /** The NIC's new MAC, lower-case colon-separated. */
  mac: string;
  /** IPv4 address. */
  address: string;
  /** Prefix length, 1 to 32. */
  prefix: number;
  gateway: string;
  nameservers: readonly string[];
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

/** What is wrong with an address (empty when it can be sent). */
export function guestAddressProblems(a: GuestAddress): string[] {
  const p: string[] = [];
  if (!MAC_RE.test(a.mac)) p.push(`MAC ${JSON.stringify(a.mac)} is not six lower-case hex pairs`);
  else if ((parseInt(a.mac.slice(0, 2), 16) & 1) === 1) p.push(`MAC ${a.mac} is a multicast address`);
  if (!isIPv4(a.address)) p.push(`address ${JSON.stringify(a.address)} is not IPv4`);
  if (!Number.isInteger(a.prefix) || a.prefix < 1 || a.prefix > 32) p.push(`prefix ${a.prefix} is not 1 to 32`);
  if (!isIPv4(a.gateway)) p.push(`gateway ${JSON.stringify(a.gateway)} is not IPv4`);
  else if (isIPv4(a.address) && a.prefix >= 1 && a.prefix <= 32 && !sameSubnet(a.address, a.gateway, a.prefix)) p.push(`gateway ${a.gateway} is outside ${a.address}/${a.prefix}`);
  for (const ns of a.nameservers) if (!isIPv4(ns)) p.push(`nameserver ${JSON.stringify(ns)} is not IPv4`);
  return p;
}

function toInt(ip: string): number {
  return ip.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

function sameSubnet(a: string, b: string, prefix: number): boolean {
  const shift = 32 - prefix;
  return Math.floor(toInt(a) / 2 ** shift) === Math.floor(toInt(b) / 2 ** shift);
}

/** The guest channel line that re-addresses the guest; throws on an address it must not send. */
export function readdressCommand(a: GuestAddress): string {
  const problems = guestAddressProblems(a);
  if (problems.length > 0) throw new Error(`cannot re-address the guest: ${problems.join('; ')}`);
  return ['readdress', a.mac, `${a.address}/${a.prefix}`, a.gateway, ...a.nameservers].join(' ');
}

/** The guest's answer, "ok readdress <dev> <mac> <cidr>", read back; undefined when it is not that. */
export function parseReaddressAnswer(answer: string): { dev: string; mac: string; cidr: string } | undefined {
  const m = /^ok readdress (\S+) (\S+) (\S+)$/.exec(answer.trim());
  return m ? { dev: m[1]!, mac: m[2]!, cidr: m[3]! } : undefined;
}

/** Whether guest bits of this version (undefined: unknown, older than recorded) answer readdress. */
export function guestBitsReaddress(version: number | undefined): boolean {
  return version !== undefined && version >= READDRESS_GUEST_BITS;
}
