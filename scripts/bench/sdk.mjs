/**
 * The SDK's command round trip: `vm.exec(['true'])` against `ssh -F <banger's ssh_config> NAME.vm true`
 * on the same VM in the same run, and 100 concurrent execs on one VM. It runs its own daemon with the
 * fake driver (real processes answering real SSH, no QEMU) under the bench's home, so it needs no image
 * build and measures banger's side of the round trip, not a guest's boot.
 */
import { mkdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { check, fmtMs, median, passMiss, percentile, runAsync, say } from './util.mjs';

const TARGET_RATIO = 1.2;
const CONCURRENT = 100;
const VM = 'sdkbench';

/** A home (ctx.home/SUB) with the fake driver and a tiny registered image as its default; `config` adds lines to its config.toml. */
export async function fakeHome(ctx, sub = 'sdk', config = '') {
  const home = join(ctx.home, sub);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = { ...ctx.env, BANGER_HOME: home, BANGER_FAKE_DRIVER: '{}' };
  writeFileSync(join(home, 'config.toml'), `ssh_wait_timeout = "30s"\ndefault_image_name = "tiny"\n${config}`);
  const { mkfsFromDir } = await import(pathToFileURL(join(ctx.dist, 'drivers', 'ext4', 'mkfs.js')).href);
  await mkfsFromDir(join(home, 'rootfs.ext4'), undefined, { label: 'tiny', sizeBytes: 8 * 1024 * 1024 });
  const kernel = Buffer.alloc(0x400);
  kernel.write('HdrS', 0x202, 'latin1');
  writeFileSync(join(home, 'vmlinuz'), kernel);
  check(await runAsync(ctx, ctx.banger('image', 'register', '--name', 'tiny', '--rootfs', join(home, 'rootfs.ext4'), '--kernel', join(home, 'vmlinuz')), { env }), 'image register');
  return { home, env };
}

async function timed(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** SDK exec vs the system ssh through banger's ssh_config, and many execs at once (fake driver). */
export async function benchSdkExec(ctx) {
  const runs = ctx.opts.runs;
  const { home, env } = await fakeHome(ctx);
  const { Banger } = await import(pathToFileURL(join(ctx.dist, 'sdk', 'index.js')).href);
  const { resolveLayout } = await import(pathToFileURL(join(ctx.dist, 'config', 'paths.js')).href);
  const { sshArgv } = await import(pathToFileURL(join(ctx.dist, 'drivers', 'ssh', 'client.js')).href);
  const banger = new Banger({ env });
  say('creating a fake-driver VM (not timed)');
  const vm = await banger.vms.create({ name: VM });
  try {
    const sshConfig = resolveLayout({ env }).sshConfigPath;
    if (!existsSync(sshConfig)) throw new Error(`no ssh_config at ${sshConfig}`);
    const plain = ['ssh', '-F', sshConfig, `${VM}.vm`, 'true'];
    const shared = sshArgv(await vm.sshTarget(), { command: ['true'], tty: false, batch: true });
    const sdkRun = async () => {
      const r = await vm.exec(['true']);
      if (r.exitCode !== 0) throw new Error(`vm.exec(['true']) exited ${r.exitCode}: ${r.stderr}`);
    };
    const sshRun = (argv) => async () => check(await runAsync(ctx, argv, { env }), argv.join(' '));
    const cases = [
      { label: "sdk vm.exec(['true'])", run: sdkRun },
      { label: `ssh -F ssh_config ${VM}.vm true`, run: sshRun(plain) },
      { label: 'ssh, same shared connection', run: sshRun(shared) },
    ];
    const measured = [];
    for (const c of cases) {
      await c.run(); // warm-up (sets up the shared connection)
      const samples = [];
      for (let i = 0; i < runs && !ctx.aborted; i++) samples.push(await timed(c.run));
      measured.push({ ...c, samples });
    }
    const base = median(measured[1].samples);
    const rows = measured.map((m, i) => {
      const med = median(m.samples);
      const ratio = med / base;
      const isSdk = i === 0;
      return {
        cells: [m.label, fmtMs(med), fmtMs(percentile(m.samples, 90)), `${ratio.toFixed(2)}x`, isSdk ? `<= ${TARGET_RATIO}x` : '', isSdk ? passMiss(ratio <= TARGET_RATIO) : '', i === 1 ? 'baseline' : ''],
        ok: !isSdk || ratio <= TARGET_RATIO,
      };
    });

    let failures = 0;
    const wall = await timed(async () => {
      const rs = await Promise.allSettled(Array.from({ length: CONCURRENT }, (_, i) => vm.exec(['echo', String(i)])));
      failures = rs.filter((r, i) => r.status !== 'fulfilled' || r.value.exitCode !== 0 || r.value.stdout !== `${i}\n`).length;
    });
    rows.push({
      cells: [`${CONCURRENT} concurrent vm.exec(['echo', i])`, fmtMs(wall), '', '', '0 errors', passMiss(failures === 0), `${failures} failed`],
      ok: failures === 0,
    });
    return {
      title: `SDK exec round trip (${runs} runs each after one warm-up; fake driver under ${home}: banger's side only, no QEMU guest)`,
      header: ['command', 'median', 'p90', 'vs ssh', 'target', 'result', 'note'],
      rows,
    };
  } finally {
    await vm.delete().then(undefined, () => undefined);
    await runAsync(ctx, ctx.banger('daemon', 'stop'), { env }).catch(() => undefined);
  }
}
