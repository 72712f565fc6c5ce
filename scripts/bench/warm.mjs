/**
 * Warm starts: a VM restored from a snapshot until its SSH answers, against a cold boot of the same
 * image and shape until its SSH answers, in the same run (interleaved), as a ratio.
 */
import { IMAGE, ensureImage } from './image.mjs';
import { check, fmtDur, fmtSecs, median, passMiss, runAsync, say } from './util.mjs';

const TARGET_RATIO = 0.1;
const SNAPSHOT = 'bench-warm';

/** `banger vm create ARGS` (ready when SSH answers), timed, with its stage times from the progress events. */
async function timeCreate(ctx, args, what) {
  const stages = [];
  const r = await runAsync(ctx, ctx.banger('--json', 'vm', 'create', ...args), {
    onStderrLine: (line) => {
      try {
        const ev = JSON.parse(line);
        if (ev.type === 'stage_done') stages.push(`${ev.stage} ${fmtDur(Number(ev.elapsedMs))}`);
      } catch {
        /* not an event */
      }
    },
  });
  check(r, what);
  return { ms: r.ms, stages };
}

export async function benchWarmRestore(ctx) {
  ctx.startDaemon();
  await ensureImage(ctx);
  const runs = ctx.opts.vmRuns;
  const rows = [];
  const cold = [];
  const warm = [];
  const made = [];
  try {
    say('cold boot of the snapshot source (timed as cold run 0, not in the median)');
    ctx.vmNames.add('wsrc');
    const src = await timeCreate(ctx, ['--name', 'wsrc'], 'banger vm create --name wsrc');
    rows.push({ cells: ['cold boot of the source', fmtSecs(src.ms), '', '', src.stages.join(', ')], ok: true });
    say(`banger vm snapshot create wsrc --name ${SNAPSHOT} --stop`);
    const snap = check(await runAsync(ctx, ctx.banger('vm', 'snapshot', 'create', 'wsrc', '--name', SNAPSHOT, '--stop')), 'banger vm snapshot create');
    rows.push({ cells: ['snapshot create --stop', fmtSecs(snap.ms), '', '', 'pause, save memory, freeze disks, hash'], ok: true });
    for (let i = 1; i <= runs; i++) {
      say(`run ${i}/${runs}: cold boot to ssh`);
      const name = `wcold${i}`;
      ctx.vmNames.add(name);
      const c = await timeCreate(ctx, ['--name', name], `banger vm create --name ${name}`);
      cold.push(c.ms);
      rows.push({ cells: [`cold boot, run ${i}`, fmtSecs(c.ms), '', '', c.stages.join(', ')], ok: true });
      check(await runAsync(ctx, ctx.banger('vm', 'delete', name)), `banger vm delete ${name}`);
      ctx.vmNames.delete(name);
      say(`run ${i}/${runs}: restore to ssh`);
      const wname = `wwarm${i}`;
      ctx.vmNames.add(wname);
      made.push(wname);
      const w = await timeCreate(ctx, ['--name', wname, '--from', SNAPSHOT], `banger vm create --from ${SNAPSHOT}`);
      warm.push(w.ms);
      rows.push({ cells: [`restore, run ${i}`, fmtSecs(w.ms), '', '', w.stages.join(', ')], ok: true });
    }
  } finally {
    if (made.length) await runAsync(ctx, ctx.banger('vm', 'delete', ...made));
    for (const n of made) ctx.vmNames.delete(n);
    await runAsync(ctx, ctx.banger('vm', 'snapshot', 'delete', SNAPSHOT));
    await runAsync(ctx, ctx.banger('vm', 'delete', 'wsrc'));
    ctx.vmNames.delete('wsrc');
  }
  const coldMed = median(cold);
  const warmMed = median(warm);
  const ratio = warmMed / coldMed;
  const ok = ratio <= TARGET_RATIO;
  rows.push({ cells: ['cold boot to ssh (median)', fmtSecs(coldMed), '', '', ''], ok: true });
  rows.push({ cells: ['restore to ssh (median)', fmtSecs(warmMed), `<= ${TARGET_RATIO}x cold`, passMiss(ok), `${ratio.toFixed(2)}x cold`], ok });
  return {
    title: `restore from a snapshot to ssh vs cold boot to ssh (${IMAGE}, default shape; ${runs} run(s) each, interleaved; both through banger vm create)`,
    header: ['measure', 'wall', 'target', 'result', 'note'],
    rows,
  };
}
