import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../system/exec.js';
import { quietContext } from '../op-context.js';
import { installDownloads } from './downloads.js';
import type { RecipeDownload } from './recipes.js';

let dir = '';
let server: Server;
let base = '';
let tgz: Buffer;
let sha = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-dl-'));
  await mkdir(join(dir, 'pkg/package/bin'), { recursive: true });
  await writeFile(join(dir, 'pkg/package/bin/tool'), '#!/bin/sh\necho tool 1.0\n');
  await run(['tar', '-czf', join(dir, 'tool.tgz'), '-C', join(dir, 'pkg'), 'package']);
  tgz = await readFile(join(dir, 'tool.tgz'));
  sha = createHash('sha256').update(tgz).digest('hex');
  server = createServer((req, res) => {
    if (req.url === '/tool.tgz') res.end(tgz);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
after(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

function dl(over: Partial<RecipeDownload> = {}): RecipeDownload {
  return { name: 'tool', url: `${base}/tool.tgz`, sha256: sha, member: 'package/bin/tool', dest: '/usr/local/bin/tool', mode: '0755', ...over };
}

test('a download whose sha256 matches is installed at its path with its mode', async () => {
  const tree = await mkdtemp(join(dir, 'tree-'));
  const scratch = await mkdtemp(join(dir, 'scratch-'));
  await installDownloads(tree, scratch, [dl()], quietContext());
  const dest = join(tree, 'usr/local/bin/tool');
  assert.equal(await readFile(dest, 'utf8'), '#!/bin/sh\necho tool 1.0\n');
  assert.equal((await stat(dest)).mode & 0o7777, 0o755);
  assert.deepEqual(await readdir(scratch), [], 'scratch cleaned up');
});

test('a sha256 mismatch installs nothing and names both digests', async () => {
  const tree = await mkdtemp(join(dir, 'tree-'));
  const scratch = await mkdtemp(join(dir, 'scratch-'));
  const wrong = 'a'.repeat(64);
  await assert.rejects(installDownloads(tree, scratch, [dl({ sha256: wrong })], quietContext()), (err: Error) => {
    assert.match(err.message, new RegExp(`has sha256 ${sha}, the recipe pins ${wrong}`));
    return true;
  });
  assert.deepEqual(await readdir(tree), []);
  assert.deepEqual(await readdir(scratch), []);
});

test('a missing member or an HTTP error is a clear failure', async () => {
  const tree = await mkdtemp(join(dir, 'tree-'));
  await assert.rejects(installDownloads(tree, dir, [dl({ url: `${base}/nope.tgz` })], quietContext()), /answered HTTP 404/);
  await assert.rejects(installDownloads(tree, dir, [dl({ member: 'package/bin/other' })], quietContext()));
  assert.deepEqual(await readdir(tree), []);
});
