/**
 * banger's nftables rules for bridge mode, as pure text builders. Everything lives in two tables of
 * banger's own, `inet banger` (routing: egress, NAT, the host's ports) and `bridge banger` (frames
 * between taps: isolation, spoofing); no other table is ever named.
 *
 * Per VM (objects suffixed with a short id): a set of allowed networks (the CIDR entries of its
 * allowlist), a set of addresses its DNS answers allowed (elements time out with the answer's TTL), a
 * chain that accepts those two sets and hands the rest to the VM's refusal chain, and the refusal chain
 * itself: it records each refused destination (address, protocol, port) in the VM's `refused` set with
 * a counter (an element times out REFUSED_KEEP_S after its last attempt, so its expiry tells when that
 * was), counts the packet in the VM's named counter, logs and drops it. The `egress` verdict map sends a
 * VM's forwarded traffic to its chain (allowlist), accepts it (`--nat` without allowlist) or, without an
 * element, lets it fall to the `refuse` map, which sends every VM's refused packets (forwarded, or for
 * the host's own ports) to its refusal chain.
 *
 * @module
 */
import { formatAllowEntry, type AllowEntry } from '../../model/egress.js';

export const TABLE = 'banger';
/** How long a refused destination is remembered after its last attempt (seconds). */
export const REFUSED_KEEP_S = 86_400;
/** At most this many refused destinations are remembered per VM; attempts at others are only counted. */
export const REFUSED_MAX = 4096;

export interface BaseRules {
  bridge: string;
  gateway: string;
  /** Drop frames between VMs (isolate_vms). */
  isolate: boolean;
}

export interface VmRules {
  /** Short, unique per VM: object names are suffixed with it. */
  key: string;
  tap: string;
  ip: string;
  mac: string;
  nat: boolean;
  /** Undefined: no allowlist (all or nothing, by nat). */
  allow?: readonly AllowEntry[];
}

const KEY = /^[a-z0-9]{1,16}$/;
const q = (s: string) => JSON.stringify(s);

function check(v: VmRules): void {
  if (!KEY.test(v.key)) throw new TypeError(`invalid rule key "${v.key}"`);
  if (!/^[a-zA-Z0-9_-]{1,15}$/.test(v.tap)) throw new TypeError(`invalid tap "${v.tap}"`);
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(v.ip)) throw new TypeError(`invalid address "${v.ip}"`);
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(v.mac)) throw new TypeError(`invalid MAC "${v.mac}"`);
}

/** The names of a VM's objects in the inet table. */
export function vmObjects(key: string): { chain: string; refuse: string; nets: string; dns: string; refused: string; counter: string } {
  return { chain: `vm-${key}`, refuse: `refuse-${key}`, nets: `nets-${key}`, dns: `dns-${key}`, refused: `refused-${key}`, counter: `deny-${key}` };
}

/** Replaces both tables with their empty base (VMs are added after): run at daemon start. */
export function renderBase(b: BaseRules): string {
  const br = q(b.bridge);
  return [
    `add table inet ${TABLE}`,
    `delete table inet ${TABLE}`,
    `add table bridge ${TABLE}`,
    `delete table bridge ${TABLE}`,
    `table inet ${TABLE} {`,
    `  set masq {`,
    `    type ipv4_addr`,
    `  }`,
    `  map egress {`,
    `    type ipv4_addr : verdict`,
    `  }`,
    `  map refuse {`,
    `    type ipv4_addr : verdict`,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    `    iifname ${br} oifname ${br} ${b.isolate ? 'drop' : 'accept'}`,
    `    iifname ${br} ip saddr vmap @egress`,
    `    iifname ${br} ip saddr vmap @refuse`,
    `    iifname ${br} counter drop`,
    `    oifname ${br} ct state established,related accept`,
    `    oifname ${br} counter drop`,
    `  }`,
    `  chain input {`,
    `    type filter hook input priority filter; policy accept;`,
    `    iifname ${br} ct state established,related accept`,
    `    iifname ${br} ip daddr ${b.gateway} udp dport 53 accept`,
    `    iifname ${br} ip daddr ${b.gateway} tcp dport 53 accept`,
    `    iifname ${br} ip daddr ${b.gateway} icmp type echo-request accept`,
    `    iifname ${br} ip saddr vmap @refuse`,
    `    iifname ${br} counter drop`,
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    `    ip saddr @masq oifname != ${br} masquerade`,
    `  }`,
    `}`,
    `table bridge ${TABLE} {`,
    `  set taps {`,
    `    type ifname`,
    `  }`,
    `  set sources {`,
    `    type ifname . ipv4_addr`,
    `  }`,
    `  set macs {`,
    `    type ifname . ether_addr`,
    `  }`,
    `  chain prerouting {`,
    `    type filter hook prerouting priority filter; policy accept;`,
    `    iifname @taps iifname . ether saddr != @macs drop`,
    `    iifname @taps ether type ip iifname . ip saddr != @sources drop`,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    ...(b.isolate ? [`    iifname @taps oifname @taps drop`] : []),
    `  }`,
    `}`,
    '',
  ].join('\n');
}

/** The egress verdict and NAT membership a VM's settings give. */
function egressLines(v: VmRules): string[] {
  const o = vmObjects(v.key);
  const lines: string[] = [];
  if (v.allow !== undefined) lines.push(`add element inet ${TABLE} egress { ${v.ip} : jump ${o.chain} }`);
  else if (v.nat) lines.push(`add element inet ${TABLE} egress { ${v.ip} : accept }`);
  if (v.nat || v.allow !== undefined) lines.push(`add element inet ${TABLE} masq { ${v.ip} }`);
  return lines;
}

