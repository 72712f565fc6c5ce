/**
 * The refused connection attempts of a bridge-mode VM, read from its `refused` set in banger's table
 * (nft-rules.ts): one element per destination (address, protocol, port) with a packet counter, whose
 * timeout the kernel restarts at every attempt, so the time left tells when the last one was.
 *
 * @module
 */
import type { EgressConnectionRecord } from '../../api/types.js';
import { REFUSED_KEEP_S } from './nft-rules.js';

interface RawElem {
  val?: { concat?: unknown[] };
  timeout?: number;
  expires?: number;
  counter?: { packets?: number };
}

/** The records in `nft -j list set ...` output, the most recent first; `now` in ms. */
export function refusedFromNftJson(json: { nftables: Record<string, unknown>[] } | undefined, now = Date.now()): EgressConnectionRecord[] {
  const set = json?.nftables.find((x) => 'set' in x)?.set as { timeout?: number; elem?: unknown[] } | undefined;
  const out: EgressConnectionRecord[] = [];
  for (const raw of set?.elem ?? []) {
    const e = ((raw as { elem?: RawElem }).elem ?? raw) as RawElem;
    const [address, protocol, port] = e.val?.concat ?? [];
    if (typeof address !== 'string') continue;
    const proto = typeof protocol === 'string' ? protocol : typeof protocol === 'number' ? String(protocol) : '?';
    const keep = e.timeout ?? set?.timeout ?? REFUSED_KEEP_S;
    const ago = Math.max(0, keep - (e.expires ?? keep));
    out.push({
      address,
      protocol: proto,
      ...(typeof port === 'number' && (proto === 'tcp' || proto === 'udp') ? { port } : {}),
      count: e.counter?.packets ?? 0,
      last: new Date(Math.floor(now / 1000) * 1000 - ago * 1000).toISOString(),
    });
  }
  return out.sort((a, b) => b.last.localeCompare(a.last) || b.count - a.count);
}
