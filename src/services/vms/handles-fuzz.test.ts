/**
 * handles.json read back from disk (fast-check, fixed seed, 300+ malformed files): every damaged file
 * gives an error naming the file, never a crash or a half-read handle, and reading writes nothing. A
 * daemon that finds a damaged handles.json still answers, marks the VM stopped, and leaves a sound home.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { VMInfo } from '../../api/types.js';
import { vmFiles } from '../../model/filenames.js';
import { invariantViolations } from '../../testing/invariants.js';
import { tinyImageHome } from '../../testing/tiny-image.js';
import { readHandles } from './handles.js';

const RUNS = { seed: 1416, numRuns: 400 };

const good = { driver: 'fake', pid: 4242, controlSocket: '/var/lib/banger/vms/x/run/control.sock', accel: 'tcg', startedAt: '2026-01-01T00:00:00.000Z', argvHash: 'ab12' };

/** A good handle with one field replaced by a wrong value or removed. */
const oneFieldWrong = fc
  .tuple(
    fc.constantFrom('driver', 'pid', 'controlSocket', 'accel', 'startedAt', 'argvHash'),
    fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.integer({ min: -5, max: 1 }),
      fc.double().filter((d) => !Number.isInteger(d)),
      fc.constant(2 ** 60),
      fc.constant('relative/control.sock'),
      fc.constant('qemu-but-not-really'),
      fc.array(fc.integer(), { maxLength: 2 }),
      fc.object({ maxDepth: 1 }),
      fc.boolean(),
    ),
  )
  .filter(([k, v]) => !(k === 'argvHash' && v === undefined))
  .filter(([k, v]) => !['accel', 'startedAt', 'argvHash'].includes(k) || typeof v !== 'string')
  .map(([k, v]) => {
    const h: Record<string, unknown> = { ...good };
    if (v === undefined) delete h[k];
    else h[k] = v;
    return JSON.stringify(h);
  });

const damaged = fc.oneof(
  oneFieldWrong,
  // cut short, as by a crash in the middle of a write that was not atomic
  fc.integer({ min: 0, max: JSON.stringify(good).length - 1 }).map((n) => JSON.stringify(good).slice(0, n)),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v) || !('driver' in v)).map((v) => JSON.stringify(v)),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
);

test('a damaged handles.json is an error naming the file, and reading it writes nothing', () => {
  const dir = mkdtempSync('/tmp/bh-handles-');
  const path = join(dir, 'handles.json');
  try {
    fc.assert(
      fc.property(damaged, (text) => {
        writeFileSync(path, text);
        assert.throws(() => readHandles(path), (err: Error) => err.constructor === Error && err.message === `${path} is not a valid handles file`, JSON.stringify(text));
        assert.deepEqual(readdirSync(dir), ['handles.json'], 'a read leaves no other file');
        assert.equal(readFileSync(path, 'latin1'), Buffer.from(text).toString('latin1'), 'a read does not rewrite the file');
      }),
      RUNS,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a whole handles.json reads back as written; a missing one is no handle', () => {
  const dir = mkdtempSync('/tmp/bh-handles-');
  try {
    writeFileSync(join(dir, 'handles.json'), JSON.stringify(good));
    assert.deepEqual(readHandles(join(dir, 'handles.json')), good);
    assert.equal(readHandles(join(dir, 'absent.json')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a daemon that finds a damaged handles.json answers, marks the VM stopped and can delete it', async () => {
  const h = await tinyImageHome();
  try {
    assert.equal((await h.run(['vm', 'create', '--name', 'hurt'])).code, 0);
    const vm = JSON.parse((await h.run(['--json', 'vm', 'show', 'hurt'])).stdout) as VMInfo;
    const files = vmFiles(h.layout.vmsDir, vm.id);
    const [sample] = fc.sample(damaged, { seed: 1417, numRuns: 1 });
    writeFileSync(files.handles, sample!);

    const shown = await h.run(['--json', 'vm', 'list']);
    assert.equal(shown.code, 0, `the running daemon still lists VMs:\n${shown.stderr}`);
    assert.equal((await h.run(['daemon', 'stop'])).code, 0);
    const after = await h.run(['--json', 'vm', 'show', 'hurt']);
    assert.equal(after.code, 0, `a fresh daemon answers:\n${after.stderr}`);
    const row = JSON.parse(after.stdout) as VMInfo;
    assert.equal(row.state, 'stopped', 'a VM whose handle cannot be read is not left running');
    assert.deepEqual(invariantViolations(h.layout), []);
    assert.equal((await h.run(['vm', 'delete', 'hurt'])).code, 0);
    assert.deepEqual(invariantViolations(h.layout), []);
  } finally {
    await h.cleanup();
  }
});
