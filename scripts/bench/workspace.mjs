/**
 * Copying a checkout into a VM: `vm workspace prepare` of a generated 10k-file repository against a
 * hand-made `git bundle | ssh` + `git ls-files | tar -cz | ssh` over the same SSH connection in the same
 * run (time and bytes on the wire), and a second prepare after a one-file change against the first.
 * It runs its own daemon with the fake driver (the guest is this host through `sshd -i`, the guest
 * paths are scratch directories), so it measures the copy, not a guest's disk.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { check, fmtBytes, fmtMs, MiB, passMiss, runAsync, say } from './util.mjs';
import { fakeHome } from './sdk.mjs';

const FILES = 10_000;
const TOTAL_BYTES = 200 * MiB;
const TARGET_COPY = 1.1;
const TARGET_SECOND = 0.1;
const VM = 'wsbench';

/** A repository of FILES files in 100 directories, half text and half random bytes, one commit. */
async function makeRepo(ctx, dir, env) {
  mkdirSync(dir, { recursive: true });
  const per = Math.floor(TOTAL_BYTES / FILES);
  const words = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike '.repeat(Math.ceil(per / 80));
  for (let i = 0; i < FILES; i++) {
    const d = join(dir, `d${String(i % 100).padStart(2, '0')}`);
    if (i < 100) mkdirSync(d, { recursive: true });
    const half = Math.floor(per / 2);
    writeFileSync(join(d, `f${i}.txt`), Buffer.concat([Buffer.from(`${i} ${words.slice(0, half)}`), randomBytes(per - half)]));
  }
  const git = (...a) => ['git', '-C', dir, '-c', 'user.name=bench', '-c', 'user.email=bench@example.org', ...a];
  check(await runAsync(ctx, ['git', 'init', '-q', '-b', 'main', dir], { env }), 'git init');
  check(await runAsync(ctx, git('add', '-A'), { env }), 'git add');
  check(await runAsync(ctx, git('commit', '-q', '-m', 'generated'), { env }), 'git commit');
}

/** `producer | ssh ... consumer`: resolves with the bytes that went through the pipe. */
function pipeThrough(ctx, producer, consumer, env) {
  return new Promise((resolve, reject) => {
    const a = spawn(producer[0], producer.slice(1), { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const b = spawn(consumer[0], consumer.slice(1), { env, stdio: ['pipe', 'ignore', 'pipe'] });
    ctx.children.add(a);
    ctx.children.add(b);
    let bytes = 0;
    let err = '';
    a.stdout.on('data', (c) => (bytes += c.length));
    a.stdout.pipe(b.stdin);
    b.stderr.on('data', (c) => (err += c));
    let pending = 2;
    let failed;
    const done = (what) => (code) => {
      ctx.children.delete(what === 'producer' ? a : b);
      if (code !== 0) failed ??= `${what} exited ${code}: ${err.trim()}`;
      if (--pending === 0) (failed ? reject(new Error(failed)) : resolve(bytes));
    };
    a.on('close', done('producer'));
    b.on('close', done('ssh'));
    a.on('error', reject);
    b.on('error', reject);
  });
}

const elapsed = async (fn) => {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
};

export async function benchWorkspace(ctx) {
  const { home, env } = await fakeHome(ctx, 'ws');

  const repo = join(home, 'repo');
  say(`generating a ${FILES}-file, ${fmtBytes(TOTAL_BYTES)} repository (not timed)`);
  await makeRepo(ctx, repo, env);

  const { Banger } = await import(pathToFileURL(join(ctx.dist, 'sdk', 'index.js')).href);
  const { sshArgv } = await import(pathToFileURL(join(ctx.dist, 'drivers', 'ssh', 'client.js')).href);
  const banger = new Banger({ env });
  say('creating a fake-driver VM (not timed)');
  const vm = await banger.vms.create({ name: VM });
  try {
    const target = await vm.sshTarget();
    const ssh = (script, ...args) => sshArgv(target, { command: ['sh', '-c', script, 'sh', ...args], tty: false, batch: true });
    check(await runAsync(ctx, ssh('true'), { env }), 'ssh warm-up'); // sets up the shared connection

    const handCopy = (manual) => elapsed(async () => {
      const history = await pipeThrough(
        ctx,
        ['git', '-C', repo, 'bundle', 'create', '-', '--all'],
        ssh('set -e; rm -rf -- "$1"; b=$(mktemp); cat > "$b"; git clone -q "$b" "$1"; rm -f "$b"', manual),
        env,
      );
      const tree = await pipeThrough(
        ctx,
        ['sh', '-c', 'cd -- "$1" && git ls-files -z | tar --null -T - -czf -', 'sh', repo],
        ssh('set -e; tar -C "$1" -xzf -', manual),
        env,
      );
      return history + tree;
    });
    // The hand-made copy runs before and after banger's first prepare; the faster one is the baseline,
    // so neither side is charged for running first on a freshly written repository.
    const handBefore = await handCopy(join(home, 'guest-manual-1'));

    const guest = join(home, 'guest-banger');
    const first = await elapsed(() => vm.workspace.prepare(repo, { guestPath: guest }));
    const handAfter = await handCopy(join(home, 'guest-manual-2'));
    const byHand = handAfter.ms < handBefore.ms ? handAfter : handBefore;
    writeFileSync(join(repo, 'd00', 'f0.txt'), 'one changed file\n');
    const second = await elapsed(() => vm.workspace.prepare(repo, { guestPath: guest }));
    const wire = (r) => r.bundleBytes + r.tarBytes;

    const copyRatio = first.ms / byHand.ms;
    const secondRatio = second.ms / first.ms;
    return {
      title: `Workspace copy-in of a generated ${FILES}-file, ${fmtBytes(TOTAL_BYTES)} repository (fake driver: the guest is this host over real SSH)`,
      header: ['copy', 'time', 'on the wire', 'ratio', 'target', 'result'],
      rows: [
        { cells: ['git bundle | ssh + git ls-files | tar -cz | ssh (by hand), before', fmtMs(handBefore.ms), fmtBytes(handBefore.value), handBefore === byHand ? 'baseline' : '', '', ''], ok: true },
        { cells: ['the same by hand, after the first prepare', fmtMs(handAfter.ms), fmtBytes(handAfter.value), handAfter === byHand ? 'baseline' : '', '', ''], ok: true },
        {
          cells: ['banger vm workspace prepare (first)', fmtMs(first.ms), fmtBytes(wire(first.value)), `${copyRatio.toFixed(2)}x`, `<= ${TARGET_COPY}x`, passMiss(copyRatio <= TARGET_COPY)],
          ok: copyRatio <= TARGET_COPY,
        },
        {
          cells: ['prepare again after a one-file change', fmtMs(second.ms), fmtBytes(wire(second.value)), `${secondRatio.toFixed(3)}x of first`, `<= ${TARGET_SECOND}x`, passMiss(secondRatio <= TARGET_SECOND)],
          ok: secondRatio <= TARGET_SECOND,
        },
      ],
    };
  } finally {
    await vm.delete().then(undefined, () => undefined);
    await runAsync(ctx, ctx.banger('daemon', 'stop'), { env }).catch(() => undefined);
    rmSync(repo, { recursive: true, force: true });
  }
}
