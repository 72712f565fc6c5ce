/**
 * Images as VMs need them: found by name or id, built when the missing one has a local recipe (the
 * default image the first time), and with the kernel of an image that names a stored kernel
 * resolved to its files.
 *
 * @module
 */
import type { ImageInfo } from '../api/types.js';
import type { ImageService } from './images/image-service.js';
import type { KernelService } from './kernels/kernel-service.js';
import type { OpContext } from './op-context.js';
import type { ImageResolver } from './vms/deps.js';

export function imageResolver(images: ImageService, kernels: KernelService, defaultName: string): ImageResolver {
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
      if (nameOrId === defaultName || images.recipes().some((r) => r.name === nameOrId)) {
        ctx.log(`image ${nameOrId} is not built yet; building it now (a minute or two, once)`);
        return withKernel(await images.ensureDefault(nameOrId, ctx));
      }
      return images.get(nameOrId);
    },
    byId(id: string): ImageInfo | undefined {
      const img = images.find(id);
      return img && withKernel(img);
    },
  };
}
