/**
 * The composition root: builds every service from the store, the layout, the config and a logger,
 * and starts and stops them with the daemon. The daemon's routes use what this returns.
 *
 * @module
 */
import type { Database } from 'better-sqlite3';
import { cpus, totalmem } from 'node:os';
import type { Config } from '../config/schema.js';
import type { Layout } from '../config/paths.js';
import type { Logger } from '../system/logger.js';
import { fakeDriverEnabled, knobsFromEnv } from '../drivers/fake/index.js';
import { DriverRegistry, type DriverEntry, fakeEntry, firecrackerEntry, qemuEntry } from '../drivers/registry.js';
import { join } from 'node:path';
import { LeaseRepo } from '../store/leases.js';
import { SettingsRepo } from '../store/settings.js';
import { SnapshotRepo } from '../store/snapshots.js';
import { SessionRepo } from '../store/sessions.js';
import { Hypervisors } from './hypervisors.js';
import { ImageService } from './images/image-service.js';
import { clearStaging } from './artifacts/staging.js';
import { clearBuildScratch } from './images/build-scratch.js';
import { sweepArtifacts } from './artifacts/sweep.js';
import { KernelService } from './kernels/kernel-service.js';
import { DnsService } from './dns/dns-service.js';
import { vmFiles } from '../model/filenames.js';
import { UserModeNetwork } from './network/user-mode.js';
import { EgressProxy } from './network/egress-proxy.js';
import { BridgeNetwork, HOST_NET } from './network/bridge.js';
import { helperHostNet } from './network/helper-host-net.js';
import { HelperClient } from '../system/root-helper/client.js';
import { SelectedNetwork } from './network/select.js';
import { upstreamFrom } from './dns/guest.js';
import { imageResolver } from './vm-images.js';
import { Catalogs } from './artifacts/catalog/load.js';
import type { VMServiceDeps } from './vms/deps.js';
import { VMService } from './vms/vm-service.js';
import { GuestSessions } from './vms/sessions.js';
import { resolveVM } from './vms/lookup.js';
import { VMChanges } from './vms/changes.js';
import { VMRepo } from '../store/vms.js';

export interface ServiceOptions {
  db: Database;
  layout: Layout;
  config: Config;
  logger: Logger;
  /** Driver entries to register instead of the built-in ones (tests). */
  drivers?: readonly DriverEntry[];
  env?: NodeJS.ProcessEnv;
  /** banger's root helper: bridge mode's privileged host operations go through it (system mode, daemon not root). */
  helperSocket?: string;
}

export interface Services {
  vms: VMService;
  /** Long-running commands in guests (vm session ...). */
  sessions: GuestSessions;
  images: ImageService;
  kernels: KernelService;
  hypervisor: Hypervisors;
  /** Every change to a VM's row (state, spec, runtime, creation, deletion), for live views. */
  vmChanges: VMChanges;
  /** The `<name>.vm` DNS server (listening from start() when dns_listen_addr is set; for guests on the bridge address in bridge mode). */
  dns: DnsService;
  /** The root helper bridge mode goes through, when the daemon is configured with one. */
  rootHelper?: HelperClient;
  /** Reconciles VMs with reality; resolves once the daemon may serve (resumed work may still run). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves when work that start() resumed in the background has finished. */
  settled(): Promise<void>;
}

/**
 * QEMU and firecracker always (firecracker only passes its probe with its binary, KVM and tap
 * networking); the fake driver too when BANGER_FAKE_DRIVER asks for it (tests), and then `auto` picks it.
 */
export function builtinDrivers(opts: { config: Config; logger: Logger; env?: NodeJS.ProcessEnv; stateDir?: string; tapNetworking?: boolean }): DriverEntry[] {
  const c = opts.config;
  const entries = [
    qemuEntry({ qemuBin: c.qemu_bin, log: (m, f) => opts.logger.info(m, f) }),
    firecrackerEntry({
      bin: c.firecracker_bin,
      tapNetworking: opts.tapNetworking ?? false,
      jailer: {
        enabled: c.jailer_enabled,
        bin: c.jailer_bin,
        chrootBase: c.jailer_chroot_base || join(opts.stateDir ?? '/var/lib/banger', 'jail'),
        uid: c.jailer_uid || (process.getuid?.() ?? 0),
        gid: c.jailer_gid || (process.getgid?.() ?? 0),
      },
      log: (m, f) => opts.logger.info(m, f),
    }),
  ];
  if (opts.env && fakeDriverEnabled(opts.env)) entries.push(fakeEntry(knobsFromEnv(opts.env)));
  return entries;
}

