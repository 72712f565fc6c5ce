/**
 * The root helper's wire format and its closed set of requests. One JSON request per connection, one
 * line each way. A request is checked here before anything runs: the op must be one of OPS, names
 * must be banger's (its bridge, bgtap<N> taps), addresses and prefixes well formed, nftables scripts
 * and listings inside banger's own tables.
 *
 * @module
 */
import { isIP } from 'node:net';
import { isIfName, TAP_NAME } from '../netdev.js';
import { checkBangerListing, checkBangerScript, NftScriptRefused } from './nft-guard.js';

export type HelperRequest =
  | { op: 'ping' }
  | { op: 'ensure_bridge'; name: string; addr: string; prefix: number }
  | { op: 'add_tap'; name: string; bridge: string }
  | { op: 'delete_tap'; name: string }
  | { op: 'nft_apply'; script: string }
  | { op: 'nft_list'; what: string[] }
  | { op: 'enable_ip_forward' }
  | { op: 'wire_resolver'; link: string; addr: string };

export type HelperOp = HelperRequest['op'];

export const OPS: readonly HelperOp[] = ['ping', 'ensure_bridge', 'add_tap', 'delete_tap', 'nft_apply', 'nft_list', 'enable_ip_forward', 'wire_resolver'];

/** Why the helper refused or failed a request. */
export type HelperErrorCode = 'peer_refused' | 'unknown_op' | 'bad_request' | 'invalid_name' | 'outside_banger' | 'failed';

export type HelperResponse = { ok: true; result: unknown } | { ok: false; code: HelperErrorCode; message: string };

export class HelperError extends Error {
  constructor(
    readonly code: HelperErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'HelperError';
  }
}

/** What a helper accepts beyond the fixed rules: the bridges it may make and wire. */
export interface HelperPolicy {
  bridges: readonly string[];
}

/** Requests are small: the largest is an nftables script. */
export const MAX_REQUEST_BYTES = 1024 * 1024 + 4096;

const KEYS: Record<HelperOp, readonly string[]> = {
  ping: [],
  ensure_bridge: ['name', 'addr', 'prefix'],
  add_tap: ['name', 'bridge'],
  delete_tap: ['name'],
  nft_apply: ['script'],
  nft_list: ['what'],
  enable_ip_forward: [],
  wire_resolver: ['link', 'addr'],
};

function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new HelperError('bad_request', `${field} must be a string`);
  return v;
}

function tap(v: unknown): string {
  const name = str(v, 'name');
  if (!TAP_NAME.test(name)) throw new HelperError('invalid_name', `"${name}" is not a banger tap name (bgtap<N>)`);
  return name;
}

function bridge(v: unknown, policy: HelperPolicy, field = 'bridge'): string {
  const name = str(v, field);
  if (!isIfName(name) || !policy.bridges.includes(name)) {
    throw new HelperError('invalid_name', `"${name}" is not banger's bridge${policy.bridges.length ? ` (${policy.bridges.join(', ')})` : ''}`);
  }
  return name;
}

function ipv4(v: unknown, field: string): string {
  const addr = str(v, field);
  if (isIP(addr) !== 4) throw new HelperError('bad_request', `${field} "${addr}" is not an IPv4 address`);
  return addr;
}

/** The typed request `raw` stands for, or a HelperError saying why the helper will not run it. */
export function parseRequest(raw: unknown, policy: HelperPolicy): HelperRequest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new HelperError('bad_request', 'a request is a JSON object');
  const r = raw as Record<string, unknown>;
  const op = r.op;
  if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) throw new HelperError('unknown_op', `unknown operation ${JSON.stringify(op)}`);
  const known = KEYS[op as HelperOp];
  const extra = Object.keys(r).filter((k) => k !== 'op' && !known.includes(k));
  if (extra.length > 0) throw new HelperError('bad_request', `${op} takes no ${extra.join(', ')}`);
  try {
    switch (op as HelperOp) {
      case 'ping':
        return { op: 'ping' };
      case 'ensure_bridge': {
        const prefix = r.prefix;
        if (typeof prefix !== 'number' || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) throw new HelperError('bad_request', `prefix must be an integer from 8 to 30`);
        return { op: 'ensure_bridge', name: bridge(r.name, policy, 'name'), addr: ipv4(r.addr, 'addr'), prefix };
      }
      case 'add_tap':
        return { op: 'add_tap', name: tap(r.name), bridge: bridge(r.bridge, policy) };
      case 'delete_tap':
        return { op: 'delete_tap', name: tap(r.name) };
      case 'nft_apply': {
        const script = str(r.script, 'script');
        checkBangerScript(script);
        return { op: 'nft_apply', script };
      }
      case 'nft_list': {
        if (!Array.isArray(r.what)) throw new HelperError('bad_request', 'what must be an array');
        return { op: 'nft_list', what: checkBangerListing(r.what) };
      }
      case 'enable_ip_forward':
        return { op: 'enable_ip_forward' };
      case 'wire_resolver':
        return { op: 'wire_resolver', link: bridge(r.link, policy, 'link'), addr: ipv4(r.addr, 'addr') };
    }
  } catch (err) {
    if (err instanceof NftScriptRefused) throw new HelperError('outside_banger', err.message);
    throw err;
  }
}
