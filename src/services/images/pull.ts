/** `image pull REF`: an OCI image from a registry, flattened to rootfs.ext4 with the guest bits, published atomically. */
import { lstat, mkdir, readdir, readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { badRequest, operationFailed, unavailable } from '../../api/errors.js';
import { GUEST_BITS_VERSION, guestBitsDigest } from '../../guest/index.js';
import { humanSize } from '../../model/size.js';
import { throwIfCancelled, type OpContext } from '../op-context.js';
import { sha256File } from '../artifacts/digest.js';
import { copySparse, copyTree } from '../artifacts/copy.js';
import { makeStaging, removeTree } from '../artifacts/staging.js';
import { isBangerArtifact } from './oci/artifact.js';
import type { BlobCache } from './oci/blob-cache.js';
import { credentialFor } from './oci/credentials.js';
import { layerCompression, type Descriptor } from './oci/media-types.js';
import { formatRef, parseRef, refTarget, type ImageRef } from './oci/reference.js';
import { RegistryClient } from './oci/registry.js';
import { DEFAULT_PLATFORM, formatPlatform, parsePlatform, resolveManifest, type ResolvedManifest } from './oci/resolve.js';
import type { LayerTree } from './flatten/layer-tree.js';
import { treeToExt4, unpackLayers } from './flatten/to-ext4.js';
import { IMAGE_CMDLINE, IMAGE_FILES, ROOTFS_LABEL, type ImageManifest } from './manifest.js';
import { describePlan, installPlan, osReleaseOf, type OsRelease } from './sshd-plan.js';
import { addGuestBitsAndWorkSeed, publishImage } from './finish.js';
import { faultPoint } from '../../system/faults.js';

/** The unpacked image's os-release, read only from regular files inside the tree (never through a link). */
async function readOsRelease(tree: LayerTree): Promise<OsRelease | undefined> {
  for (const p of ['/etc/os-release', '/usr/lib/os-release']) {
    const parents = p.split('/').slice(1, -1).map((_, i, a) => `/${a.slice(0, i + 1).join('/')}`);
    if (tree.meta.get(p)?.type !== 'file' || parents.some((d) => tree.meta.get(d)?.type !== 'dir')) continue;
    const st = await lstat(join(tree.root, p)).catch(() => undefined);
    if (!st?.isFile() || st.size > 64 * 1024) continue;
    return osReleaseOf(await readFile(join(tree.root, p), 'utf8'));
  }
  return undefined;
}

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
}

