/** vm create --image X pulls X from the image catalog (image_catalog_url) when it is missing (fake driver). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BangerError } from '../api/errors.js';
import { which } from '../system/exec.js';
import { CatalogServer, makeBundle, sha256Of } from '../testing/catalog-server.js';
import { fakeWorld, type FakeWorld } from '../testing/fake-services.js';
import { writeTinyImageFiles } from '../testing/tiny-image.js';
import { quietContext, type OpContext } from './op-context.js';

const skip = ['mkfs.ext4', 'debugfs', 'zstd'].every((t) => which(t)) ? false : 'needs e2fsprogs and zstd';
const server = new CatalogServer();
let w: FakeWorld | undefined;
let scratch = '';

before(async () => {
  if (skip) return;
  await server.start();
});
after(async () => {
  await w?.close();
  await server.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

test('vm create --image NAME pulls a missing catalog image with its stages; an unknown name says where it looked', { skip }, async () => {
  scratch = mkdtempSync('/tmp/bcat-');
  const { rootfs, kernel } = await writeTinyImageFiles(scratch);
  const body = await makeBundle(scratch, [{ name: 'rootfs.ext4', content: await readFile(rootfs) }, { name: 'vmlinuz', content: await readFile(kernel) }]);
  const catalog = join(scratch, 'images.json');
  await writeFile(
    catalog,
    JSON.stringify({ schema: 1, kind: 'images', entries: [{ name: 'tiny-cat', description: 'tiny', source: { kind: 'bundle', url: server.set('/tiny.tar.zst', { body }), sha256: sha256Of(body), size: body.length } }] }),
  );
  w = await fakeWorld({}, { image_catalog_url: catalog });
  const stages: string[] = [];
  const logs: string[] = [];
  const ctx: OpContext = { ...quietContext(), stage: (id, _l, fn) => (stages.push(id), fn()), log: (m) => void logs.push(m) };
  const vm = await w.services.vms.create({ name: 'from-catalog', image: 'tiny-cat' }, ctx);
  assert.equal(vm.state, 'running');
  assert.deepEqual(stages.slice(0, 5), ['hypervisor', 'image', 'catalog', 'download', 'extract']);
  assert.ok(stages.includes('ssh'));
  assert.ok(logs.some((m) => /image tiny-cat is not here; pulling it from the image catalog \(bundle\)/.test(m)), logs.join(' | '));
  assert.equal(w.services.images.get('tiny-cat').source, 'catalog:tiny-cat');
  assert.deepEqual(server.hits, ['/tiny.tar.zst']);

  // The second VM finds it locally.
  await w.services.vms.create({ name: 'again', image: 'tiny-cat', noStart: true }, quietContext());
  assert.deepEqual(server.hits, ['/tiny.tar.zst']);

  await assert.rejects(w.services.vms.create({ name: 'nope', image: 'no-such-image' }, quietContext()), (err: unknown) => {
    assert.ok(err instanceof BangerError);
    assert.equal(err.code, 'not_found');
    assert.match(err.message, /looked in local images \(tiny, tiny-cat\); the image catalog \(.*images\.json: no entry no-such-image\); OCI registries \(not tried/);
    return true;
  });
  assert.equal(w.services.vms.list().some((v) => v.name === 'nope'), false, 'no VM is left from the failed create');
});
