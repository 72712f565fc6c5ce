import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { makeTar } from '../../../testing/oci-registry.js';
import { LayerTree } from './layer-tree.js';
import { reconcileTree, snapshotTree } from './tree-changes.js';
import { fixesFor } from './to-ext4.js';

test('changes made after unpacking are root-owned with their disk modes; untouched entries keep the tar\'s', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'banger-tree-changes-'));
  try {
    const lt = new LayerTree(join(dir, 'tree'));
    await mkdir(lt.root);
    const tar = await makeTar([
      { name: 'etc/', type: 'directory', mode: 0o755 },
      { name: 'etc/shadow', content: 'x', mode: 0o640, gid: 42 },
      { name: 'etc/hostname', content: 'old', mode: 0o644 },
      { name: 'etc/sudoers.d/', type: 'directory', mode: 0o750 },
      { name: 'usr/bin/su', content: 'su', mode: 0o4755 },
      { name: 'etc/motd', type: 'symlink', linkname: '/run/motd' },
      { name: 'root/', type: 'directory', mode: 0o700 },
      { name: 'root/.bashrc', content: 'ps1', mode: 0o644, uid: 0 },
      { name: 'home/u/', type: 'directory', mode: 0o750, uid: 1000, gid: 1000 },
      { name: 'home/u/notes', content: 'n', mode: 0o644, uid: 1000, gid: 1000 },
    ]);
    await lt.applyLayer(Readable.from([tar]), 'test');
    const before = await snapshotTree(lt);
    await new Promise((r) => setTimeout(r, 20));

    await rm(join(lt.root, 'etc/hostname'));
    await writeFile(join(lt.root, 'etc/hostname'), 'new\n', { mode: 0o644 });
    await rm(join(lt.root, 'etc/motd'));
    await writeFile(join(lt.root, 'etc/motd'), 'hello\n');
    await chmod(join(lt.root, 'etc/motd'), 0o600);
    await writeFile(join(lt.root, 'etc/sudoers.d/banger'), 'x', { mode: 0o440 });
    await chmod(join(lt.root, 'etc/sudoers.d/banger'), 0o440);
    await mkdir(join(lt.root, 'dev'), { mode: 0o755 });
    await rm(join(lt.root, 'root/.bashrc'));
    await chmod(join(lt.root, 'home/u'), 0o700);
    await chmod(join(lt.root, 'home/u/notes'), 0o600);

    await reconcileTree(lt, before);
    const m = (p: string) => {
      const e = lt.meta.get(p);
      return e && { type: e.type, uid: e.uid, gid: e.gid, mode: e.mode };
    };
    assert.deepEqual(m('/etc/shadow'), { type: 'file', uid: 0, gid: 42, mode: 0o640 }, 'untouched: the tar\'s');
    assert.deepEqual(m('/usr/bin/su'), { type: 'file', uid: 0, gid: 0, mode: 0o4755 }, 'untouched: setuid kept');
    assert.deepEqual(m('/etc/hostname'), { type: 'file', uid: 0, gid: 0, mode: 0o644 }, 'replaced');
    assert.deepEqual(m('/etc/motd'), { type: 'file', uid: 0, gid: 0, mode: 0o600 }, 'symlink replaced by a file');
    assert.deepEqual(m('/etc/sudoers.d'), { type: 'dir', uid: 0, gid: 0, mode: 0o750 }, 'a file added to a directory leaves the directory as it was');
    assert.deepEqual(m('/etc/sudoers.d/banger'), { type: 'file', uid: 0, gid: 0, mode: 0o440 }, 'new file');
    assert.deepEqual(m('/dev'), { type: 'dir', uid: 0, gid: 0, mode: 0o755 }, 'new directory');
    assert.equal(m('/root/.bashrc'), undefined, 'removed');
    assert.deepEqual(m('/home/u'), { type: 'dir', uid: 0, gid: 0, mode: 0o700 }, 'chmod-ed: root-owned with the new mode');
    assert.deepEqual(m('/home/u/notes'), { type: 'file', uid: 0, gid: 0, mode: 0o600 }, 'chmod-ed file: root-owned with the new mode');
    // Unpacked as root, the file's host inode kept uid 1000: the ext4 must still get the fix.
    assert.deepEqual(fixesFor(lt).find((f) => f.path === '/home/u/notes'), { path: '/home/u/notes', uid: 0, gid: 0, mode: 0o100600 });
    assert.ok(lt.meta.has('/'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
