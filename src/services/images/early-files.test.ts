import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { writeEarlyTar } from './early-files.js';

test('early files become a tar of root-owned files with the recipe\'s modes and no directory entries', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'banger-early-'));
  try {
    const file = join(dir, 'early.tar');
    await writeEarlyTar(file, [
      { path: '/etc/initramfs-tools/conf.d/banger', content: 'MODULES=list\n', mode: '0640' },
      { path: '/usr/share/x', content: 'é', mode: '0755' },
    ]);
    const seen: { name: string; type: string | null | undefined; mode: number | undefined; uid: number | undefined; gid: number | undefined; body: string }[] = [];
    const ex = tar.extract();
    createReadStream(file).pipe(ex);
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c);
      seen.push({ name: e.header.name, type: e.header.type, mode: e.header.mode, uid: e.header.uid, gid: e.header.gid, body: Buffer.concat(chunks).toString('utf8') });
    }
    assert.deepEqual(seen, [
      { name: './etc/initramfs-tools/conf.d/banger', type: 'file', mode: 0o640, uid: 0, gid: 0, body: 'MODULES=list\n' },
      { name: './usr/share/x', type: 'file', mode: 0o755, uid: 0, gid: 0, body: 'é' },
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
