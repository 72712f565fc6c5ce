/** image push as a banger image artifact and its pull back, against a real registry (docker-registry on 127.0.0.1). */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { BangerError } from '../../api/errors.js';
import type { ImageInfo } from '../../api/types.js';
import { resolveConfig } from '../../config/load.js';
import { resolveLayout, type Layout } from '../../config/paths.js';
import { openStore } from '../../store/db.js';
import { which } from '../../system/exec.js';
import { layerBlob, pushImage, registryMissing, startRegistry, type TestRegistry } from '../../testing/oci-registry.js';
import { sha256File } from '../artifacts/digest.js';
import { quietContext, type OpContext } from '../op-context.js';
import { writeFakeBzImage } from '../kernels/fixtures.js';
import { ImageService } from './image-service.js';
import { ANNOTATION } from './oci/artifact.js';
import { BANGER_MT, MT, type ImageManifestDoc } from './oci/media-types.js';
import { RegistryClient } from './oci/registry.js';

const skip = registryMissing || (['mkfs.ext4', 'debugfs', 'zstd'].every((t) => which(t)) ? false : 'needs e2fsprogs and zstd');

let dir = '';
let layout: Layout;
let db: Database;
let svc: ImageService;
let reg: TestRegistry;
let golden: ImageInfo;
const config = resolveConfig({}, '/nonexistent/config.toml', {}, false).config;

function stagingEmpty(): boolean {
  return !existsSync(layout.stagingDir) || readdirSync(layout.stagingDir).length === 0;
}

function stagesContext(): { ctx: OpContext; stages: string[] } {
  const stages: string[] = [];
  const ctx: OpContext = {
    signal: new AbortController().signal,
    stage: async (id, _label, fn) => {
      stages.push(id);
      return fn();
    },
    progress: () => undefined,
    log: () => undefined,
  };
  return { ctx, stages };
}

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof BangerError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, re);
    return true;
  });
}

async function digests(img: ImageInfo): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [k, p] of Object.entries({ rootfs: img.rootfsPath, workSeed: img.workSeedPath, kernel: img.kernelPath, initrd: img.initrdPath })) {
    assert.ok(p && existsSync(p), `${k} exists`);
    out[k] = await sha256File(p);
  }
  return out;
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'banger-push-test-'));
  layout = resolveLayout({ env: { BANGER_HOME: join(dir, 'home') } });
  db = openStore(layout.dbPath);
  svc = new ImageService({ db, layout, config, dockerConfig: join(dir, 'no-docker-config.json') });
  const kernel = join(dir, 'vmlinuz');
  const initrd = join(dir, 'initrd.img');
  await writeFakeBzImage(kernel, '6.1.0-push');
  await writeFile(initrd, randomBytes(200_000));
  reg = await startRegistry();
  // A managed image to push: a small container image pulled with a kernel and initrd.
  const layer = await layerBlob([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/hostname', content: 'golden\n' },
    { name: 'srv/data', content: randomBytes(100_000), uid: 1234, gid: 4321, mode: 0o640 },
  ]);
  await pushImage(reg.host, 'src/base', 'v1', [layer]);
  golden = await svc.pull({ ref: `${reg.host}/src/base:v1`, name: 'golden', size: '128M', kernel, initrd }, quietContext());
});
after(async () => {
  if (skip) return;
  db.close();
  await reg.stop();
  await rm(dir, { recursive: true, force: true });
});

test('push then pull of a banger image restores rootfs, work seed, kernel and initrd bit for bit, without flattening', { skip }, async () => {
  const pushed = await svc.push('golden', { ref: `${reg.host}/team/golden:v1` }, quietContext());
  assert.equal(pushed.ref, `${reg.host}/team/golden:v1`);
  assert.match(pushed.digest, /^sha256:[a-f0-9]{64}$/);
  assert.ok(stagingEmpty(), 'the compressed files are removed after the push');

  // What the registry holds is an artifact with banger's media types.
  const client = new RegistryClient({ registry: reg.host, repository: 'team/golden' });
  const m = await client.getManifest('v1');
  assert.equal(m.digest, pushed.digest);
  const doc = JSON.parse(m.body.toString('utf8')) as ImageManifestDoc;
  assert.equal(doc.artifactType, BANGER_MT.artifact);
  assert.equal(doc.config.mediaType, BANGER_MT.config);
  assert.deepEqual(doc.layers.map((l) => l.mediaType), [BANGER_MT.rootfs, BANGER_MT.workSeed, BANGER_MT.kernel, BANGER_MT.initrd]);
  assert.ok(doc.layers[0]!.size < golden.sizeBytes / 4, 'the rootfs goes up compressed');

  const { ctx, stages } = stagesContext();
  const copy = await svc.pull({ ref: `${reg.host}/team/golden:v1`, name: 'golden-copy' }, ctx);
  assert.ok(!stages.includes('unpack') && !stages.includes('ext4'), `no flattening (stages: ${stages.join(', ')})`);
  assert.deepEqual(await digests(copy), await digests(golden));
  assert.equal(copy.source, `oci:${reg.host}/team/golden:v1@${pushed.digest}`);
  assert.equal(copy.managed, true);
  assert.equal(copy.meta?.kernelSha256, golden.meta?.kernelSha256);
  assert.ok(stagingEmpty());

  // By digest, too.
  const pinned = await svc.pull({ ref: `${reg.host}/team/golden@${pushed.digest}`, name: 'golden-pinned' }, quietContext());
  assert.deepEqual(await digests(pinned), await digests(golden));
});

test('push refuses what it cannot store, naming why', { skip }, async () => {
  await rejectsWith(svc.push('nope', { ref: `${reg.host}/team/x:v1` }, quietContext()), 'not_found', /image "nope" not found/);
  await rejectsWith(svc.push('golden', { ref: `${reg.host}/team/x@sha256:${'a'.repeat(64)}` }, quietContext()), 'bad_request', /under a tag, not a digest/);
  await rejectsWith(svc.push('golden', { ref: 'Bad Ref' }, quietContext()), 'bad_request', /malformed image reference/);
  await svc.push('golden', { ref: `${reg.host}/team/golden:v2` }, quietContext());
  await rejectsWith(svc.pull({ ref: `${reg.host}/team/golden:v2`, name: 'sized', size: '2G' }, quietContext()), 'bad_request', /--size does not apply/);
  assert.equal(svc.find('sized'), undefined);
});

test('an artifact whose file does not match the sha256 it names is refused and leaves nothing behind', { skip }, async () => {
  const pushed = await svc.push('golden', { ref: `${reg.host}/team/golden:v3` }, quietContext());
  const client = new RegistryClient({ registry: reg.host, repository: 'team/golden' });
  const doc = JSON.parse((await client.getManifest(pushed.digest)).body.toString('utf8')) as ImageManifestDoc;
  doc.layers[2]!.annotations![ANNOTATION.sha256] = 'b'.repeat(64);
  await client.putManifest('damaged', MT.ociManifest, Buffer.from(JSON.stringify(doc)));
  const before = svc.list().length;
  await rejectsWith(svc.pull({ ref: `${reg.host}/team/golden:damaged`, name: 'damaged' }, quietContext()), 'operation_failed', /vmlinuz .* does not match the sha256 it was pushed with/);
  assert.equal(svc.list().length, before);
  assert.ok(stagingEmpty());
  assert.equal(readdirSync(layout.imagesDir).length, before, 'no image directory left');
});