export interface PulledImage {
  manifest: ImageManifest;
  /** The image carried a kernel in /boot (copied next to the rootfs). */
  hasKernel: boolean;
  /** The image has no systemd or sshd: VMs from it will not become ready. */
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

export async function pullImage(opts: PullImageOptions, ctx: OpContext): Promise<PulledImage> {
  const { source, cache } = opts;
  const { layers } = source;
  const unpacked = layers.reduce((s, l) => s + l.size * EXPANSION[layerCompression(l.mediaType) ?? 'none'], 0);
  const missing = await missingBytes(cache, layers);
  await checkFreeSpace(cache.dir, missing, `the layers of ${formatRef(source.ref)}`);
  await checkFreeSpace(opts.stagingRoot, missing + 2 * unpacked + 64 * 1024 * 1024, `unpacking ${formatRef(source.ref)}`);

  const files: { path: string; label: string }[] = [];
  for (const [i, l] of layers.entries()) {
    const path = await ctx.stage(`layer_${i + 1}`, layerStageLabel(i, layers.length, l), () => {
      let last = -1;
      return cache.fetch(source.client, l, (done, total) => {
        if (last < 0 || done === total || done - last >= 1024 * 1024) {
          last = done;
          ctx.progress(done, total, 'bytes');
        }
      });
    });
    files.push({ path, label: l.digest });
    throwIfCancelled(ctx.signal);
  }
  faultPoint('pull.fetched');

  const staging = await makeStaging(opts.stagingRoot, `pull-${opts.id}`);
  const out = join(staging, 'out');
  try {
    await mkdir(out, { mode: 0o755 });
    const tree = await ctx.stage('unpack', `Unpacking ${layers.length} layer${layers.length === 1 ? '' : 's'}`, () => unpackLayers(files, join(staging, 'tree'), ctx));
    throwIfCancelled(ctx.signal);
    const warnings: string[] = [];
    const has = (...paths: string[]) => paths.some((p) => tree.meta.has(p));
    const needs = { init: !has('/sbin/init', '/lib/systemd/systemd', '/usr/lib/systemd/systemd'), sshd: !has('/usr/sbin/sshd', '/sbin/sshd') };
    if (needs.init) warnings.push('the image has no init system (systemd): VMs from it will not boot to a shell');
    if (needs.sshd) warnings.push('the image has no openssh-server: VMs from it will not become ready');
    const os = await readOsRelease(tree);
    if (needs.init || needs.sshd) {
      try {
        const plan = installPlan(os, needs);
        warnings.push(`banger would install ${plan.packages.join(' ')} with ${plan.manager} (${describePlan(plan)}), which needs egress to the distro's mirror; running that at first boot is not available yet, so add them to the image`);
      } catch (err) {
        warnings.push((err as Error).message);
      }
    }
    for (const w of warnings) ctx.log(w, 'warn');

    const files2: ImageManifest['files'] = { rootfs: IMAGE_FILES.rootfs, workSeed: IMAGE_FILES.workSeed };
    const sha256: ImageManifest['sha256'] = {};
    let kernelVersion: string | undefined;
    const bootNames = await readdir(join(tree.root, 'boot')).catch(() => [] as string[]);
    const version = bootNames.filter((n) => n.startsWith('vmlinuz-')).map((n) => n.slice(8)).sort().pop();
    const given = opts.kernelFiles;
    if (given?.kernel) {
      await ctx.stage('kernel', `Copying kernel ${given.kernel}`, async () => {
        await copySparse(given.kernel!, join(out, IMAGE_FILES.kernel), ctx.signal);
        files2.kernel = IMAGE_FILES.kernel;
        sha256.kernel = await sha256File(join(out, IMAGE_FILES.kernel));
        if (given.initrd) {
          await copySparse(given.initrd, join(out, IMAGE_FILES.initrd), ctx.signal);
          files2.initrd = IMAGE_FILES.initrd;
          sha256.initrd = await sha256File(join(out, IMAGE_FILES.initrd));
        }
        if (given.modules) {
          await copyTree(given.modules, join(out, IMAGE_FILES.modules), ctx.signal);
          files2.modules = IMAGE_FILES.modules;
        }
      });
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
    await removeTree(tree.root);
    throwIfCancelled(ctx.signal);
    await addGuestBitsAndWorkSeed(out, staging, ctx);
    const manifest: ImageManifest = {
      schema: 1,
      id: opts.id,
      name: opts.name,
      distro: os?.id ?? '',
      arch: 'x86_64',
      source: `oci:${formatRef(source.ref)}@${source.resolved.digest}`,
      ...(kernelVersion ? { kernelVersion } : {}),
      files: files2,
      sha256,
      rootfsSizeBytes: size,
      cmdline: IMAGE_CMDLINE,
      guestBits: { version: GUEST_BITS_VERSION, digest: guestBitsDigest() },
      createdAt: new Date().toISOString(),
    };
    await ctx.stage('publish', 'Publishing the image', async () => {
      await publishImage(out, opts.destDir, manifest);
    });
    return { manifest, hasKernel: files2.kernel !== undefined, warnings };
  } catch (err) {
    throwIfCancelled(ctx.signal);
    throw err;
  } finally {
    await removeTree(staging).catch((err: unknown) => ctx.log(`could not remove ${staging}: ${String(err)}`, 'warn'));
  }
}

/** Checks --size before anything is downloaded. */
export function checkPullSize(sizeBytes: number | undefined): void {
  if (sizeBytes !== undefined && sizeBytes < 64 * 1024 * 1024) throw badRequest('--size must be at least 64MiB', 'e.g. --size 2G');
}
