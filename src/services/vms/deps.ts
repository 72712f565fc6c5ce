/** What the VM service needs from the rest of the daemon, handed over by the composition root. */
import type { ImageInfo } from '../../api/types.js';
import type { Config } from '../../config/schema.js';
import type { Layout } from '../../config/paths.js';
import type { Logger } from '../../system/logger.js';
import type { VMRepo } from '../../store/vms.js';
import type { SnapshotRepo } from '../../store/snapshots.js';
import type { Hypervisors } from '../hypervisors.js';
import type { NetworkProvider } from '../network/provider.js';
import type { OpContext } from '../op-context.js';
import type { HostFacts } from './spec.js';

export interface ImageResolver {
  /** Finds an image by name or id, building the default image when it is missing. */
  resolveForVM(nameOrId: string, ctx: OpContext): Promise<ImageInfo>;
  byId(id: string): ImageInfo | undefined;
}

export interface VMServiceDeps {
  repo: VMRepo;
  snapshots: SnapshotRepo;
  layout: Layout;
  config: Config;
  logger: Logger;
  images: ImageResolver;
  hypervisors: Pick<Hypervisors, 'driver' | 'checkName' | 'forHandle' | 'all' | 'accelNotice'>;
  network: NetworkProvider;
  host: HostFacts;
}
