/**
 * Firecracker's metrics file: one JSON object a line, written at each flush, whose counters count
 * what happened since the previous flush. Summing the lines gives totals since the VM started.
 *
 * @module
 */
import type { VMCounters } from '../hypervisor.js';

type Group = Record<string, unknown>;

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** Totals of the vCPU exits (every `exit_*` counter of the `vcpu` group) and the block and net bytes, over all lines. */
export function sumMetrics(text: string): VMCounters {
  const out: Required<VMCounters> = { vcpuExits: 0, blockReadBytes: 0, blockWriteBytes: 0, netRxBytes: 0, netTxBytes: 0 };
  const seen = new Set<keyof VMCounters>();
  const add = (key: keyof VMCounters, v: unknown) => {
    if (typeof v !== 'number') return;
    seen.add(key);
    out[key] += num(v);
  };
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let m: Record<string, Group | undefined>;
    try {
      m = JSON.parse(line) as typeof m;
    } catch {
      continue;
    }
    for (const [k, v] of Object.entries(m.vcpu ?? {})) if (k.startsWith('exit_')) add('vcpuExits', v);
    add('blockReadBytes', m.block?.read_bytes);
    add('blockWriteBytes', m.block?.write_bytes);
    add('netRxBytes', m.net?.rx_bytes_count);
    add('netTxBytes', m.net?.tx_bytes_count);
  }
  return Object.fromEntries([...seen].map((k) => [k, out[k]]));
}
