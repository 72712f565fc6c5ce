/**
 * oci-pull: `banger image pull` of a multi-layer image (>= 200 MB unpacked, gzip layers) from Debian's
 * docker-registry on 127.0.0.1, against `skopeo copy` + `umoci unpack --rootless` + `mkfs.ext4 -d` of
 * the same image in the same run; then the same pull again, its layers coming from the blob cache.
 * Targets: first pull <= 0.8x the reference; the cached pull <= 0.3x the first.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { check, diskUsage, fmtBytes, fmtSecs, MiB, passMiss, removeTree, runAsync, say } from './util.mjs';

const LAYERS = 4;
const LAYER_BYTES = 56 * MiB;
const TARGET_FIRST = 0.8;
const TARGET_CACHED = 0.3;

async function load(ctx, rel) {
  return import(pathToFileURL(join(ctx.dist, rel)).href);
}

/** Layer i: small text files (compressible) and a few large random ones, with odd owners. */
async function makeLayer(reg, i) {
  const entries = [{ name: `layer${i}/`, type: 'directory' }];
  let bytes = 0;
  for (let f = 0; bytes < LAYER_BYTES / 2; f++) {
    const content = Buffer.from(`layer ${i} file ${f} `.repeat(200 + (f % 400)));
    entries.push({ name: `layer${i}/small/${f % 50}/f${f}.txt`, content, uid: 1000 + (f % 3), gid: 100, mode: 0o644 });
    bytes += content.length;
  }
  for (let f = 0; bytes < LAYER_BYTES; f++) {
    const content = randomBytes(4 * MiB);
    entries.push({ name: `layer${i}/big/blob${f}.bin`, content, mode: 0o600 });
    bytes += content.length;
  }
  const tar = await reg.makeTar(entries);
  const data = gzipSync(tar, { level: 6 });
  return {
    diffId: `sha256:${createHash('sha256').update(tar).digest('hex')}`,
    blob: reg.blobOf(data, 'application/vnd.oci.image.layer.v1.tar+gzip'),
    unpacked: tar.length,
  };
}

async function pushBench(ctx, host) {
  const reg = await load(ctx, 'testing/oci-registry.js');
  const { RegistryClient } = await load(ctx, 'services/images/oci/registry.js');
  const layers = [];
  for (let i = 0; i < LAYERS; i++) layers.push(await makeLayer(reg, i));
  const client = new RegistryClient({ registry: host, repository: 'bench/big' });
  const config = reg.blobOf(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) }, config: {} })),
    'application/vnd.oci.image.config.v1+json',
  );
  for (const b of [config, ...layers.map((l) => l.blob)]) await client.putBlob(b.digest, b.size, () => new Uint8Array(b.data));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.blob.mediaType, digest: l.blob.digest, size: l.blob.size })),
  }));
  await client.putManifest('v1', 'application/vnd.oci.image.manifest.v1+json', manifest);
  return {
    unpacked: layers.reduce((s, l) => s + l.unpacked, 0),
    compressed: layers.reduce((s, l) => s + l.blob.size, 0),
  };
}

/** A pull with its stage times (NDJSON progress on stderr). */
async function pullWithStages(ctx, args, what) {
  const stages = new Map();
  const starts = new Map();
  const r = await runAsync(ctx, ctx.banger('--json', 'image', 'pull', ...args), {
    onStderrLine: (line) => {
      let ev;
      try {
        ev = JSON.parse(line);
      } catch {
        return;
      }
      if (ev.type === 'stage') starts.set(ev.stage, Date.now());
      else if (ev.type === 'stage_done') {
        const group = String(ev.stage).startsWith('layer_') ? 'download' : ev.stage;
        stages.set(group, (stages.get(group) ?? 0) + Number(ev.elapsedMs ?? Date.now() - (starts.get(ev.stage) ?? Date.now())));
      }
    },
  });
  check(r, what);
  return { ms: r.ms, stdout: r.stdout, stages: [...stages].map(([k, v]) => `${k} ${fmtSecs(v)}`).join(', ') };
}

