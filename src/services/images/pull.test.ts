/** image pull against a real registry (Debian's docker-registry on 127.0.0.1) with images the tests build. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { BangerError } from '../../api/errors.js';
import { resolveConfig } from '../../config/load.js';
import { resolveLayout, type Layout } from '../../config/paths.js';
import { checkExt4, exists, stat } from '../../drivers/ext4/index.js';
import { GUEST_BITS_MARKER } from '../../guest/index.js';
import { openStore } from '../../store/db.js';
import { which } from '../../system/exec.js';
import { layerBlob, pushImage, pushIndex, registryMissing, startRegistry, type TestRegistry } from '../../testing/oci-registry.js';
import type { OpContext } from '../op-context.js';
import { quietContext } from '../op-context.js';
import { writeFakeBzImage } from '../kernels/fixtures.js';
import { sha256File } from '../artifacts/digest.js';
import { ImageService } from './image-service.js';
import { RegistryClient } from './oci/registry.js';

const skip = registryMissing || (['mkfs.ext4', 'debugfs', 'zstd', 'htpasswd', 'openssl'].every((t) => which(t)) ? false : 'needs e2fsprogs, zstd, apache2-utils, openssl');

let dir = '';
let layout: Layout;
let db: Database;
let svc: ImageService;
let kernel = '';
let reg: TestRegistry;
const config = resolveConfig({}, '/nonexistent/config.toml', {}, false).config;

interface Seen {
  stages: string[];
  bytes: Map<string, number[]>;
  logs: string[];
}

function recordingContext(): { ctx: OpContext; seen: Seen } {
  const seen: Seen = { stages: [], bytes: new Map(), logs: [] };
  let current = '';
  const ctx: OpContext = {
    signal: new AbortController().signal,
    stage: async (id, _label, fn) => {
      seen.stages.push(id);
      current = id;
      return fn();
    },
    progress: (cur, _total, unit) => {
      if (unit === 'bytes') seen.bytes.set(current, [...(seen.bytes.get(current) ?? []), cur]);
    },
    log: (m) => seen.logs.push(m),
  };
  return { ctx, seen };
}

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp, hint?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof BangerError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, re);
    if (hint) assert.match(err.hint ?? '', hint);
    return true;
  });
}

function stagingEmpty(): boolean {
  return !existsSync(layout.stagingDir) || readdirSync(layout.stagingDir).length === 0;
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'banger-pull-test-'));
  layout = resolveLayout({ env: { BANGER_HOME: join(dir, 'home') } });
  db = openStore(layout.dbPath);
  svc = new ImageService({ db, layout, config, dockerConfig: join(dir, 'no-docker-config.json') });
  kernel = join(dir, 'vmlinuz');
  await writeFakeBzImage(kernel, '6.1.0-pull');
  reg = await startRegistry();
});
after(async () => {
  if (skip) return;
  db.close();
  await reg.stop();
  await rm(dir, { recursive: true, force: true });
});

test('a multi-layer image (gzip, zstd, plain tar) is pulled into a managed image with its owners and modes', { skip }, async () => {
  const layers = [
    await layerBlob([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/shadow', content: 'root:*:1::::::\n', mode: 0o640, gid: 42 },
      { name: 'etc/os-release', content: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n' },
      { name: 'usr/bin/passwd', content: 'suid', mode: 0o4755 },
      { name: 'root/', type: 'directory', mode: 0o700 },
      { name: 'root/.profile', content: 'PS1=x\n' },
      { name: 'srv/data', content: 'v1', uid: 999, gid: 998, mode: 0o600 },
    ], 'gzip'),
    await layerBlob([{ name: 'srv/.wh.data' }, { name: 'srv/new', content: 'v2', uid: 1001, gid: 1002, pax: { 'SCHILY.xattr.user.tag': 'blue' } }], 'zstd'),
    await layerBlob([{ name: 'etc/motd', content: 'hello\n', mode: 0o444 }], 'none'),
  ];
  await pushImage(reg.host, 'team/base', 'v1', layers);
  const { ctx, seen } = recordingContext();
  const img = await svc.pull({ ref: `${reg.host}/team/base:v1`, kernel }, ctx);
  assert.equal(img.name, 'base-v1');
  assert.equal(img.managed, true);
  assert.match(img.source, /^oci:127\.0\.0\.1:\d+\/team\/base:v1@sha256:/);
  assert.ok(img.kernelPath && existsSync(img.kernelPath));
  assert.deepEqual(seen.stages.filter((s) => s.startsWith('layer_')), ['layer_1', 'layer_2', 'layer_3']);
  for (const [i, l] of layers.entries()) assert.equal(seen.bytes.get(`layer_${i + 1}`)?.at(-1), l.size, 'byte progress ends at the layer size');
  assert.ok(
    seen.logs.some((m) => /no init system \(systemd\): banger cannot boot VMs from it.*add openssh-server systemd systemd-sysv with apt \(apt-get update && apt-get install -y --no-install-recommends openssh-server systemd systemd-sysv\)/.test(m)),
    `the missing init system and what would add it are said (${seen.logs.join(' | ')})`,
  );
  assert.equal(img.meta.initMissing, true, 'the image is marked unbootable');
  assert.equal(img.meta.firstBoot, undefined, 'no first-boot installer without an init system');
  assert.equal(img.distro, 'debian', 'the distro comes from /etc/os-release');

  const rootfs = img.rootfsPath;
  assert.equal((await checkExt4(rootfs)).clean, true);
  const shadow = await stat(rootfs, '/etc/shadow');
  assert.deepEqual([shadow?.mode, shadow?.uid, shadow?.gid], [0o640, 0, 42]);
  assert.equal((await stat(rootfs, '/usr/bin/passwd'))?.mode, 0o4755);
  assert.equal(await stat(rootfs, '/srv/data'), undefined);
  const n = await stat(rootfs, '/srv/new');
  assert.deepEqual([n?.uid, n?.gid], [1001, 1002]);
  assert.equal(await exists(rootfs, GUEST_BITS_MARKER), true, 'guest bits injected');
  assert.ok(img.workSeedPath && (await exists(img.workSeedPath, '/.profile')), 'the work seed holds /root');
  assert.ok(stagingEmpty());
  assert.equal(svc.get('base-v1').id, img.id);

  // Again under another name: every blob comes from the cache.
  const again = recordingContext();
  // eslint-disable-next-line @typescript-eslint/unbound-method -- restored below and called with its own `this`
  const client = RegistryClient.prototype.getBlob;
  let fetched = 0;
  RegistryClient.prototype.getBlob = function (this: RegistryClient, ...a: Parameters<typeof client>) {
    fetched++;
    return client.apply(this, a);
  };
  try {
    await svc.pull({ ref: `${reg.host}/team/base:v1`, name: 'base-again', kernel }, again.ctx);
  } finally {
    RegistryClient.prototype.getBlob = client;
  }
  assert.equal(fetched, 0, 'no blob downloaded twice');
  assert.ok(again.seen.stages.includes('from_cache'), `the second pull says it came from the cache (${again.seen.stages.join(' ')})`);
  assert.ok(!again.seen.stages.includes('unpack'), 'the second pull unpacks no layer');
  const second = svc.get('base-again');
  assert.equal(await sha256File(second.rootfsPath), await sha256File(rootfs), 'the same rootfs as the first pull');
  assert.equal(second.distro, 'debian');
  assert.equal(second.meta.initMissing, true);
  assert.ok(again.seen.logs.some((m) => /no init system/.test(m)), 'the warnings are said again');

  // An entry made with other guest bits is not used: the next pull unpacks again.
  const flatDir = join(layout.ociCacheDir, 'flat');
  const [entry] = readdirSync(flatDir);
  const recPath = join(flatDir, entry!, 'entry.json');
  const rec = JSON.parse(await readFile(recPath, 'utf8')) as { key: { guestBits: string } };
  rec.key.guestBits = 'sha256:' + '0'.repeat(64);
  await writeFile(recPath, JSON.stringify(rec));
  const third = recordingContext();
  await svc.pull({ ref: `${reg.host}/team/base:v1`, name: 'base-third', kernel }, third.ctx);
  assert.ok(third.seen.stages.includes('unpack') && !third.seen.stages.includes('from_cache'), `other guest bits: unpacked again (${third.seen.stages.join(' ')})`);
  assert.notEqual(await sha256File(svc.get('base-third').rootfsPath), await sha256File(rootfs), 'a fresh ext4 (new UUID), not the cached one');

  const dry = await svc.pruneCache(true);
  assert.equal(dry.blobs, 3);
  assert.equal(dry.flattened, 1);
  assert.ok(dry.bytes > layers.reduce((s, l) => s + l.size, 0), 'the flattened image counts in the bytes freed');
  assert.equal((await svc.pruneCache(false)).bytes, dry.bytes);
  assert.deepEqual(readdirSync(flatDir), [], 'prune removes the flattened image');
  assert.equal((await svc.pruneCache(true)).bytes, 0);
  const fourth = recordingContext();
  await svc.pull({ ref: `${reg.host}/team/base:v1`, name: 'base-fourth', kernel }, fourth.ctx);
  assert.ok(fourth.seen.stages.includes('unpack'), 'after prune the pull unpacks again');
});

test('an index picks linux/amd64; a platform it lacks is not_found listing the ones it has', { skip }, async () => {
  const amd = await pushImage(reg.host, 'multi/img', 'amd64', [await layerBlob([{ name: 'arch', content: 'amd64' }])]);
  const arm = await pushImage(reg.host, 'multi/img', 'arm64', [await layerBlob([{ name: 'arch', content: 'arm64' }])], { architecture: 'arm64' });
  await pushIndex(reg.host, 'multi/img', 'latest', [
    { ...arm, os: 'linux', architecture: 'arm64', variant: 'v8' },
    { ...amd, os: 'linux', architecture: 'amd64' },
  ]);
  const img = await svc.pull({ ref: `${reg.host}/multi/img`, kernel }, quietContext());
  assert.equal(img.name, 'img-latest');
  assert.equal((await stat(img.rootfsPath, '/arch'))?.size, 5);
  const arm64 = await svc.pull({ ref: `${reg.host}/multi/img`, name: 'img-arm', platform: 'linux/arm64', kernel }, quietContext());
  assert.match(arm64.source, new RegExp(arm.digest));
  await rejectsWith(svc.pull({ ref: `${reg.host}/multi/img`, name: 'img-s390', platform: 'linux/s390x', kernel }, quietContext()), 'not_found', /no image for linux\/s390x; it has linux\/arm64\/v8, linux\/amd64/);
});

test('a Docker schema 2 image pulls', { skip }, async () => {
  await pushImage(reg.host, 'docker/old', 'v2', [await layerBlob([{ name: 'etc/issue', content: 'docker\n', uid: 5 }], 'gzip', true)], { docker: true });
  const img = await svc.pull({ ref: `${reg.host}/docker/old:v2`, kernel }, quietContext());
  assert.equal((await stat(img.rootfsPath, '/etc/issue'))?.uid, 5);
});

test('bad input: malformed ref, unknown repository or tag, name taken', { skip }, async () => {
  await rejectsWith(svc.pull({ ref: 'Not A Ref', kernel }, quietContext()), 'bad_request', /malformed image reference/);
  await rejectsWith(svc.pull({ ref: `${reg.host}/nobody/here:v1`, kernel }, quietContext()), 'not_found', /answered 404/, /check the repository and tag/);
  await rejectsWith(svc.pull({ ref: `${reg.host}/team/base:nope`, kernel }, quietContext()), 'not_found', /answered 404/);
  await rejectsWith(svc.pull({ ref: `${reg.host}/team/base:v1`, kernel }, quietContext()), 'already_exists', /base-v1/);
  assert.ok(stagingEmpty());
});

test('a blob the registry serves altered fails its digest check and leaves nothing behind; a partial download resumes', { skip }, async () => {
  const layer = await layerBlob([{ name: 'payload', content: Buffer.alloc(300_000, 7) }], 'none');
  await pushImage(reg.host, 'corrupt/img', 'v1', [layer]);
  const hex = layer.digest.slice(7);
  const stored = join(reg.dir, 'data/docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  const good = await readFile(stored);
  const bad = Buffer.from(good);
  const flip = bad.length - 1000;
  bad[flip] = (bad[flip] ?? 0) ^ 0xff;
  await writeFile(stored, bad);
  const imagesBefore = svc.list().length;
  await rejectsWith(svc.pull({ ref: `${reg.host}/corrupt/img:v1`, kernel }, quietContext()), 'operation_failed', /does not match its digest/);
  assert.equal(svc.list().length, imagesBefore);
  assert.equal(await svc.blobs.has(layer.digest), false);
  assert.ok(stagingEmpty());
  await writeFile(stored, good);

  // An interrupted download left the first half: the pull asks only for the rest.
  const partialDir = join(layout.ociCacheDir, 'partial');
  await mkdir(partialDir, { recursive: true });
  await writeFile(join(partialDir, hex), good.subarray(0, 150_000));
  const { ctx, seen } = recordingContext();
  await svc.pull({ ref: `${reg.host}/corrupt/img:v1`, name: 'resumed', kernel }, ctx);
  assert.equal(seen.bytes.get('layer_1')?.[0], 150_000, 'the download starts at the bytes already there');
  assert.equal(await svc.blobs.has(layer.digest), true);
});

test('concurrent fetches of one blob share one download', { skip }, async () => {
  const layer = await layerBlob([{ name: 'shared', content: Buffer.alloc(500_000, 3) }], 'gzip');
  await pushImage(reg.host, 'shared/img', 'v1', [layer]);
  const client = new RegistryClient({ registry: reg.host, repository: 'shared/img' });
  let gets = 0;
  const orig = client.getBlob.bind(client);
  client.getBlob = (d, from) => {
    gets++;
    return orig(d, from);
  };
  const desc = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
  const [a, b, c] = await Promise.all([svc.blobs.fetch(client, desc), svc.blobs.fetch(client, desc), svc.blobs.fetch(client, desc)]);
  assert.equal(gets, 1);
  assert.equal(a, b);
  assert.equal(b, c);
});

test('basic auth (htpasswd) with credentials from the Docker config file; without them a clear error', { skip }, async () => {
  const secure = await startRegistry({ htpasswd: { user: 'alice', password: 's3cret' } });
  try {
    const credential = { username: 'alice', password: 's3cret' };
    await pushImage(secure.host, 'private/img', 'v1', [await layerBlob([{ name: 'secret', content: 'x' }])], { credential });
    await rejectsWith(svc.pull({ ref: `${secure.host}/private/img:v1`, kernel }, quietContext()), 'unavailable', /refused access/, /docker\/config\.json/);
    const cfg = join(dir, 'docker-basic.json');
    await writeFile(cfg, JSON.stringify({ auths: { [`http://${secure.host}`]: { auth: Buffer.from('alice:wrong').toString('base64') } } }));
    const wrong = new ImageService({ db, layout, config, dockerConfig: cfg });
    await rejectsWith(wrong.pull({ ref: `${secure.host}/private/img:v1`, name: 'p-wrong', kernel }, quietContext()), 'unavailable', /credentials were rejected/);
    await writeFile(cfg, JSON.stringify({ auths: { [secure.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }));
    const right = new ImageService({ db, layout, config, dockerConfig: cfg });
    const img = await right.pull({ ref: `${secure.host}/private/img:v1`, name: 'p-basic', kernel }, quietContext());
    assert.equal(await exists(img.rootfsPath, '/secret'), true);
  } finally {
    await secure.stop();
  }
});

test('bearer tokens from a token service', { skip }, async () => {
  const tokened = await startRegistry({ token: { user: 'bob', password: 'tok3n' } });
  try {
    const credential = { username: 'bob', password: 'tok3n' };
    await pushImage(tokened.host, 'team/tok', 'v1', [await layerBlob([{ name: 'via-token', content: 'x' }])], { credential });
    await rejectsWith(svc.pull({ ref: `${tokened.host}/team/tok:v1`, kernel }, quietContext()), 'unavailable', /refused anonymous access/, /docker login/);
    const cfg = join(dir, 'docker-token.json');
    await writeFile(cfg, JSON.stringify({ auths: { [tokened.host]: { auth: Buffer.from('bob:tok3n').toString('base64') } } }));
    const before = tokened.tokenRequests!();
    const img = await new ImageService({ db, layout, config, dockerConfig: cfg }).pull({ ref: `${tokened.host}/team/tok:v1`, name: 'p-token', kernel }, quietContext());
    assert.ok(tokened.tokenRequests!() > before);
    assert.equal(await exists(img.rootfsPath, '/via-token'), true);
  } finally {
    await tokened.stop();
  }
});

test('an identity token from the Docker config is traded for bearer tokens with an OAuth2 refresh_token POST', { skip }, async () => {
  const tokened = await startRegistry({ token: { user: 'carol', password: 'pw', refreshToken: 'refresh-4f2a' } });
  try {
    await pushImage(tokened.host, 'team/idt', 'v1', [await layerBlob([{ name: 'via-identity-token', content: 'x' }])], { credential: { username: 'carol', password: 'pw' } });
    const cfg = join(dir, 'docker-identity.json');
    // What docker login writes for registries that hand out refresh tokens: the user in `auth`, no password.
    await writeFile(cfg, JSON.stringify({ auths: { [tokened.host]: { auth: Buffer.from('carol:').toString('base64'), identitytoken: 'refresh-4f2a' } } }));
    const img = await new ImageService({ db, layout, config, dockerConfig: cfg }).pull({ ref: `${tokened.host}/team/idt:v1`, name: 'p-identity', kernel }, quietContext());
    assert.equal(await exists(img.rootfsPath, '/via-identity-token'), true);
    assert.ok(tokened.refreshGrants!() > 0, 'the token came from the refresh token');

    await writeFile(cfg, JSON.stringify({ auths: { [tokened.host]: { identitytoken: 'revoked' } } }));
    await rejectsWith(
      new ImageService({ db, layout, config, dockerConfig: cfg }).pull({ ref: `${tokened.host}/team/idt:v1`, name: 'p-revoked', kernel }, quietContext()),
      'unavailable', /token service of 127\.0\.0\.1:\d+ refused the credentials for .*team\/idt/, /docker login/,
    );
    assert.ok(stagingEmpty());
  } finally {
    await tokened.stop();
  }
});
