/**
 * Images as VMs need them: found by name or id, and pulled when missing (`vm create` / `vm run
 * --image X`): from the image catalog, then as an OCI reference, then built from a local recipe. A
 * miss says everywhere it looked. The kernel of an image that names a stored kernel is resolved to
 * its files.
 *
 * @module
 */
import { notFound } from '../api/errors.js';
import type { ImageInfo } from '../api/types.js';
import { isCatalogName, type ImageService } from './images/image-service.js';
import { defaultImageName, parseRef } from './images/oci/reference.js';
import type { KernelService } from './kernels/kernel-service.js';
import { throwIfCancelled, type OpContext } from './op-context.js';
import type { ImageResolver } from './vms/deps.js';

export function imageResolver(images: ImageService, kernels: KernelService, _defaultName: string): ImageResolver {
  const withKernel = (img: ImageInfo): ImageInfo => {
    if (img.kernelPath || !img.kernelRef) return img;
    const k = kernels.find(img.kernelRef);
    if (!k) return img;
    return { ...img, kernelPath: k.kernelPath, ...(k.initrdPath ? { initrdPath: k.initrdPath } : {}) };
  };
  return {
    async resolveForVM(nameOrId: string, ctx: OpContext): Promise<ImageInfo> {
      const found = images.find(nameOrId);
      if (found) return withKernel(found);
      const local = images.list().map((i) => i.name);
      const looked = [`local images (${local.length > 0 ? local.join(', ') : 'none'})`];
      if (isCatalogName(nameOrId)) {
        try {
          const entry = await images.catalogEntry(nameOrId, ctx.signal);
          if (entry) {
            ctx.log(`image ${nameOrId} is not here; ${entry.source.kind === 'recipe' ? `building it from recipe ${entry.source.recipe} (a minute or two, once)` : `pulling it from the image catalog (${entry.source.kind})`}`);
            return withKernel(await images.pullIfMissing(nameOrId, ctx));
          }
          looked.push(`the image catalog (${(await images.catalogs.images(ctx.signal)).origin}: no entry ${nameOrId})`);
        } catch (err) {
          throwIfCancelled(ctx.signal);
          looked.push(`the image catalog (could not be read: ${(err as Error).message})`);
        }
        looked.push('OCI registries (not tried for a bare name: give a reference such as docker.io/library/NAME:TAG)');
      } else {
        let derived: string | undefined;
        try {
          derived = defaultImageName(parseRef(nameOrId));
        } catch (err) {
          looked.push(`OCI registries (${(err as Error).message})`);
        }
        if (derived) {
          const pulled = images.find(derived);
          if (pulled) return withKernel(pulled);
          ctx.log(`image ${nameOrId} is not here; pulling it as OCI image ${derived}`);
          return withKernel(await images.pullIfMissing(nameOrId, ctx));
        }
      }
      const recipes = images.recipes().map((r) => r.name);
      if (recipes.includes(nameOrId)) {
        ctx.log(`image ${nameOrId} is not built yet; building it now (a minute or two, once)`);
        return withKernel(await images.ensureDefault(nameOrId, ctx));
      }
      looked.push(`local recipes (${recipes.join(', ') || 'none'})`);
      throw notFound(`image ${JSON.stringify(nameOrId)} not found; looked in ${looked.join('; ')}`, 'banger image list --available shows the catalog; banger image pull REF pulls an OCI image');
    },
    byId(id: string): ImageInfo | undefined {
      const img = images.find(id);
      return img && withKernel(img);
    },
  };
}