export function createServices(opts: ServiceOptions): Services {
  const { db, layout, config, logger } = opts;
  const settings = new SettingsRepo(db);
  const catalogs = new Catalogs({ images: config.image_catalog_url, kernels: config.kernel_catalog_url });
  const kernels = new KernelService({ db, layout, catalogs, logger: logger.child({ svc: 'kernels' }) });
  const images = new ImageService({
    db,
    layout,
    config,
    catalogs,
    defaultKernel: (ctx) => kernels.ensureDefault(ctx),
    pullKernel: (name, ctx) => kernels.find(name) ?? kernels.pull(name, false, ctx),
    logger: logger.child({ svc: 'images' }),
  });
  const leases = new LeaseRepo(db);
  const rootHelper = opts.helperSocket ? new HelperClient(opts.helperSocket) : undefined;
  const egressLog = logger.child({ svc: 'egress' });
  const egressProxy = new EgressProxy({ log: (message) => egressLog.info(message) });
  const userNet = new UserModeNetwork(leases, undefined, { proxy: egressProxy, socketFor: (id) => vmFiles(layout.vmsDir, id).run.egressSocket });
  const network: SelectedNetwork = new SelectedNetwork(config.network_mode, userNet, () => {
    const bridge: BridgeNetwork = new BridgeNetwork(leases, {
      bridgeName: config.bridge_name,
      bridgeIp: config.bridge_ip,
      cidr: config.cidr,
      tapPoolSize: config.tap_pool_size,
      isolateVms: config.isolate_vms,
      onForwardingEnabled: () =>
        logger.warn('turned on net.ipv4.ip_forward (it was off); banger leaves it on', {
          undo: 'sysctl -w net.ipv4.ip_forward=0, once no bridge-mode VM uses --nat or --allow and no other software on the host forwards',
        }),
      onResolverError: (err) => logger.warn('could not wire systemd-resolved to the bridge', { link: config.bridge_name, error: err.message }),
      onReady: async () => {
        await dns.startGuest(
          {
            book: bridge.book,
            records: () => dns.records(),
            upstream: () => upstreamFrom(config.dns_upstream),
            allowAnswered: (vmId, addrs, ttl) => bridge.allowAnswered(vmId, addrs, ttl),
          },
          { host: config.bridge_ip, port: 53 },
          config.bridge_name,
        );
      },
    }, rootHelper ? helperHostNet(rootHelper) : HOST_NET);
    return bridge;
  }, leases);
  const registry = new DriverRegistry(
    opts.drivers ?? builtinDrivers({ config, logger, stateDir: layout.stateDir, tapNetworking: network.driverMode === 'tap', ...(opts.env ? { env: opts.env } : {}) }),
  );
  const hypervisor = new Hypervisors(registry, config, settings, logger.child({ svc: 'hypervisor' }));
  const vmChanges = new VMChanges();
  const vmRepo = new VMRepo(db, (change) => vmChanges.emit(change));
  const vmDeps: VMServiceDeps = {
    repo: vmRepo,
    snapshots: new SnapshotRepo(db),
    layout,
    config,
    logger: logger.child({ svc: 'vms' }),
    images: imageResolver(images, kernels, config.default_image_name),
    hypervisors: hypervisor,
    network,
    host: { cpus: cpus().length, memoryBytes: totalmem() },
  };
  const vms = new VMService(vmDeps);
  const sessions = new GuestSessions({
    vmDeps,
    repo: new SessionRepo(db),
    find: (ref) => resolveVM(vmRepo, ref),
    sshTarget: (ref) => vms.sshTarget(ref),
    logger: logger.child({ svc: 'sessions' }),
  });
  const dns = new DnsService(vmRepo, config.dns_listen_addr, logger.child({ svc: 'dns' }));
  let resumed: Promise<void> = Promise.resolve();
  return {
    vms,
    sessions,
    images,
    kernels,
    hypervisor,
    vmChanges,
    dns,
    ...(rootHelper ? { rootHelper } : {}),
    async start() {
      await clearStaging(layout.stagingDir).catch((err: unknown) => logger.warn('could not clear staging', { error: err }));
      await clearBuildScratch(layout.stagingDir).catch((err: unknown) => logger.warn('could not clear image build scratch', { error: err }));
      await sweepArtifacts(db, layout).then((r) => logger.info('swept unreferenced artifacts', { ...r }), (err: unknown) => logger.warn('could not sweep artifacts', { error: err }));
      try {
        const { report, settled } = await vms.reconcile();
        logger.info('reconciled', { ...report });
        resumed = settled;
      } catch (err) {
        logger.error('reconcile failed; serving anyway', { error: err });
      }
      await dns.start();
      sessions.startSweeping();
    },
    stop: async () => {
      sessions.stopSweeping();
      await vms.pool.cancelBuilds();
      await vms.stopBackground();
      await egressProxy.closeAll();
      await network.bridgeIfMade()?.relay.closeAll();
      await dns.stop();
    },
    settled: () => resumed,
  };
}