/** Adds a VM: its objects, its tap's identity in the bridge table, its egress verdict. */
export function renderVmAdd(v: VmRules): string {
  check(v);
  const o = vmObjects(v.key);
  const nets = (v.allow ?? []).filter((e) => e.kind === 'cidr').map(formatAllowEntry);
  return [
    `add counter inet ${TABLE} ${o.counter}`,
    `add set inet ${TABLE} ${o.nets} { type ipv4_addr; flags interval; }`,
    ...(nets.length > 0 ? [`add element inet ${TABLE} ${o.nets} { ${nets.join(', ')} }`] : []),
    `add set inet ${TABLE} ${o.dns} { type ipv4_addr; flags timeout; }`,
    `add set inet ${TABLE} ${o.refused} { type ipv4_addr . inet_proto . inet_service; flags dynamic, timeout; timeout ${REFUSED_KEEP_S}s; size ${REFUSED_MAX}; }`,
    `add chain inet ${TABLE} ${o.refuse}`,
    `add rule inet ${TABLE} ${o.refuse} meta l4proto { tcp, udp } update @${o.refused} { ip daddr . meta l4proto . th dport counter }`,
    `add rule inet ${TABLE} ${o.refuse} meta l4proto != { tcp, udp } update @${o.refused} { ip daddr . meta l4proto . 0 counter }`,
    `add rule inet ${TABLE} ${o.refuse} counter name ${q(o.counter)} log prefix ${q(`banger-deny ${v.key}: `)} drop`,
    `add chain inet ${TABLE} ${o.chain}`,
    `add rule inet ${TABLE} ${o.chain} ip daddr @${o.nets} accept`,
    `add rule inet ${TABLE} ${o.chain} ip daddr @${o.dns} accept`,
    `add rule inet ${TABLE} ${o.chain} goto ${o.refuse}`,
    `add element inet ${TABLE} refuse { ${v.ip} : goto ${o.refuse} }`,
    `add element bridge ${TABLE} taps { ${q(v.tap)} }`,
    `add element bridge ${TABLE} sources { ${q(v.tap)} . ${v.ip} }`,
    `add element bridge ${TABLE} macs { ${q(v.tap)} . ${v.mac} }`,
    ...egressLines(v),
    '',
  ].join('\n');
}

/**
 * Re-applies a running VM's egress (nat, allowlist) in one transaction: its verdict and NAT membership
 * are replaced, its allowed networks refilled; addresses its DNS answers allowed are dropped when the
 * allowlist changed (names may no longer be allowed).
 */
export function renderVmEgress(v: VmRules, prev: Pick<VmRules, 'nat' | 'allow'>): string {
  check(v);
  const o = vmObjects(v.key);
  const nets = (v.allow ?? []).filter((e) => e.kind === 'cidr').map(formatAllowEntry);
  return [
    ...(prev.allow !== undefined || prev.nat ? [`delete element inet ${TABLE} egress { ${v.ip} }`] : []),
    ...(prev.allow !== undefined || prev.nat ? [`delete element inet ${TABLE} masq { ${v.ip} }`] : []),
    `flush set inet ${TABLE} ${o.nets}`,
    ...(nets.length > 0 ? [`add element inet ${TABLE} ${o.nets} { ${nets.join(', ')} }`] : []),
    ...(JSON.stringify(prev.allow) !== JSON.stringify(v.allow) ? [`flush set inet ${TABLE} ${o.dns}`] : []),
    ...egressLines(v),
    '',
  ].join('\n');
}

/** Removes everything renderVmAdd added (and egress elements the VM has). */
export function renderVmRemove(v: VmRules): string {
  check(v);
  const o = vmObjects(v.key);
  return [
    ...(v.allow !== undefined || v.nat ? [`delete element inet ${TABLE} egress { ${v.ip} }`] : []),
    ...(v.allow !== undefined || v.nat ? [`delete element inet ${TABLE} masq { ${v.ip} }`] : []),
    `delete element inet ${TABLE} refuse { ${v.ip} }`,
    `delete chain inet ${TABLE} ${o.chain}`,
    `delete chain inet ${TABLE} ${o.refuse}`,
    `delete set inet ${TABLE} ${o.nets}`,
    `delete set inet ${TABLE} ${o.dns}`,
    `delete set inet ${TABLE} ${o.refused}`,
    `delete counter inet ${TABLE} ${o.counter}`,
    `delete element bridge ${TABLE} taps { ${q(v.tap)} }`,
    `delete element bridge ${TABLE} sources { ${q(v.tap)} . ${v.ip} }`,
    `delete element bridge ${TABLE} macs { ${q(v.tap)} . ${v.mac} }`,
    '',
  ].join('\n');
}

/** Lets a VM reach addresses its DNS answer gave, for `ttl` seconds (at least 1). */
export function renderDnsAllow(key: string, addrs: readonly string[], ttl: number): string {
  if (!KEY.test(key)) throw new TypeError(`invalid rule key "${key}"`);
  const ok = addrs.filter((a) => /^\d{1,3}(\.\d{1,3}){3}$/.test(a));
  if (ok.length === 0) return '';
  const t = Math.max(1, Math.min(86_400, Math.floor(ttl)));
  return `add element inet ${TABLE} ${vmObjects(key).dns} { ${ok.map((a) => `${a} timeout ${t}s`).join(', ')} }\n`;
}

/** Deletes both tables (nothing else): the last bridge-mode state goes with them. */
export function renderTeardown(): string {
  return [`add table inet ${TABLE}`, `delete table inet ${TABLE}`, `add table bridge ${TABLE}`, `delete table bridge ${TABLE}`, ''].join('\n');
}
