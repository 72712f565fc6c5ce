import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BangerError } from '../../api/errors.js';
import { makeTar } from '../../testing/oci-registry.js';
import { quietContext } from '../op-context.js';
import { LayerTree } from './flatten/layer-tree.js';
import { streamMmdebstrap } from './mmdebstrap-stream.js';
import { builtinRecipes } from './recipes.js';

/**
 * A stand-in mmdebstrap: FAKE_MODE says what it does; it notes a SIGTERM in $FAKE_DIR/term and its
 * /proc stat line (with its process group) in $FAKE_DIR/stat.
 */
const FAKE = `#!/bin/sh
trap 'echo term > "$FAKE_DIR/term"; exit 25' TERM
echo "I: downloading packages with apt..." >&2
echo "TMPDIR=$TMPDIR" > "$FAKE_DIR/env"
cat /proc/$$/stat > "$FAKE_DIR/stat"
case "$FAKE_MODE" in
  ok) cat "$FAKE_DIR/good.tar"; echo "I: success in 1 seconds" >&2 ;;
  fail) echo "E: Unable to locate package banger-nope" >&2; echo "E: mmdebstrap failed to run" >&2; exit 1 ;;
  evil) cat "$FAKE_DIR/evil.tar"; while :; do sleep 0.05; done ;;
  slow) while :; do sleep 0.05; done ;;
  stubborn) trap 'echo term > "$FAKE_DIR/term"' TERM; (while :; do sleep 0.05; done) & echo $! > "$FAKE_DIR/child"; while :; do sleep 0.05; done ;;
esac
`;

let dir = '';
let savedPath: string | undefined;
const plan = { recipe: builtinRecipes()[0]!, mirror: 'http://deb.debian.org/debian', target: '-', mode: 'unshare' as const, format: 'tar' as const };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-mmstream-'));
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'bin', 'mmdebstrap'), FAKE);
  await chmod(join(dir, 'bin', 'mmdebstrap'), 0o755);
  await writeFile(join(dir, 'good.tar'), await makeTar([{ name: './', type: 'directory', mode: 0o755 }, { name: './usr/bin/su', content: 'su', mode: 0o4755 }]));
  await writeFile(join(dir, 'evil.tar'), await makeTar([{ name: './dev/sda', type: 'block-device', devmajor: 8, devminor: 0 }, { name: './x', content: 'x'.repeat(1 << 20) }]));
  savedPath = process.env.PATH;
  process.env.PATH = `${join(dir, 'bin')}:${savedPath ?? ''}`;
  process.env.FAKE_DIR = dir;
});
after(async () => {
  process.env.PATH = savedPath;
  await rm(dir, { recursive: true, force: true });
});

async function attempt(mode: string, signal?: AbortSignal, graceMs?: number): Promise<{ lt: LayerTree; result: Promise<number> }> {
  process.env.FAKE_MODE = mode;
  await rm(join(dir, 'term'), { force: true });
  const tree = join(dir, `tree-${mode}`);
  await rm(tree, { recursive: true, force: true });
  await mkdir(tree);
  const lt = new LayerTree(tree);
  const ctx = quietContext(signal);
  return { lt, result: streamMmdebstrap(plan, (tar) => lt.applyLayer(tar, 'mmdebstrap output'), ctx, { tmpdir: join(dir, 'scratch'), ...(graceMs !== undefined ? { graceMs } : {}) }) };
}

test('the tar on mmdebstrap\'s stdout goes straight into the importer, with TMPDIR set for its chroot', async () => {
  const { lt, result } = await attempt('ok');
  assert.equal(await result, 2);
  assert.deepEqual(lt.meta.get('/usr/bin/su'), { type: 'file', uid: 0, gid: 0, mode: 0o4755 });
  assert.equal((await readFile(join(dir, 'env'), 'utf8')).trim(), `TMPDIR=${join(dir, 'scratch')}`);
});

test('a failing mmdebstrap is operation_failed with its E: lines', async () => {
  const { result } = await attempt('fail');
  await assert.rejects(result, (e: BangerError) => e.code === 'operation_failed' && /mmdebstrap failed for recipe debian-bookworm:\nUnable to locate package banger-nope$/.test(e.message));
});

test('an entry the importer refuses stops mmdebstrap, and the refusal is the error', async () => {
  const { result } = await attempt('evil');
  await assert.rejects(result, (e: Error) => /entry "\.\/dev\/sda" rejected: device node/.test(e.message));
  assert.ok(existsSync(join(dir, 'term')), 'mmdebstrap got SIGTERM');
});

/** The process group in a /proc/PID/stat line (the field after the state, past the command in parentheses). */
function pgrpOf(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

test('mmdebstrap runs in a process group of its own: the SIGHUP it sends its group when its output breaks must not reach bangerd', async () => {
  const { result } = await attempt('ok');
  await result;
  const theirs = pgrpOf(await readFile(join(dir, 'stat'), 'utf8'));
  const ours = pgrpOf(await readFile('/proc/self/stat', 'utf8'));
  assert.ok(theirs > 0 && ours > 0);
  assert.notEqual(theirs, ours);
});

test('cancelling sends mmdebstrap SIGTERM and waits for it to exit', async () => {
  const ac = new AbortController();
  const { result } = await attempt('slow', ac.signal);
  setTimeout(() => ac.abort(), 300);
  await assert.rejects(result, (e: Error) => e.name === 'AbortError');
  assert.ok(existsSync(join(dir, 'term')), 'mmdebstrap got SIGTERM before the build gave up');
});

test('an mmdebstrap that does not exit after SIGTERM is killed with its whole process group after the grace period', async () => {
  const ac = new AbortController();
  const { result } = await attempt('stubborn', ac.signal, 300);
  setTimeout(() => ac.abort(), 300);
  const t0 = Date.now();
  await assert.rejects(result, (e: Error) => e.name === 'AbortError');
  assert.ok(Date.now() - t0 < 5000, 'gave up soon after the grace period');
  assert.ok(existsSync(join(dir, 'term')), 'SIGTERM came first');
  const child = Number(await readFile(join(dir, 'child'), 'utf8'));
  assert.ok(!isAlive(child), `its child ${child} was killed too`);
});

/** True while the process exists and is not a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
