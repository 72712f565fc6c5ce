/** Builds the services the routes use, and starts/stops them with the daemon. */
import { cpus, totalmem } from 'node:os';
import type { ImageInfo } from '../api/types.js';
import { ImageService } from '../services/images/image-service.js';
import { clearStaging } from '../services/images/staging.js';
import { KernelService } from '../services/kernels/kernel-service.js';
import type { OpContext } from '../services/op-context.js';
import type { ImageResolver, VMServiceDeps } from '../services/vms/deps.js';
import { UserModeNetwork } from '../services/vms/network.js';
import { reconcile } from '../services/vms/reconcile.js';
import { VMService } from '../services/vms/vm-service.js';
import { SettingsRepo } from '../store/settings.js';
import { VMRepo } from '../store/vms.js';
import type { DaemonContext } from './context.js';
import { HypervisorChoice } from './hypervisor-choice.js';

export interface Services {
  vms: VMService;
  images: ImageService;
  kernels: KernelService;
  hypervisor: HypervisorChoice;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Images as VMs need them: the kernel of an image that names a stored kernel is resolved to its files. */
function imageResolver(images: ImageService, kernels: KernelService, defaultName: string): ImageResolver {
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

export function createServices(ctx: DaemonContext): Services {
  const { db, layout, logger } = ctx;
  const config = ctx.loaded.config;
  const settings = new SettingsRepo(db);
  const images = new ImageService({ db, layout, config, logger: logger.child({ svc: 'images' }) });
  const kernels = new KernelService({ db, layout, logger: logger.child({ svc: 'kernels' }) });
  const hypervisor = new HypervisorChoice(config, settings, logger.child({ svc: 'hypervisor' }));
  const vmDeps: VMServiceDeps = {
    repo: new VMRepo(db),
    layout,
    config,
    logger: logger.child({ svc: 'vms' }),
    images: imageResolver(images, kernels, config.default_image_name),
    driver: () => hypervisor.driver(),
    accelNotice: async () => {
      const v = await hypervisor.verdict();
      return v.accel === 'tcg' ? `KVM is not usable here (${v.reason}); using TCG emulation, which is slow` : undefined;
    },
    network: new UserModeNetwork(),
    host: { cpus: cpus().length, memoryBytes: totalmem() },
  };
  const vms = new VMService(vmDeps);
  return {
    vms,
    images,
    kernels,
    hypervisor,
    async start() {
      await clearStaging(layout.stagingDir).catch((err: unknown) => logger.warn('could not clear staging', { error: err }));
      try {
        logger.info('reconciled', { ...(await reconcile(vmDeps)) });
      } catch (err) {
        logger.error('reconcile failed; serving anyway', { error: err });
      }
    },
    stop: () => Promise.resolve(),
  };
}
