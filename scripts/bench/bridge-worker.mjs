/**
 * The measuring half of the bridge bench; runs inside the network namespace bench/bridge.mjs made, on
 * the build given as argv[2]. Prints one JSON object: samples (ms) per case.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const dist = process.argv[2];
const runs = Number(process.argv[3] ?? 20);
const { BridgeNetwork } = await import(join(dist, 'services/network/bridge.js'));
const { openStore } = await import(join(dist, 'store/db.js'));
const { LeaseRepo } = await import(join(dist, 'store/leases.js'));
const { VMRepo } = await import(join(dist, 'store/vms.js'));

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const ip = (...args) => {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
};

const dir = mkdtempSync('/tmp/bbench-');
const db = openStore(join(dir, 'state.db'));
const vms = new VMRepo(db);
const leases = new LeaseRepo(db);
const settings = { bridgeName: 'bgbench0', bridgeIp: '10.213.0.1', cidr: 24, isolateVms: true };
let n = 0;
const newVm = (spec = {}) => {
  const now = new Date().toISOString();
  const id = (++n).toString(16).padStart(12, '0');
  const row = { id, name: `b${n}`, imageId: 'i', state: 'running', spec: { vcpu: 1, memoryMiB: 256, diskSizeBytes: 1, nat: false, ...spec }, runtime: {}, createdAt: now, updatedAt: now };
  vms.insert(row);
  return row;
};

const out = { reference: [], fresh: [], pooled: [], allow: [] };
try {
  // Reference: a bare `ip link add` (one process, one kernel object).
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    ip('link', 'add', 'name', 'bgref0', 'type', 'bridge');
    out.reference.push(ms(t0));
    ip('link', 'del', 'bgref0');
  }
  // Tap + bridge port + rules per VM, made on demand (tap_pool_size = 0).
  const fresh = new BridgeNetwork(leases, { ...settings, tapPoolSize: 0 });
  await fresh.attach(newVm()).then(() => undefined); // warm-up: the bridge and the base tables
  for (let i = 0; i < runs; i++) {
    const vm = newVm();
    const t0 = process.hrtime.bigint();
    await fresh.attach(vm);
    out.fresh.push(ms(t0));
    await fresh.release(vm);
  }
  // The same from a ready pool (refilled, untimed, before each attach).
  const pooled = new BridgeNetwork(leases, { ...settings, tapPoolSize: 2 });
  await pooled.sweep([]);
  for (let i = 0; i < runs; i++) {
    await pooled.refill();
    const vm = newVm();
    const t0 = process.hrtime.bigint();
    await pooled.attach(vm);
    out.pooled.push(ms(t0));
    await pooled.release(vm);
  }
  // Allowlist: from a DNS answer to its addresses being in the VM's nftables set.
  const vm = newVm({ allow: ['example.com'] });
  await pooled.attach(vm);
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await pooled.allowAnswered(vm.id, [`198.51.100.${(i % 250) + 1}`], 60);
    out.allow.push(ms(t0));
  }
  await pooled.release(vm);
  process.stdout.write(JSON.stringify(out) + '\n');
} finally {
  db.close();
  rmSync(dir, { recursive: true, force: true });
}
