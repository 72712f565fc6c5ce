/**
 * Egress allowlist entries, as users write them after `--allow` and in `[egress] allow`: a domain
 * name (`example.com`), a wildcard covering its subdomains (`*.npmjs.org`, not the bare name), an IPv4
 * address or an IPv4 CIDR (`10.1.2.0/24`). Parsed once, validated with the bad entry named.
 *
 * @module
 */
import { badRequest } from '../api/errors.js';

export type AllowEntry =
  | { kind: 'name'; name: string }
  | { kind: 'wildcard'; suffix: string }
  | { kind: 'cidr'; net: string; prefix: number };

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function octets(s: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  return o.every((x, i) => x <= 255 && String(x) === m[i + 1]) ? o : undefined;
}

function isDomain(s: string): boolean {
  if (s.length > 253) return false;
  const labels = s.split('.');
  return labels.length >= 2 && labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]!);
}

/** Why one entry is invalid, or its parsed form. */
export function parseAllowEntry(raw: string): AllowEntry {
  const text = raw.trim().toLowerCase().replace(/\.$/, '');
  const bad = (why: string) =>
    badRequest(`invalid allow entry "${raw}": ${why}`, 'use a domain (example.com), a wildcard (*.npmjs.org), an IPv4 address or a CIDR (10.1.2.0/24)');
  if (text === '') throw bad('it is empty');
  const cidr = /^([0-9.]+)(?:\/(\d{1,2}))?$/.exec(text);
  if (cidr) {
    const o = octets(cidr[1]!);
    if (!o) throw bad('not an IPv4 address');
    const prefix = cidr[2] === undefined ? 32 : Number(cidr[2]);
    if (prefix < 1 || prefix > 32) throw bad('the prefix length must be 1-32');
    const value = o.reduce((a, b) => a * 256 + b, 0);
    const size = 2 ** (32 - prefix);
    if (value % size !== 0) throw bad(`host bits are set; did you mean ${netString(value - (value % size))}/${prefix}?`);
    return { kind: 'cidr', net: cidr[1]!, prefix };
  }
  if (text.startsWith('*.')) {
    const suffix = text.slice(2);
    if (!isDomain(suffix)) throw bad('not a domain after "*."');
    return { kind: 'wildcard', suffix };
  }
  if (text.includes('*')) throw bad('a wildcard is only allowed as a leading "*."');
  if (!isDomain(text)) throw bad('not a domain name, IPv4 address or CIDR');
  return { kind: 'name', name: text };
}

function netString(v: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.');
}

/** Parses comma-separated lists (one or more arguments); duplicates are dropped, order kept. */
export function parseAllowList(items: readonly string[]): AllowEntry[] {
  const out: AllowEntry[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    for (const part of item.split(',')) {
      if (part.trim() === '' && item.includes(',')) continue;
      const e = parseAllowEntry(part);
      const key = formatAllowEntry(e);
      if (!seen.has(key)) {
        seen.add(key);
        out.push(e);
      }
    }
  }
  return out;
}

export function formatAllowEntry(e: AllowEntry): string {
  switch (e.kind) {
    case 'name':
      return e.name;
    case 'wildcard':
      return `*.${e.suffix}`;
    case 'cidr':
      return e.prefix === 32 ? e.net : `${e.net}/${e.prefix}`;
  }
}

/** Whether a queried name (any case, trailing dot or not) is allowed by the entries. */
export function nameAllowed(entries: readonly AllowEntry[], qname: string): boolean {
  const name = qname.toLowerCase().replace(/\.$/, '');
  return entries.some((e) => (e.kind === 'name' ? e.name === name : e.kind === 'wildcard' ? name.endsWith(`.${e.suffix}`) : false));
}

function ipv4Value(s: string): number | undefined {
  const o = octets(s);
  return o ? o.reduce((a, b) => a * 256 + b, 0) : undefined;
}

/** Whether an IPv4 address lies in one of the entries' addresses or CIDRs. */
export function addressAllowed(entries: readonly AllowEntry[], addr: string): boolean {
  const v = ipv4Value(addr);
  if (v === undefined) return false;
  return entries.some((e) => {
    if (e.kind !== 'cidr') return false;
    const size = 2 ** (32 - e.prefix);
    const net = ipv4Value(e.net)!;
    return v >= net && v < net + size;
  });
}
