/** The last steps shared by every way an image is made: guest bits and work seed, then publishing with its manifest. */
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { injectGuestBits } from '../../guest/index.js';
import { throwIfCancelled, type OpContext } from '../op-context.js';
import { publishDir } from '../artifacts/staging.js';
import { IMAGE_FILES, writeManifest, type ImageManifest } from './manifest.js';
import { workSeedFromImage } from './work-seed.js';

/** Adds banger's guest bits to `out`'s rootfs, then makes the work seed from its /root; returns the rootfs path. */
export async function addGuestBitsAndWorkSeed(out: string, staging: string, ctx: OpContext): Promise<string> {
  const rootfs = join(out, IMAGE_FILES.rootfs);
  await ctx.stage('guest_bits', 'Adding banger guest bits', () => injectGuestBits(rootfs, ctx.signal));
  throwIfCancelled(ctx.signal);
  await ctx.stage('work_seed', 'Making the work seed from /root', () => workSeedFromImage(rootfs, join(out, IMAGE_FILES.workSeed), staging, ctx.signal));
  throwIfCancelled(ctx.signal);
  return rootfs;
}

/** Gives the image's files their modes (the modules tree 0755, files 0644), writes the manifest and moves `out` to `destDir`. */
export async function publishImage(out: string, destDir: string, manifest: ImageManifest): Promise<void> {
  for (const f of Object.values(manifest.files)) await chmod(join(out, f), f === IMAGE_FILES.modules ? 0o755 : 0o644);
  await writeManifest(out, manifest);
  await publishDir(out, destDir);
}
