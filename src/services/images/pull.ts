/** `image pull REF`: an OCI image from a registry, flattened to rootfs.ext4 with the guest bits, published atomically. */
import { mkdir, readdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { badRequest, operationFailed, unavailable } from '../../api/errors.js';
import { GUEST_BITS_VERSION, guestBitsDigest, injectFirstBoot } from '../../guest/index.js';
import { humanSize } from '../../model/size.js';
import { throwIfCancelled, type OpContext } from '../op-context.js';
import { sha256File } from '../artifacts/digest.js';
import { copySparse, copyTree } from '../artifacts/copy.js';
import { makeStaging, removeTree } from '../artifacts/staging.js';
import { isBangerArtifact } from './oci/artifact.js';
import type { BlobCache } from './oci/blob-cache.js';
import type { FlatCache, FlatData, FlatKey } from './oci/flat-cache.js';
import { credentialFor } from './oci/credentials.js';
import { layerCompression, type Descriptor } from './oci/media-types.js';
import { formatRef, parseRef, refTarget, type ImageRef } from './oci/reference.js';
import { RegistryClient } from './oci/registry.js';
import { DEFAULT_PLATFORM, formatPlatform, parsePlatform, resolveManifest, type ResolvedManifest } from './oci/resolve.js';
import { applyOpenedLayer, newLayerTree, treeToExt4 } from './flatten/to-ext4.js';
import { openLayerStream } from './flatten/decompress.js';
import type { LayerTree } from './flatten/layer-tree.js';
import { IMAGE_CMDLINE, IMAGE_FILES, ROOTFS_LABEL, type ImageManifest } from './manifest.js';
import { planNeeds, readOsRelease } from './image-needs.js';
import { addGuestBitsAndWorkSeed, publishImage } from './finish.js';
import { faultPoint } from '../../system/faults.js';

export interface PullSource {
  ref: ImageRef;
  client: RegistryClient;
  resolved: ResolvedManifest;
  layers: Descriptor[];
  /** The reference names a banger image artifact (restored as pushed, not flattened). */
  artifact: boolean;
}

export interface RegistryAccess {
  insecure: readonly string[];
  /** The Docker config file with credentials (default ~/.docker/config.json). */
  dockerConfig?: string;
}

/** Resolves the reference to one image manifest and its layers (nothing is downloaded). */
export async function openSource(refText: string, platformText: string | undefined, access: RegistryAccess, signal: AbortSignal): Promise<PullSource> {
  const ref = parseRef(refText);
  const platform = parsePlatform(platformText ?? DEFAULT_PLATFORM);
  const credential = await credentialFor(ref.registry, access.dockerConfig);
  const client = new RegistryClient(ref, { insecure: access.insecure, ...(credential ? { credential } : {}), signal });
  const resolved = await resolveManifest(client, refTarget(ref), platform);
  const layers = resolved.manifest.layers;
  if (isBangerArtifact(resolved.manifest)) return { ref, client, resolved, layers, artifact: true };
  for (const l of layers) {
    if (layerCompression(l.mediaType) === undefined) {
      throw operationFailed(`${formatRef(ref)} (${formatPlatform(platform)}) has a layer of media type ${l.mediaType}, which is not a filesystem layer`, 'only OCI and Docker image layers (tar, gzip, zstd) can be pulled');
    }
  }
  return { ref, client, resolved, layers, artifact: false };
}

/** Refuses to start when the filesystem holding `dir` cannot take what the pull will write. */
export async function checkFreeSpace(dir: string, needBytes: number, what: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await statfs(dir);
  const free = st.bavail * st.bsize;
  if (free < needBytes) {
    throw unavailable(
      `not enough free disk for ${what}: it needs about ${humanSize(needBytes)}, ${dir} has ${humanSize(free)} free`,
      'free some space (banger image cache prune, banger image delete) and try again',
    );
  }
}

export interface PullImageOptions {
  source: PullSource;
  cache: BlobCache;
  id: string;
  name: string;
  stagingRoot: string;
  destDir: string;
  sizeBytes?: number;
  /** Kernel files given with the pull (--kernel/--initrd/--modules), copied into the image. */
  kernelFiles?: { kernel?: string; initrd?: string; modules?: string };
  /** Finished images by manifest digest: a hit skips downloading and unpacking the layers. */
  flat?: FlatCache;
}

type KernelFiles = NonNullable<PullImageOptions['kernelFiles']>;

/** Copies --kernel/--initrd/--modules into `out`, recording them in files and sha256. */
async function copyGivenKernel(given: KernelFiles, out: string, files: ImageManifest['files'], sha256: ImageManifest['sha256'], ctx: OpContext): Promise<void> {
  await ctx.stage('kernel', `Copying kernel ${given.kernel}`, async () => {
    await copySparse(given.kernel!, join(out, IMAGE_FILES.kernel), ctx.signal);
    files.kernel = IMAGE_FILES.kernel;
    sha256.kernel = await sha256File(join(out, IMAGE_FILES.kernel));
    if (given.initrd) {
      await copySparse(given.initrd, join(out, IMAGE_FILES.initrd), ctx.signal);
      files.initrd = IMAGE_FILES.initrd;
      sha256.initrd = await sha256File(join(out, IMAGE_FILES.initrd));
    }
    if (given.modules) {
      await copyTree(given.modules, join(out, IMAGE_FILES.modules), ctx.signal);
      files.modules = IMAGE_FILES.modules;
    }
  });
}

function makeManifest(opts: PullImageOptions, data: FlatData, files: ImageManifest['files'], sha256: ImageManifest['sha256'], kernelVersion: string | undefined): ImageManifest {
  const { source } = opts;
  return {
    schema: 1,
    id: opts.id,
    name: opts.name,
    distro: data.distro,
    arch: 'x86_64',
    source: `oci:${formatRef(source.ref)}@${source.resolved.digest}`,
    ...(kernelVersion ? { kernelVersion } : {}),
    files,
    sha256,
    rootfsSizeBytes: data.rootfsSizeBytes,
    cmdline: IMAGE_CMDLINE,
    guestBits: { version: GUEST_BITS_VERSION, digest: guestBitsDigest() },
    ...(data.firstBoot ? { firstBoot: data.firstBoot } : {}),
    ...(data.initMissing !== undefined ? { initMissing: data.initMissing } : {}),
    createdAt: new Date().toISOString(),
  };
}

/** A pull served from the flattened-image cache: the entry's files are copied, nothing is unpacked. */
async function pullFromFlat(opts: PullImageOptions, hit: { dir: string; files: string[]; data: FlatData }, ctx: OpContext): Promise<PulledImage> {
  const staging = await makeStaging(opts.stagingRoot, `pull-${opts.id}`);
  const out = join(staging, 'out');
  try {
    await mkdir(out, { mode: 0o755 });
    const given = opts.kernelFiles;
    const wanted = hit.files.filter((f) => !given?.kernel || (f !== IMAGE_FILES.kernel && f !== IMAGE_FILES.initrd));
    await ctx.stage('from_cache', 'Copying the flattened image from cache (no layers unpacked)', async () => {
      for (const f of wanted) await copySparse(join(hit.dir, f), join(out, f), ctx.signal);
    });
    throwIfCancelled(ctx.signal);
    for (const w of hit.data.warnings) ctx.log(w, 'warn');
    const files: ImageManifest['files'] = { rootfs: IMAGE_FILES.rootfs, workSeed: IMAGE_FILES.workSeed };
    const sha256: ImageManifest['sha256'] = {};
    let kernelVersion: string | undefined;
    if (given?.kernel) {
      await copyGivenKernel(given, out, files, sha256, ctx);
    } else if (wanted.includes(IMAGE_FILES.kernel)) {
      files.kernel = IMAGE_FILES.kernel;
      files.initrd = IMAGE_FILES.initrd;
      Object.assign(sha256, hit.data.sha256);
      kernelVersion = hit.data.kernelVersion;
    }
    const manifest = makeManifest(opts, hit.data, files, sha256, kernelVersion);
    await ctx.stage('publish', 'Publishing the image', () => publishImage(out, opts.destDir, manifest));
    return { manifest, hasKernel: files.kernel !== undefined, warnings: hit.data.warnings };
  } catch (err) {
    throwIfCancelled(ctx.signal);
    throw err;
  } finally {
    await removeTree(staging).catch((err: unknown) => ctx.log(`could not remove ${staging}: ${String(err)}`, 'warn'));
  }
}

export interface PulledImage {
  manifest: ImageManifest;
  /** The image carried a kernel in /boot (copied next to the rootfs). */
  hasKernel: boolean;
  /** What the image lacks that banger cannot make up for (no init system, an unknown distro). */
  warnings: string[];
}

const EXPANSION = { gzip: 3, zstd: 4, none: 1 } as const;

async function missingBytes(cache: BlobCache, layers: readonly Descriptor[]): Promise<number> {
  let n = 0;
  for (const l of layers) if (!(await cache.has(l.digest))) n += l.size;
  return n;
}

function layerStageLabel(i: number, n: number, l: Descriptor): string {
  return `Layer ${i + 1}/${n} ${l.digest.slice(7, 19)} (${humanSize(l.size)})`;
}

/** Layers downloaded ahead of the one being unpacked. */
const PREFETCH = 2;

/**
 * Downloads the layers into the blob cache and unpacks each while it downloads (its bytes are read
 * from the growing partial file), the next ones downloading meanwhile. A layer counts as applied only
 * once its blob matched its digest: a mismatch fails the pull, and the caller removes the tree.
 */
async function streamLayers(opts: PullImageOptions, treeDir: string, ctx: OpContext): Promise<LayerTree> {
  const { source, cache } = opts;
  const { layers } = source;
  const lt = await newLayerTree(treeDir, ctx);
  for (const [i, l] of layers.entries()) {
    for (const next of layers.slice(i + 1, i + 1 + PREFETCH)) cache.prefetch(source.client, next);
    await ctx.stage(`layer_${i + 1}`, layerStageLabel(i, layers.length, l), async () => {
      let last = -1;
      const bytes = cache.read(source.client, l, (done, total) => {
        if (last < 0 || done === total || done - last >= 1024 * 1024) {
          last = done;
          ctx.progress(done, total, 'bytes');
        }
      }, ctx.signal);
      try {
        await applyOpenedLayer(lt, await openLayerStream(bytes, l.digest, ctx.signal), l.digest, ctx);
      } catch (err) {
        throwIfCancelled(ctx.signal);
        // Bytes that are not a valid layer may be a blob altered on the way: its digest is the verdict
        // to report then, so the rest of the download is awaited before the layer's own error is.
        bytes.destroy();
        await cache.fetch(source.client, l);
        throw err;
      }
    });
    throwIfCancelled(ctx.signal);
  }
  // Every blob matched; this waits for the last ones to be moved into the cache.
  for (const l of layers) await cache.fetch(source.client, l);
  return lt;
}

export async function pullImage(opts: PullImageOptions, ctx: OpContext): Promise<PulledImage> {
  const { source, cache } = opts;
  const { layers } = source;
  const flatKey: FlatKey = { manifestDigest: source.resolved.digest, guestBits: guestBitsDigest(), ...(opts.sizeBytes !== undefined ? { sizeBytes: opts.sizeBytes } : {}) };
  const hit = await opts.flat?.lookup(flatKey);
  if (hit) return pullFromFlat(opts, hit, ctx);
  const unpacked = layers.reduce((s, l) => s + l.size * EXPANSION[layerCompression(l.mediaType) ?? 'none'], 0);
  const missing = await missingBytes(cache, layers);
  await checkFreeSpace(cache.dir, missing, `the layers of ${formatRef(source.ref)}`);
  await checkFreeSpace(opts.stagingRoot, missing + 2 * unpacked + 64 * 1024 * 1024, `unpacking ${formatRef(source.ref)}`);

  const staging = await makeStaging(opts.stagingRoot, `pull-${opts.id}`);
  const out = join(staging, 'out');
  // The unpacked tree is removed while the last stages run (it is thousands of files); awaited before the pull returns.
  let treeRemoved: Promise<void> | undefined;
  try {
    await mkdir(out, { mode: 0o755 });
    const tree = await ctx.stage('unpack', `Downloading and unpacking ${layers.length} layer${layers.length === 1 ? '' : 's'}`, () => streamLayers(opts, join(staging, 'tree'), ctx));
    faultPoint('pull.fetched');
    throwIfCancelled(ctx.signal);
    const warnings: string[] = [];
    const os = await readOsRelease(tree);
    const needs = await planNeeds(tree, os, warnings, ctx);
    for (const w of warnings) ctx.log(w, 'warn');

    const files2: ImageManifest['files'] = { rootfs: IMAGE_FILES.rootfs, workSeed: IMAGE_FILES.workSeed };
    const sha256: ImageManifest['sha256'] = {};
    let kernelVersion: string | undefined;
    const bootNames = await readdir(join(tree.root, 'boot')).catch(() => [] as string[]);
    const version = bootNames.filter((n) => n.startsWith('vmlinuz-')).map((n) => n.slice(8)).sort().pop();
    const given = opts.kernelFiles;
    if (given?.kernel) {
      await copyGivenKernel(given, out, files2, sha256, ctx);
    } else if (version && bootNames.includes(`initrd.img-${version}`)) {
      await ctx.stage('kernel', `Copying kernel ${version} from /boot`, async () => {
        await copySparse(join(tree.root, 'boot', `vmlinuz-${version}`), join(out, IMAGE_FILES.kernel), ctx.signal);
        await copySparse(join(tree.root, 'boot', `initrd.img-${version}`), join(out, IMAGE_FILES.initrd), ctx.signal);
        files2.kernel = IMAGE_FILES.kernel;
        files2.initrd = IMAGE_FILES.initrd;
        sha256.kernel = await sha256File(join(out, IMAGE_FILES.kernel));
        sha256.initrd = await sha256File(join(out, IMAGE_FILES.initrd));
        kernelVersion = version;
      });
    }
    const rootfs = join(out, IMAGE_FILES.rootfs);
    const size = await ctx.stage('ext4', 'Making rootfs.ext4 with the layers\' owners and modes', () =>
      treeToExt4(tree, rootfs, { label: ROOTFS_LABEL, scratchDir: staging, ...(opts.sizeBytes !== undefined ? { sizeBytes: opts.sizeBytes } : {}) }, ctx),
    );
    faultPoint('pull.ext4');
    treeRemoved = removeTree(tree.root);
    // Observed at once so a failure in a later stage leaves no stray rejection; awaited below.
    treeRemoved.catch(() => undefined);
    throwIfCancelled(ctx.signal);
    await addGuestBitsAndWorkSeed(out, staging, ctx);
    const firstBoot = needs.firstBoot;
    if (firstBoot) {
      await ctx.stage('first_boot', 'Adding the first-boot installer', () => injectFirstBoot(rootfs, firstBoot.commands, ctx.signal));
      throwIfCancelled(ctx.signal);
    }
    const data: FlatData = {
      distro: os?.id ?? '',
      ...(kernelVersion ? { kernelVersion } : {}),
      sha256: kernelVersion ? { ...sha256 } : {},
      rootfsSizeBytes: size,
      warnings,
      ...needs,
    };
    if (opts.flat) {
      const keep = [IMAGE_FILES.rootfs, IMAGE_FILES.workSeed, ...(kernelVersion ? [IMAGE_FILES.kernel, IMAGE_FILES.initrd] : [])];
      await ctx.stage('cache_store', 'Keeping the flattened image for later pulls', () => opts.flat!.store(flatKey, out, keep, data, ctx.signal)).catch((err: unknown) => {
        throwIfCancelled(ctx.signal);
        ctx.log(`could not keep the flattened image in the cache: ${(err as Error).message}`, 'warn');
      });
    }
    const manifest = makeManifest(opts, data, files2, sha256, kernelVersion);
    await ctx.stage('publish', 'Publishing the image', async () => {
      await publishImage(out, opts.destDir, manifest);
    });
    return { manifest, hasKernel: files2.kernel !== undefined, warnings };
  } catch (err) {
    throwIfCancelled(ctx.signal);
    throw err;
  } finally {
    await treeRemoved?.catch((err: unknown) => ctx.log(`could not remove the unpacked tree: ${String(err)}`, 'warn'));
    await removeTree(staging).catch((err: unknown) => ctx.log(`could not remove ${staging}: ${String(err)}`, 'warn'));
  }
}

/** Checks --size before anything is downloaded. */
export function checkPullSize(sizeBytes: number | undefined): void {
  if (sizeBytes !== undefined && sizeBytes < 64 * 1024 * 1024) throw badRequest('--size must be at least 64MiB', 'e.g. --size 2G');
}
