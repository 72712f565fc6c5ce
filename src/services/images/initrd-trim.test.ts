import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../system/exec.js';
import { TRIM_INIT_SCRIPT } from '../../guest/index.js';
import { appendTrimInit, INITRAMFS_TOOLS_INIT_SOURCE, paddingAfter } from './initrd-trim.js';

const TOOLS_INIT = '#!/bin/sh\n# initramfs-tools init\n';

async function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'banger-initrd-trim-'));
}

test('padding after an archive: at least 4 zero bytes, ending on a 4-byte boundary', () => {
  for (const size of [0, 1, 2, 3, 4, 6639023, 6639024]) {
    const pad = paddingAfter(size);
    assert.ok(pad >= 4 && pad < 8, `${size}: ${pad}`);
    assert.equal((size + pad) % 4, 0);
  }
});

test('an initramfs-tools initramfs gets the trimmed /init appended, with initramfs-tools\' /init beside it', async () => {
  const dir = await scratch();
  try {
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'usr/share/initramfs-tools'), { recursive: true });
    await writeFile(join(tree, INITRAMFS_TOOLS_INIT_SOURCE), TOOLS_INIT);
    const initrd = join(dir, 'initrd.img');
    const original = Buffer.from('compressed archive stand-in: 35 b.');
    await writeFile(initrd, original);

    assert.equal(await appendTrimInit(initrd, tree, dir), true);
    const bytes = await readFile(initrd);
    assert.deepEqual(bytes.subarray(0, original.length), original, 'the original archive is unchanged');
    const start = original.length + paddingAfter(original.length);
    assert.ok(bytes.subarray(original.length, start).every((b) => b === 0), 'zero padding between the archives');
    assert.equal(bytes.subarray(start, start + 6).toString(), '070701', 'a newc cpio on a 4-byte boundary');

    const chunk = join(dir, 'chunk.cpio');
    await writeFile(chunk, bytes.subarray(start));
    const out = join(dir, 'out');
    await mkdir(out);
    await run(['cpio', '--quiet', '-i', '-F', chunk], { cwd: out });
    assert.equal(await readFile(join(out, 'init'), 'utf8'), TRIM_INIT_SCRIPT);
    assert.equal(await readFile(join(out, 'init.initramfs-tools'), 'utf8'), TOOLS_INIT);
    for (const name of ['init', 'init.initramfs-tools']) assert.equal((await stat(join(out, name))).mode & 0o777, 0o755, `${name} is executable`);
    const listing = await run(['cpio', '--quiet', '-t', '-v', '-F', chunk]);
    const lines = listing.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    for (const line of lines) assert.match(line, /^\S+\s+\d+\s+root\s+root\s/, `owned by root: ${line}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an initramfs that initramfs-tools did not make is left as it is', async () => {
  const dir = await scratch();
  try {
    const tree = join(dir, 'tree');
    await mkdir(tree);
    const initrd = join(dir, 'initrd.img');
    await writeFile(initrd, 'dracut archive stand-in');
    assert.equal(await appendTrimInit(initrd, tree, dir), false);
    assert.equal(await readFile(initrd, 'utf8'), 'dracut archive stand-in');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
