/** `image pull REF` of a banger image artifact: the pushed files restored as they were, published atomically. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { badRequest } from '../../api/errors.js';
import { throwIfCancelled, type OpContext } from '../op-context.js';
import { makeStaging, removeTree } from '../artifacts/staging.js';
import { type ImageManifest } from './manifest.js';
import { restoreArtifact } from './oci/artifact.js';
import { formatRef } from './oci/reference.js';
import { checkFreeSpace, type PulledImage, type PullImageOptions } from './pull.js';
import { publishImage } from './finish.js';

/** Refuses the pull options that only make sense when flattening a container image. */
export function checkArtifactPull(opts: PullImageOptions): void {
  const ref = formatRef(opts.source.ref);
  if (opts.sizeBytes !== undefined) throw badRequest(`${ref} is a banger image artifact: its rootfs is restored as pushed, so --size does not apply`, 'pull it without --size');
  const k = opts.kernelFiles;
  if (k?.kernel || k?.initrd || k?.modules) throw badRequest(`${ref} is a banger image artifact: --kernel/--initrd/--modules do not apply`, 'pull it without them (use --kernel-ref if it carries no kernel)');
}

export async function pullArtifact(opts: PullImageOptions, ctx: OpContext): Promise<PulledImage> {
  checkArtifactPull(opts);
  const { source } = opts;
  const where = `${formatRef(source.ref)}@${source.resolved.digest}`;
  const staging = await makeStaging(opts.stagingRoot, `pull-${opts.id}`);
  const out = join(staging, 'out');
  try {
    await mkdir(out, { mode: 0o755 });
    const restored = await restoreArtifact(
      {
        client: source.client,
        cache: opts.cache,
        doc: source.resolved.manifest,
        where,
        out,
        checkSpace: async (bytes) => {
          const blobs = source.layers.reduce((s, l) => s + l.size, 0);
          await checkFreeSpace(opts.cache.dir, blobs, `the blobs of ${where}`);
          await checkFreeSpace(opts.stagingRoot, bytes, `restoring ${where}`);
        },
      },
      ctx,
    );
    throwIfCancelled(ctx.signal);
    const manifest: ImageManifest = {
      ...restored.manifest,
      id: opts.id,
      name: opts.name,
      source: `oci:${where}`,
      createdAt: new Date().toISOString(),
    };
    await ctx.stage('publish', 'Publishing the image', async () => {
      await publishImage(out, opts.destDir, manifest);
    });
    return { manifest, hasKernel: manifest.files.kernel !== undefined, warnings: [] };
  } catch (err) {
    throwIfCancelled(ctx.signal);
    throw err;
  } finally {
    await removeTree(staging).catch((err: unknown) => ctx.log(`could not remove ${staging}: ${String(err)}`, 'warn'));
  }
}
