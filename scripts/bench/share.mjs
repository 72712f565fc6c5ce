/**
 * Memory shared by fork children: four children forked from a running 1 GiB VM against four cold-booted
 * 1 GiB VMs of the same image, each group measured once all four are at SSH (plus --idle seconds), as a
 * ratio. The measure is the sum of Pss over the four QEMU processes (/proc/PID/smaps_rollup): a page
 * several of them map (the snapshot's RAM image in the page cache) is divided among them, a page one
 * maps alone is counted whole, so the sum is the host memory the group holds. The page cache of the RAM
 * image that no child maps is not in it (clean, reclaimable); the table reports it beside the figures.
 * Pss is split into the guest RAM mappings and the rest of QEMU (under TCG mostly its translated code,
 * which each process keeps for itself).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE, ensureImage } from './image.mjs';
import { check, fmtBytes, fmtSecs, passMiss, runAsync, say, sleep } from './util.mjs';

const TARGET_RATIO = 0.5;
const COUNT = 4;
const MEMORY = '1G';
const ACCEL_LABEL = /(?:booting|restoring saved state with) \S+ \((kvm|tcg)\)/g;

/** kB per smaps_rollup field of a process. */
function smaps(pid) {
  const out = {};
  for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

async function qemuPid(ctx, vm) {
  const info = JSON.parse(check(await runAsync(ctx, ctx.banger('--json', 'vm', 'show', vm)), `banger vm show ${vm}`).stdout);
  return JSON.parse(readFileSync(join(ctx.home, 'state', 'vms', info.id, 'handles.json'), 'utf8')).pid;
}

/** Pss (kB) of a process's mappings of its guest RAM file: its own guest.ram, or a snapshot's memory.ram. */
function guestRamPss(pid) {
  let inside = false;
  let kb = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) inside = /\/(guest|memory)\.ram$/.test(head[1]);
    else if (inside) {
      const m = /^Pss:\s+(\d+) kB/.exec(line);
      if (m) kb += Number(m[1]);
    }
  }
  return kb;
}

/** Sums (bytes) over the VMs' QEMU processes: Pss, Rss, private memory, and the part of Pss that is guest RAM. */
async function measure(ctx, vms) {
  await sleep((ctx.opts.idleSeconds ?? 3) * 1000);
  const sum = { pss: 0, rss: 0, priv: 0, ram: 0 };
  for (const vm of vms) {
    const pid = await qemuPid(ctx, vm);
    const m = smaps(pid);
    sum.pss += m.Pss * 1024;
    sum.rss += m.Rss * 1024;
    sum.priv += (m.Private_Clean + m.Private_Dirty) * 1024;
    sum.ram += guestRamPss(pid) * 1024;
  }
  return sum;
}

/** Bytes of a file in the page cache (fincore), or undefined without fincore. */
async function cached(ctx, path) {
  const r = await runAsync(ctx, ['fincore', '--bytes', '--noheadings', '--output', 'RES', path]);
  return r.code === 0 ? Number(r.stdout.trim()) : undefined;
}

const accels = (text, into) => {
  for (const m of text.matchAll(ACCEL_LABEL)) into.add(m[1]);
};

export async function benchWarmShare(ctx) {
  ctx.startDaemon();
  await ensureImage(ctx);
  const used = new Set();
  const rows = [];
  const kids = Array.from({ length: COUNT }, (_, i) => `wsk-${i + 1}`);
  const colds = Array.from({ length: COUNT }, (_, i) => `wsc${i + 1}`);
  const line = (what, s, note = '') => rows.push({ cells: [what, fmtBytes(s.pss), fmtBytes(s.ram), fmtBytes(s.pss - s.ram), fmtBytes(s.rss), fmtBytes(s.priv), '', '', note], ok: true });
  let forked;
  let cold;
  let snapshot;
  try {
    say(`cold boot of the ${MEMORY} fork source`);
    ctx.vmNames.add('wssrc');
    const src = check(await runAsync(ctx, ctx.banger('vm', 'create', '--name', 'wssrc', '--memory', MEMORY)), 'banger vm create wssrc');
    accels(src.stderr, used);
    say(`vm fork wssrc -n ${COUNT}`);
    for (const k of kids) ctx.vmNames.add(k);
    const f = check(await runAsync(ctx, ctx.banger('--json', 'vm', 'fork', 'wssrc', '-n', String(COUNT), '--name-prefix', 'wsk')), 'banger vm fork');
    accels(f.stderr, used);
    snapshot = JSON.parse(f.stdout).snapshot;
    forked = await measure(ctx, kids);
    const snap = JSON.parse(check(await runAsync(ctx, ctx.banger('--json', 'vm', 'snapshot', 'show', snapshot)), 'banger vm snapshot show').stdout);
    const image = await cached(ctx, join(snap.dir, 'memory.ram'));
    line(`${COUNT} fork children`, forked, `fork ${fmtSecs(f.ms)}${image === undefined ? '' : `; RAM image in page cache ${fmtBytes(image)}`}`);
    check(await runAsync(ctx, ctx.banger('vm', 'delete', 'wssrc', ...kids)), 'banger vm delete (fork)');
    for (const k of ['wssrc', ...kids]) ctx.vmNames.delete(k);
    for (const c of colds) {
      say(`cold boot of ${c} (${MEMORY})`);
      ctx.vmNames.add(c);
      accels(check(await runAsync(ctx, ctx.banger('vm', 'create', '--name', c, '--memory', MEMORY)), `banger vm create ${c}`).stderr, used);
    }
    cold = await measure(ctx, colds);
    line(`${COUNT} cold-booted VMs`, cold);
  } finally {
    const left = [...ctx.vmNames].filter((n) => n === 'wssrc' || kids.includes(n) || colds.includes(n));
    if (left.length) await runAsync(ctx, ctx.banger('vm', 'delete', ...left));
    for (const n of left) ctx.vmNames.delete(n);
    if (snapshot) await runAsync(ctx, ctx.banger('vm', 'snapshot', 'delete', snapshot));
  }
  const ratio = forked.pss / cold.pss;
  const ok = ratio <= TARGET_RATIO;
  rows.push({ cells: ['children / cold (sum of Pss)', '', '', '', '', '', `<= ${TARGET_RATIO}x`, passMiss(ok), `${ratio.toFixed(2)}x; guest RAM alone ${(forked.ram / cold.ram).toFixed(2)}x`], ok });
  return {
    title: `host memory of ${COUNT} children forked from a ${MEMORY} VM vs ${COUNT} cold-booted ${MEMORY} VMs, all at ssh (${IMAGE}; sums over their QEMU processes; ran ${[...used].join('+') || '?'})`,
    header: ['group', 'sum Pss', 'of it guest RAM', 'of it QEMU (TCG code, heap)', 'sum Rss', 'sum private', 'target', 'result', 'note'],
    rows,
  };
}
