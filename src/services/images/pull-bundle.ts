/** `image pull NAME` for an image catalog bundle: downloaded and verified, unpacked, given the guest bits, published. */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { operationFailed } from '../../api/errors.js';
import { GUEST_BITS_VERSION, guestBitsDigest } from '../../guest/index.js';
import { humanSize } from '../../model/size.js';
import { throwIfCancelled, type OpContext } from '../op-context.js';
import type { BundleSource } from '../artifacts/catalog/catalog.js';
import { extractBundle } from '../artifacts/catalog/bundle.js';
import { downloadVerified } from '../artifacts/catalog/download.js';
import { sha256File } from '../artifacts/digest.js';
import { inspectKernel } from '../artifacts/kernel-file.js';
import { makeStaging, removeTree } from '../artifacts/staging.js';
import { IMAGE_CMDLINE, IMAGE_FILES, type ImageManifest } from './manifest.js';
import { checkFreeSpace } from './pull.js';
import { addGuestBitsAndWorkSeed, publishImage } from './finish.js';

/** What an image bundle may hold: the rootfs, and optionally a kernel and initrd. */
export const IMAGE_BUNDLE = { files: [IMAGE_FILES.rootfs, IMAGE_FILES.kernel, IMAGE_FILES.initrd] } as const;

export interface BundlePullOptions {
  entryName: string;
  source: BundleSource;
  distro: string;
  id: string;
  name: string;
  stagingRoot: string;
  destDir: string;
  /** The entry names a kernel, so a bundle without one is fine. */
  kernelElsewhere: boolean;
}

export async function pullBundleImage(opts: BundlePullOptions, ctx: OpContext): Promise<ImageManifest> {
  const src = opts.source;
  await checkFreeSpace(opts.stagingRoot, src.size * 4 + 64 * 1024 * 1024, `image ${opts.entryName}`);
  const staging = await makeStaging(opts.stagingRoot, `bundle-${opts.id}`);
  const out = join(staging, 'out');
  try {
    await mkdir(out, { mode: 0o755 });
    const file = join(staging, 'bundle.tar.zst');
    await ctx.stage('download', `Downloading ${opts.entryName} (${humanSize(src.size)})`, () => downloadVerified(src, file, `image ${opts.entryName}`, ctx));
    throwIfCancelled(ctx.signal);
    const what = `the bundle of image ${opts.entryName}`;
    const roots = await ctx.stage('extract', `Unpacking ${opts.entryName}`, () => extractBundle(file, out, IMAGE_BUNDLE, what, ctx.signal));
    await removeTree(file);
    const fix = 'the catalog entry is broken; tell whoever publishes the catalog';
    if (!roots.has(IMAGE_FILES.rootfs)) throw operationFailed(`${what} holds no ${IMAGE_FILES.rootfs}`, fix);
    if (!roots.has(IMAGE_FILES.kernel) && !opts.kernelElsewhere) throw operationFailed(`${what} holds no ${IMAGE_FILES.kernel} and the entry names no kernel`, fix);
    if (roots.has(IMAGE_FILES.initrd) && !roots.has(IMAGE_FILES.kernel)) throw operationFailed(`${what} holds an initrd without a kernel`, fix);
    const files: ImageManifest['files'] = { rootfs: IMAGE_FILES.rootfs, workSeed: IMAGE_FILES.workSeed };
    const sha256: ImageManifest['sha256'] = {};
    let kernelVersion: string | undefined;
    if (roots.has(IMAGE_FILES.kernel)) {
      const info = await inspectKernel(join(out, IMAGE_FILES.kernel));
      if (!info) throw operationFailed(`${IMAGE_FILES.kernel} in ${what} is not a Linux kernel`, fix);
      kernelVersion = info.version || undefined;
      files.kernel = IMAGE_FILES.kernel;
      sha256.kernel = await sha256File(join(out, IMAGE_FILES.kernel));
      if (roots.has(IMAGE_FILES.initrd)) {
        files.initrd = IMAGE_FILES.initrd;
        sha256.initrd = await sha256File(join(out, IMAGE_FILES.initrd));
      }
    }
    const rootfs = await addGuestBitsAndWorkSeed(out, staging, ctx);
    const manifest: ImageManifest = {
      schema: 1,
      id: opts.id,
      name: opts.name,
      distro: opts.distro,
      arch: 'x86_64',
      source: `catalog:${opts.entryName}`,
      ...(kernelVersion ? { kernelVersion } : {}),
      files,
      sha256,
      rootfsSizeBytes: (await stat(rootfs)).size,
      cmdline: IMAGE_CMDLINE,
      guestBits: { version: GUEST_BITS_VERSION, digest: guestBitsDigest() },
      createdAt: new Date().toISOString(),
    };
    await ctx.stage('publish', 'Publishing the image', async () => {
      await publishImage(out, opts.destDir, manifest);
    });
    return manifest;
  } catch (err) {
    throwIfCancelled(ctx.signal);
    throw err;
  } finally {
    await removeTree(staging).catch((err: unknown) => ctx.log(`could not remove ${staging}: ${String(err)}`, 'warn'));
  }
}
