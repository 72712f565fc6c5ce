/**
 * cold-boot: cold boot-to-SSH of the golden image as it ships (boot trimming on) against the same image,
 * disks and QEMU command line with `banger.trim=off` on the kernel command line (no masks, docker before
 * sshd, the seed ordered before sysinit.target, initramfs-tools' /init). Each boot also reports
 * systemd-analyze's kernel/initrd/userspace split, when ssh.service became active and the three slowest
 * units (systemd-analyze blame). The initramfs file is the image's (only the virtio modules) on both
 * sides; which /init in it runs follows the command line.
 */
import { join } from 'node:path';
import { ensureImage, IMAGE } from './image.mjs';
import { makeReference, timeRawBoot } from './vm.mjs';
import { fmtSecs, median, passMiss, removeTree, runAsync, say, sleep } from './util.mjs';

const TARGET_RATIO = 0.6;
const TRIM_OFF = 'banger.trim=off';
/** How long to wait for systemd to call the boot finished (dockerd under TCG is slow to come up). */
const FINISH_DEADLINE_MS = 10 * 60 * 1000;

/** The guest commands: systemd-analyze's split, when ssh.service became active (µs of userspace) and the three slowest units. */
const ANALYZE = [
  'systemd-analyze',
  'echo "ssh.service active at $(( $(systemctl show ssh.service -p ActiveEnterTimestampMonotonic --value) - $(systemctl show -p UserspaceTimestampMonotonic --value) ))us"',
  'systemd-analyze blame --no-pager | head -n 3',
].join('; ');

/** `systemd-analyze` once the boot has finished, and the time ssh.service became active. */
async function analyze(ctx, ssh) {
  const deadline = Date.now() + FINISH_DEADLINE_MS;
  for (;;) {
    const r = await runAsync(ctx, [...ssh, ANALYZE], { timeoutMs: 120_000 });
    const m = /Startup finished in (.*?)\s*$/m.exec(r.stdout);
    if (r.code === 0 && m) {
      const part = (what) => {
        const p = new RegExp(`([\\d.]+(?:min|ms|s)(?: [\\d.]+(?:ms|s))?) \\(${what}\\)`).exec(m[1]);
        return p ? p[1] : '-';
      };
      const ssh = /^ssh\.service active at (\d+)us$/m.exec(r.stdout);
      const blame = r.stdout
        .trim()
        .split('\n')
        .slice(-3)
        .map((l) => l.trim().replace(/\s+/, ' '))
        .join(', ');
      return { kernel: part('kernel'), initrd: part('initrd'), userspace: part('userspace'), sshAt: ssh ? `${(Number(ssh[1]) / 1e6).toFixed(1)}s` : '?', blame };
    }
    if (Date.now() > deadline) return { kernel: '?', initrd: '?', userspace: '?', sshAt: '?', note: (r.stdout + r.stderr).trim().split('\n').pop() };
    await sleep(3000);
  }
}

export async function benchColdBoot(ctx) {
  ctx.startDaemon();
  const image = await ensureImage(ctx);
  const runs = ctx.opts.vmRuns;
  const sides = { trimmed: [], untrimmed: [] };
  const rows = [];
  let n = 100;
  try {
    const ref = await makeReference(ctx, image);
    // Interleaved, so slow drift in the host's load hits both sides alike.
    for (let i = 1; i <= runs; i++) {
      for (const side of ['untrimmed', 'trimmed']) {
        say(`run ${i}/${runs}: cold boot to ssh, ${side}`);
        const r = await timeRawBoot(ctx, ref, n++, { append: side === 'untrimmed' ? TRIM_OFF : undefined, afterSsh: (ssh) => analyze(ctx, ssh) });
        sides[side].push(r.ms);
        const a = r.after;
        rows.push({
          cells: [`${side}, run ${i}`, fmtSecs(r.ms), '', '', `kernel ${a.kernel} + initrd ${a.initrd} + userspace ${a.userspace}; ssh.service @${a.sshAt} of userspace${a.blame ? `; slowest: ${a.blame}` : ''}${a.note ? `; ${a.note}` : ''}`],
          ok: true,
        });
      }
    }
  } finally {
    await runAsync(ctx, ctx.banger('vm', 'delete', 'rawref'));
    ctx.vmNames.delete('rawref');
    removeTree(join(ctx.home, 'rawref'));
  }
  const t = median(sides.trimmed);
  const u = median(sides.untrimmed);
  const ratio = t / u;
  const ok = ratio <= TARGET_RATIO;
  rows.push({ cells: ['untrimmed (median)', fmtSecs(u), '', '', `${TRIM_OFF} on the kernel command line`], ok: true });
  rows.push({ cells: ['trimmed (median)', fmtSecs(t), `<= ${TARGET_RATIO}x untrimmed`, passMiss(ok), `${ratio.toFixed(2)}x untrimmed`], ok });
  return {
    title: `cold boot to ssh (${IMAGE}; ${runs} boot(s) per side, interleaved; banger's QEMU argv on fresh disks; split from systemd-analyze once the boot finished)`,
    header: ['measure', 'to ssh', 'target', 'result', 'note'],
    rows,
  };
}
