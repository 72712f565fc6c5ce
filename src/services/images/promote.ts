/** Promotion: copy a registered image into managed storage and add the guest bits to the copy. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { injectGuestBits, GUEST_BITS_VERSION, guestBitsDigest } from '../../guest/index.js';
import type { ImageRecord } from '../../store/images.js';
import { throwIfCancelled, type OpContext } from '../op-context.js';
import { inspectKernel } from '../artifacts/kernel-file.js';
import { copySparse, copyTree } from '../artifacts/copy.js';
import { sha256File } from '../artifacts/digest.js';
import { IMAGE_CMDLINE, IMAGE_FILES, type ImageManifest } from './manifest.js';
import { makeStaging, removeTree } from '../artifacts/staging.js';
import { workSeedFromImage } from './work-seed.js';
import { faultPoint } from '../../system/faults.js';
import { publishImage } from './finish.js';

export interface PromoteOptions {
  image: ImageRecord;
  stagingRoot: string;
  destDir: string;
}

export async function promoteImage(opts: PromoteOptions, ctx: OpContext): Promise<ImageManifest> {
  const { image } = opts;
  const staging = await makeStaging(opts.stagingRoot, `promote-${image.id}`);
  const out = join(staging, 'out');
  try {
    await mkdir(out, { mode: 0o755 });
    const rootfs = join(out, IMAGE_FILES.rootfs);
    await ctx.stage('copy', `Copying ${image.rootfsPath}`, () => copySparse(image.rootfsPath, rootfs, ctx.signal));
    faultPoint('promote.copied');
    throwIfCancelled(ctx.signal);
    await ctx.stage('guest_bits', 'Adding banger guest bits', () => injectGuestBits(rootfs, ctx.signal));
    faultPoint('promote.guest_bits');
    throwIfCancelled(ctx.signal);
    await ctx.stage('work_seed', 'Making the work seed from /root', () =>
      workSeedFromImage(rootfs, join(out, IMAGE_FILES.workSeed), staging, ctx.signal),
    );
    faultPoint('promote.work_seed');
    throwIfCancelled(ctx.signal);
    const files: ImageManifest['files'] = { rootfs: IMAGE_FILES.rootfs, workSeed: IMAGE_FILES.workSeed };
    const sha256: ImageManifest['sha256'] = {};
    let kernelVersion: string | undefined;
    if (image.kernelPath) {
      await ctx.stage('kernel', 'Copying kernel files', async () => {
        const info = await inspectKernel(image.kernelPath!);
        kernelVersion = info?.version || undefined;
        files.kernel = info?.format === 'vmlinux' ? 'vmlinux' : IMAGE_FILES.kernel;
        await copySparse(image.kernelPath!, join(out, files.kernel), ctx.signal);
        sha256.kernel = await sha256File(join(out, files.kernel));
        if (image.initrdPath) {
          files.initrd = IMAGE_FILES.initrd;
          await copySparse(image.initrdPath, join(out, files.initrd), ctx.signal);
          sha256.initrd = await sha256File(join(out, files.initrd));
        }
        if (image.modulesPath) {
          files.modules = IMAGE_FILES.modules;
          await copyTree(image.modulesPath, join(out, files.modules), ctx.signal);
        }
      });
    }
    return await ctx.stage('publish', 'Publishing the image', async () => {
      const manifest: ImageManifest = {
        schema: 1,
        id: image.id,
        name: image.name,
        distro: image.distro,
        arch: image.arch,
        source: 'promote',
        kernelVersion,
        files,
        sha256,
        rootfsSizeBytes: image.sizeBytes,
        cmdline: IMAGE_CMDLINE,
        guestBits: { version: GUEST_BITS_VERSION, digest: guestBitsDigest() },
        createdAt: new Date().toISOString(),
      };
      await publishImage(out, opts.destDir, manifest);
      return manifest;
    });
  } catch (err) {
    throwIfCancelled(ctx.signal);
    throw err;
  } finally {
    await removeTree(staging).catch((err: unknown) => ctx.log(`could not remove ${staging}: ${String(err)}`, 'warn'));
  }
}
