/**
 * Host network devices for bridge mode through iproute2: the bridge, tap devices, routes. Every call
 * is an argv array, every name and address is validated here before it reaches `ip`.
 *
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { run, runUnchecked } from './exec.js';

const IFNAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,14}$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Taps banger makes are named bgtap<N>: nothing else is ever deleted by name. */
export const TAP_PREFIX = 'bgtap';
export const TAP_NAME = /^bgtap\d{1,9}$/;

export function isIfName(name: string): boolean {
  return IFNAME.test(name);
}

function ifname(name: string): string {
  if (!IFNAME.test(name)) throw new TypeError(`invalid interface name "${name}" (1-15 letters, digits, - or _)`);
  return name;
}

function ipv4(addr: string): string {
  const m = IPV4.exec(addr);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new TypeError(`invalid IPv4 address "${addr}"`);
  return addr;
}

export interface LinkInfo {
  name: string;
  /** The bridge it is a port of. */
  master?: string;
  kind?: string;
  up: boolean;
}

interface RawLink {
  ifname: string;
  master?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
}

/** Every link of this network namespace. */
export async function listLinks(): Promise<LinkInfo[]> {
  const r = await run(['ip', '-j', '-d', 'link', 'show']);
  return (JSON.parse(r.stdout || '[]') as RawLink[]).map((l) => ({
    name: l.ifname,
    ...(l.master ? { master: l.master } : {}),
    ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}),
    up: (l.flags ?? []).includes('UP'),
  }));
}

export async function linkExists(name: string): Promise<boolean> {
  const r = await runUnchecked(['ip', 'link', 'show', 'dev', ifname(name)]);
  return r.code === 0;
}

/** Creates the bridge with its address when it is missing, and brings it up. Returns whether it made it. */
export async function ensureBridge(name: string, addr: string, prefix: number): Promise<boolean> {
  ifname(name);
  ipv4(addr);
  if (!Number.isInteger(prefix) || prefix < 1 || prefix > 32) throw new TypeError(`invalid prefix ${prefix}`);
  let made = false;
  if (!(await linkExists(name))) {
    await run(['ip', 'link', 'add', 'name', name, 'type', 'bridge']);
    made = true;
  }
  const shown = await run(['ip', '-j', '-4', 'addr', 'show', 'dev', name]);
  const has = (JSON.parse(shown.stdout || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[]).some((l) =>
    (l.addr_info ?? []).some((a) => a.local === addr && a.prefixlen === prefix),
  );
  if (!has) await run(['ip', 'addr', 'add', `${addr}/${prefix}`, 'dev', name]);
  await run(['ip', 'link', 'set', 'dev', name, 'up']);
  return made;
}

/**
 * A persistent tap device attached to the bridge and up. With `ownerUid`, that user may open it
 * (a hypervisor running as the daemon's user, not root).
 */
export async function addTap(name: string, bridge: string, ownerUid?: number): Promise<void> {
  if (ownerUid !== undefined && (!Number.isInteger(ownerUid) || ownerUid < 0)) throw new TypeError(`invalid uid ${ownerUid}`);
  await run(['ip', 'tuntap', 'add', 'dev', ifname(name), 'mode', 'tap', ...(ownerUid !== undefined ? ['user', String(ownerUid)] : [])]);
  try {
    await run(['ip', 'link', 'set', 'dev', name, 'master', ifname(bridge), 'up']);
  } catch (err) {
    await deleteLink(name);
    throw err;
  }
}

/** Sets the MAC a tap shows the bridge (the host side; the guest has its own). */
export async function setLinkAddress(name: string, mac: string): Promise<void> {
  if (!MAC.test(mac)) throw new TypeError(`invalid MAC address "${mac}"`);
  await run(['ip', 'link', 'set', 'dev', ifname(name), 'address', mac]);
}

/** The kind of a link (bridge, tun, veth, ...); undefined when it does not exist or is a plain device. */
export async function linkKind(name: string): Promise<string | undefined> {
  const r = await runUnchecked(['ip', '-j', '-d', 'link', 'show', 'dev', ifname(name)]);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout || '[]') as RawLink[])[0]?.linkinfo?.info_kind;
}

/** The uid a tun/tap device is reserved for (`ip tuntap add ... user UID`), from sysfs; undefined when it has none. */
export async function tapOwner(name: string): Promise<number | undefined> {
  try {
    const v = Number((await readFile(`/sys/class/net/${ifname(name)}/owner`, 'utf8')).trim());
    return Number.isInteger(v) && v >= 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Deletes a link; one that is already gone is fine. */
export async function deleteLink(name: string): Promise<void> {
  const r = await runUnchecked(['ip', 'link', 'del', 'dev', ifname(name)]);
  if (r.code !== 0 && (await linkExists(name))) throw new Error(`could not delete ${name}: ${r.stderr.trim()}`);
}

export interface RouteInfo {
  dst: string;
  dev?: string;
}

/** The IPv4 routes of the main table. */
export async function listRoutes(): Promise<RouteInfo[]> {
  const r = await run(['ip', '-j', '-4', 'route', 'show']);
  return (JSON.parse(r.stdout || '[]') as { dst: string; dev?: string }[]).map((x) => ({ dst: x.dst, ...(x.dev ? { dev: x.dev } : {}) }));
}

export const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** net.ipv4.ip_forward of this network namespace: true when on. */
export async function ipv4Forwarding(path = IP_FORWARD): Promise<boolean> {
  return (await readFile(path, 'utf8')).trim() === '1';
}

/**
 * Turns on IPv4 forwarding in this network namespace (NAT'd guests need it) and says whether it was
 * off before, i.e. whether this call changed it. It is left on: the setting is host-wide (per
 * namespace) and other software (docker, libvirt) checks and sets it only when it starts, so turning
 * it off later could cut their traffic.
 */
export async function enableIpv4Forwarding(path = IP_FORWARD): Promise<boolean> {
  if (await ipv4Forwarding(path)) return false;
  await writeFile(path, '1\n');
  return true;
}
