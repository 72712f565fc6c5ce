/**
 * bridge: bridge-mode network setup, measured inside a network namespace made for the run (the host's
 * own links and rules are never touched): a VM's tap + bridge port + nftables rules made on demand and
 * taken from the tap pool, and the time from a DNS answer for an allowlisted name to its addresses being
 * in the VM's nftables set (enforced). Each next to a bare `ip link add` measured in the same run.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmtMs, passMiss, percentile } from './util.mjs';

const TARGETS = { fresh: 50, pooled: 5, allow: 10 };

export async function benchBridge(ctx) {
  if (process.getuid?.() !== 0) throw new Error('the bridge bench needs root (network namespaces, taps, nftables)');
  for (const tool of ['ip', 'nft']) if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed`);
  const ns = `bgbench-${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`ip netns add: ${add.stderr.trim()}`);
  let data;
  try {
    spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const worker = join(dirname(fileURLToPath(import.meta.url)), 'bridge-worker.mjs');
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, worker, ctx.dist, String(ctx.opts.runs)], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`bridge bench worker failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
    data = JSON.parse(r.stdout.trim().split('\n').pop());
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
  const ref = percentile(data.reference, 50);
  const row = (label, samples, target) => {
    const med = percentile(samples, 50);
    const ok = target === undefined || med <= target;
    return {
      cells: [label, fmtMs(med), fmtMs(percentile(samples, 90)), `${(med / ref).toFixed(2)}x`, target === undefined ? '' : `<= ${target} ms`, target === undefined ? '' : passMiss(ok)],
      ok,
    };
  };
  return {
    title: `bridge mode in a network namespace (${ctx.opts.runs} runs each; ratio of medians vs a bare ip link add)`,
    header: ['case', 'median', 'p90', 'vs ip link add', 'target', 'result'],
    rows: [
      row('ip link add (reference)', data.reference),
      row('VM network, tap made on demand', data.fresh, TARGETS.fresh),
      row('VM network, tap from the pool', data.pooled, TARGETS.pooled),
      row('allowlist: DNS answer -> nft set', data.allow, TARGETS.allow),
    ],
  };
}
