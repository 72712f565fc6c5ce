/**
 * oci-layer-rss: the daemon's resident memory while `banger image pull` imports one 1 GiB layer
 * (download, digest check, tar unpack, ext4): a streaming importer holds no layer in memory.
 * Target: VmRSS growth <= 100 MB over the daemon's RSS before the pull.
 *
 * oci-pull: `banger image pull` of a multi-layer image (>= 200 MB unpacked, gzip layers) from Debian's
 * docker-registry on 127.0.0.1, against `skopeo copy` + `umoci unpack --rootless` + `mkfs.ext4 -d` of
 * the same image in the same run; then the same pull again, its layers coming from the blob cache.
 * Targets: first pull <= 0.8x the reference; the cached pull <= 0.3x the first.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { check, diskUsage, fmtBytes, fmtSecs, GiB, MiB, passMiss, readStatusKb, removeTree, runAsync, say } from './util.mjs';

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
        // Layer stages (each downloads and unpacks one layer) run inside the unpack stage.
        const group = String(ev.stage).startsWith('layer_') ? 'layers' : ev.stage;
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

const BIG_LAYER_BYTES = 1 * GiB;
const BIG_LAYER_FILES = 16;
const RSS_GROWTH_TARGET_MB = 100;

/** Writes a plain tar layer of BIG_LAYER_FILES random files (BIG_LAYER_BYTES in all) to `path`, never holding it in memory; returns its digest and size. */
async function writeBigLayer(path) {
  const pack = tarStream.pack();
  const hash = createHash('sha256');
  let size = 0;
  const written = pipeline(
    pack,
    async function* (source) {
      for await (const chunk of source) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(path),
  );
  const per = BIG_LAYER_BYTES / BIG_LAYER_FILES;
  for (let f = 0; f < BIG_LAYER_FILES; f++) {
    await new Promise((resolve, reject) => {
      const entry = pack.entry({ name: `data/part${f}.bin`, size: per, mode: 0o640, uid: 1000, gid: 1000 }, (err) => (err ? reject(err) : resolve()));
      const chunk = randomBytes(4 * MiB);
      let left = per;
      const more = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!entry.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return entry.once('drain', more);
        }
        entry.end();
      };
      more();
    });
  }
  pack.finalize();
  await written;
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

export async function benchOciLayerRss(ctx) {
  for (const tool of ['docker-registry', 'mkfs.ext4', 'debugfs']) {
    const r = await runAsync(ctx, ['sh', '-c', `command -v ${tool}`]);
    if (r.code !== 0) throw new Error(`oci-layer-rss needs ${tool} (scripts/install-deps.sh --test)`);
  }
  const reg = await load(ctx, 'testing/oci-registry.js');
  const { RegistryClient } = await load(ctx, 'services/images/oci/registry.js');
  const { writeFakeBzImage } = await load(ctx, 'services/kernels/fixtures.js');
  const registry = await reg.startRegistry();
  const layerPath = join(ctx.home, 'bench-layer.tar');
  try {
    say(`writing a ${fmtBytes(BIG_LAYER_BYTES)} layer and pushing it to ${registry.host}`);
    const layer = await writeBigLayer(layerPath);
    const client = new RegistryClient({ registry: registry.host, repository: 'bench/onelayer' });
    await client.putBlob(layer.digest, layer.size, () => Readable.toWeb(createReadStream(layerPath)));
    rmSync(layerPath, { force: true });
    const config = reg.blobOf(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] }, config: {} })), 'application/vnd.oci.image.config.v1+json');
    await client.putBlob(config.digest, config.size, () => new Uint8Array(config.data));
    const mediaType = 'application/vnd.oci.image.manifest.v1+json';
    await client.putManifest('v1', mediaType, Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size }],
    })));
    const kernel = join(ctx.home, 'bench-vmlinuz');
    await writeFakeBzImage(kernel, '6.1.0-bench');

    const pid = ctx.startDaemon();
    const before = readStatusKb(pid, 'VmRSS');
    if (before === undefined) throw new Error(`no VmRSS for pid ${pid}`);
    let peak = before;
    const sampler = setInterval(() => {
      const kb = readStatusKb(pid, 'VmRSS');
      if (kb !== undefined && kb > peak) peak = kb;
    }, 100);
    const ref = `${registry.host}/bench/onelayer:v1`;
    say(`banger image pull ${ref} (one ${fmtBytes(layer.size)} layer), sampling the daemon's VmRSS every 100 ms`);
    let pulled;
    try {
      pulled = await pullWithStages(ctx, [ref, '--name', 'bench-onelayer', '--kernel', kernel], 'banger image pull (1 GiB layer)');
    } finally {
      clearInterval(sampler);
    }
    const growthMb = (peak - before) / 1024;
    const ok = growthMb <= RSS_GROWTH_TARGET_MB;
    return {
      title: `oci-layer-rss (one plain tar layer of ${fmtBytes(layer.size)}, ${BIG_LAYER_FILES} random files; daemon pid ${pid})`,
      header: ['measure', 'value', 'target', 'result', 'note'],
      rows: [
        { cells: ['VmRSS growth during the pull', `${growthMb.toFixed(1)} MB`, `<= ${RSS_GROWTH_TARGET_MB} MB`, passMiss(ok), `${(before / 1024).toFixed(1)} MB before, ${(peak / 1024).toFixed(1)} MB peak`], ok },
        { cells: ['pull time', fmtSecs(pulled.ms), '', '', pulled.stages], ok: true },
      ],
    };
  } finally {
    rmSync(layerPath, { force: true });
    await registry.stop();
  }
}