export async function benchOciPull(ctx) {
  for (const tool of ['docker-registry', 'skopeo', 'umoci', 'mkfs.ext4']) {
    const r = await runAsync(ctx, ['sh', '-c', `command -v ${tool}`]);
    if (r.code !== 0) throw new Error(`oci-pull needs ${tool} (scripts/install-deps.sh --test)`);
  }
  const { startRegistry } = await load(ctx, 'testing/oci-registry.js');
  const { writeFakeBzImage } = await load(ctx, 'services/kernels/fixtures.js');
  const registry = await startRegistry();
  try {
    say(`pushing a ${LAYERS}-layer image to ${registry.host}`);
    const image = await pushBench(ctx, registry.host);
    const ref = `${registry.host}/bench/big:v1`;
    const kernel = join(ctx.home, 'bench-vmlinuz');
    await writeFakeBzImage(kernel, '6.1.0-bench');

    // The reference: skopeo to an OCI layout, umoci to a rootless bundle, mkfs.ext4 -d of its rootfs.
    const work = join(ctx.home, 'oci-reference');
    mkdirSync(work, { recursive: true });
    say('reference: skopeo copy + umoci unpack --rootless + mkfs.ext4 -d');
    const t0 = Date.now();
    check(await runAsync(ctx, ['skopeo', 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(work, 'layout')}:v1`]), 'skopeo copy');
    const tSkopeo = Date.now() - t0;
    check(await runAsync(ctx, ['umoci', 'unpack', '--rootless', '--image', `${join(work, 'layout')}:v1`, join(work, 'bundle')]), 'umoci unpack');
    const tUmoci = Date.now() - t0 - tSkopeo;
    const size = Math.ceil((image.unpacked * 1.5) / MiB);
    check(await runAsync(ctx, ['mkfs.ext4', '-q', '-F', '-E', 'root_owner=0:0', '-d', join(work, 'bundle', 'rootfs'), join(work, 'rootfs.ext4'), `${size}M`]), 'mkfs.ext4 -d');
    const refMs = Date.now() - t0;
    const tMkfs = refMs - tSkopeo - tUmoci;
    removeTree(work);

    ctx.startDaemon();
    say(`banger image pull ${ref}`);
    const first = await pullWithStages(ctx, [ref, '--name', 'bench-big', '--kernel', kernel], 'banger image pull');
    const img = JSON.parse(first.stdout);
    say(`banger image pull ${ref} again (layers from the blob cache)`);
    const again = await pullWithStages(ctx, [ref, '--name', 'bench-big-2', '--kernel', kernel], 'banger image pull (cached)');
    const rootfs = diskUsage(img.rootfsPath);

    const firstRatio = first.ms / refMs;
    const cachedRatio = again.ms / first.ms;
    return {
      title: `oci-pull (${LAYERS} gzip layers, ${fmtBytes(image.unpacked)} unpacked, ${fmtBytes(image.compressed)} compressed; one run each, reference first)`,
      header: ['measure', 'time', 'target', 'result', 'note'],
      rows: [
        { cells: ['reference total', fmtSecs(refMs), '', '', `skopeo ${fmtSecs(tSkopeo)}, umoci ${fmtSecs(tUmoci)}, mkfs.ext4 -d ${fmtSecs(tMkfs)}`], ok: true },
        { cells: ['banger image pull', fmtSecs(first.ms), `<= ${TARGET_FIRST}x reference`, passMiss(firstRatio <= TARGET_FIRST), `${firstRatio.toFixed(2)}x reference; adds guest bits, work seed, owner fixes`], ok: firstRatio <= TARGET_FIRST },
        { cells: ['banger image pull (cached)', fmtSecs(again.ms), `<= ${TARGET_CACHED}x first`, passMiss(cachedRatio <= TARGET_CACHED), `${cachedRatio.toFixed(2)}x first pull`], ok: cachedRatio <= TARGET_CACHED },
        { cells: ['  first pull stages', '', '', '', first.stages], ok: true },
        { cells: ['  cached pull stages', '', '', '', again.stages], ok: true },
        { cells: ['rootfs.ext4 on disk (du)', fmtBytes(rootfs.allocated), '', '', `apparent ${fmtBytes(rootfs.apparent)}`], ok: true },
      ],
    };
  } finally {
    await registry.stop();
  }
}
