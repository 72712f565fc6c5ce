/**
 * disk-provision: a VM's disks made the way banger makes them (a qcow2 overlay over the image's rootfs,
 * a work disk copied from the image's work seed and grown), with the build's own functions, over a
 * sparse 2 GiB and 20 GiB base. Neither should depend on the base's size.
 */
import { existsSync, mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GiB, MiB, fmtMs, median, passMiss, removeTree } from './util.mjs';

const TARGET_MS = 100;
const RUNS = 5;

async function load(ctx, rel, names) {
  const file = join(ctx.dist, rel);
  if (!existsSync(file)) throw new Error(`${file} does not exist in this build`);
  const mod = await import(pathToFileURL(file).href);
  for (const n of names) if (mod[n] === undefined) throw new Error(`${rel} has no export ${n}`);
  return mod;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;

export async function benchDiskProvision(ctx) {
  const { createOverlay } = await load(ctx, 'drivers/qemu/overlay.js', ['createOverlay']);
  const { makeWorkDisk } = await load(ctx, 'services/vms/disks.js', ['makeWorkDisk']);
  const { mkfsFromDir } = await load(ctx, 'drivers/ext4/mkfs.js', ['mkfsFromDir']);
  let workSize = 8 * GiB;
  try {
    const spec = await load(ctx, 'services/vms/spec.js', ['BUILTIN']);
    if (Number.isSafeInteger(spec.BUILTIN?.diskSize)) workSize = spec.BUILTIN.diskSize;
  } catch {
    /* keep 8 GiB */
  }

  const dir = join(ctx.home, 'disk-provision');
  mkdirSync(dir, { recursive: true });
  try {
    // A small work seed like an image's: /root with Debian's dotfiles, 64 MiB, 4 KiB blocks.
    const home = join(dir, 'seed-root');
    mkdirSync(home, { mode: 0o700 });
    writeFileSync(join(home, '.bashrc'), '# ~/.bashrc\nexport PS1="\\h:\\w\\$ "\n'.repeat(20));
    writeFileSync(join(home, '.profile'), '# ~/.profile\nif [ -f ~/.bashrc ]; then . ~/.bashrc; fi\n');
    const seed = join(dir, 'work-seed.ext4');
    await mkfsFromDir(seed, home, { label: 'banger-work', sizeBytes: 64 * MiB, blockSize: 4096 });

    const rows = [];
    for (const baseGiB of [2, 20]) {
      const base = join(dir, `base-${baseGiB}g.raw`);
      writeFileSync(base, '');
      truncateSync(base, baseGiB * GiB);
      const overlay = [];
      const work = [];
      const total = [];
      for (let i = 0; i <= RUNS; i++) {
        const ov = join(dir, `root-${baseGiB}-${i}.qcow2`);
        const wd = join(dir, `work-${baseGiB}-${i}.ext4`);
        const t0 = now();
        await createOverlay(base, ov);
        const t1 = now();
        await makeWorkDisk(wd, seed, workSize);
        const t2 = now();
        rmSync(ov, { force: true });
        rmSync(wd, { force: true });
        if (i === 0) continue; // warm-up
        overlay.push(t1 - t0);
        work.push(t2 - t1);
        total.push(t2 - t0);
      }
      rmSync(base, { force: true });
      const med = median(total);
      const ok = med <= TARGET_MS;
      rows.push({
        cells: [`${baseGiB} GiB base`, fmtMs(median(overlay)), fmtMs(median(work)), fmtMs(med), fmtMs(Math.max(...total)), `<= ${TARGET_MS} ms`, passMiss(ok)],
        ok,
      });
    }
    return {
      title: `disk provisioning (build's createOverlay + makeWorkDisk; sparse raw base; work disk ${workSize / GiB} GiB from a 64 MiB seed; median of ${RUNS} after one warm-up)`,
      header: ['base', 'overlay', 'work disk', 'total', 'max total', 'target', 'result'],
      rows,
    };
  } finally {
    removeTree(dir);
  }
}
