/**
 * The warm pool: one booted-and-saved template per image and machine shape (vcpu, memory), which
 * `vm run`/`vm create` restore from instead of booting. A template is built in the background after the
 * first cold boot of its image and shape, by a hidden VM (named `_pool-…`, never listed) that boots,
 * is saved with its process ended, and is removed. Each template records a fingerprint of what it was
 * built from (image id and files, kernel, initrd, driver and version, accelerator, banger's guest bits);
 * one whose inputs changed is stale: never restored, and rebuilt after the next cold boot.
 *
 * This module makes the decisions (which template, or why a cold boot) and runs builds; the VM service
 * does the booting, saving and restoring (PoolHost). The QEMU driver takes part in user-mode networking;
 * the Firecracker driver in bridge mode, each restored VM re-addressed over its guest channel.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageInfo, PoolTemplateInfo, VMSpec } from '../../api/types.js';
import type { HypervisorDriver } from '../../drivers/hypervisor.js';
import { GUEST_BITS_VERSION, guestBitsDigest } from '../../guest/index.js';
import { POOL_NAME_PREFIX } from '../../model/vm-name.js';
import type { SnapshotRow } from '../../store/snapshots.js';
import type { OpContext } from '../op-context.js';
import type { VMServiceDeps } from './deps.js';
import { SNAPSHOT_FORMAT, type PoolMeta, type SnapshotManifest } from './snapshot-manifest.js';
import { diskUsage } from './snapshot-view.js';

/** The drivers whose VMs the pool serves: QEMU in user mode, Firecracker in bridge mode (re-addressed over vsock). */
export const POOL_DRIVERS: readonly string[] = ['qemu', 'firecracker'];

/** Image and shape; a driver other than QEMU's has templates of its own (its saved state differs). */
export function poolKey(imageId: string, spec: Pick<VMSpec, 'vcpu' | 'memoryMiB' | 'driver'>): string {
  return `${imageId}/${spec.vcpu}/${spec.memoryMiB}${spec.driver && spec.driver !== 'qemu' ? `/${spec.driver}` : ''}`;
}

/** A file as the fingerprint sees it: path, size and modification time (a rebuilt or replaced file changes). */
function fileStamp(path: string | undefined): string {
  if (!path) return '-';
  try {
    const st = statSync(path);
    return `${path}:${st.size}:${Math.floor(st.mtimeMs)}`;
  } catch {
    return `${path}:missing`;
  }
}

export interface DriverFacts {
  name: string;
  version: string;
  accel: string;
}

/** What a template depends on; a change in any part makes it stale. */
export function fingerprintParts(image: ImageInfo, driver: DriverFacts): Record<string, string> {
  return {
    image: image.id,
    rootfs: fileStamp(image.rootfsPath),
    workSeed: fileStamp(image.workSeedPath),
    kernel: fileStamp(image.kernelPath),
    initrd: fileStamp(image.initrdPath),
    driver: `${driver.name} ${driver.version} ${driver.accel}`,
    guestBits: `${GUEST_BITS_VERSION} ${guestBitsDigest()}`,
    snapshotFormat: String(SNAPSHOT_FORMAT),
  };
}

export function fingerprintOf(parts: Record<string, string>): string {
  const sorted = Object.fromEntries(Object.keys(parts).sort().map((k) => [k, parts[k]]));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

export function poolMetaOf(row: SnapshotRow): PoolMeta | undefined {
  return (row.manifest as SnapshotManifest).pool;
}

/** What a create asks of the pool. */
export interface PoolRequest {
  cold?: boolean;
  fromSnapshot?: string;
  noStart?: boolean;
}

export type PoolChoice = { use: SnapshotRow } | { cold: string };

/**
 * Why a new VM boots cold before any template is looked at, or undefined when the pool may serve it:
 * the pool is off, --cold, a restore or --no-start, another driver, bridge networking.
 */
export function poolIneligible(opts: { enabled: boolean; req: PoolRequest; driver: string; driverSnapshots: boolean; guestChannel?: boolean; network: 'user' | 'bridge'; egress?: boolean }): string | undefined {
  if (opts.req.fromSnapshot !== undefined || opts.req.noStart) return 'not a pool start';
  if (opts.req.cold) return '--cold';
  if (!opts.enabled) return 'warm_pool is off in config.toml';
  if (!POOL_DRIVERS.includes(opts.driver) || !opts.driverSnapshots) return `the warm pool serves the qemu and firecracker drivers only (this VM runs with ${opts.driver})`;
  if (opts.driver === 'qemu' && opts.network !== 'user') return 'the warm pool serves user-mode QEMU VMs only (bridge-mode QEMU VMs cannot be saved yet)';
  if (opts.driver !== 'qemu' && (opts.network !== 'bridge' || !opts.guestChannel)) return `the warm pool serves ${opts.driver} VMs in bridge mode with a guest channel only`;
  if (opts.egress) return 'the warm pool serves VMs without --nat or --allow (templates are saved without outbound access)';
  return undefined;
}

/** The template to restore a VM of this image and spec from, or why it boots cold. */
export function chooseTemplate(templates: readonly SnapshotRow[], imageId: string, spec: VMSpec, fingerprint: string): PoolChoice {
  const key = poolKey(imageId, spec);
  const mine = templates.filter((t) => poolMetaOf(t)?.key === key && !poolMetaOf(t)?.retired);
  if (mine.length === 0) return { cold: 'no warm pool template for this image and shape yet' };
  const fresh = mine.find((t) => poolMetaOf(t)?.fingerprint === fingerprint);
  if (!fresh) return { cold: 'the warm pool template is stale (its image, kernel, driver or guest bits changed)' };
  const m = (fresh.manifest as SnapshotManifest).machine;
  if ((m.rootSizeBytes ?? undefined) !== (spec.rootSizeBytes ?? undefined)) return { cold: 'the warm pool template has another root size' };
  if (spec.diskSizeBytes < m.diskSizeBytes) return { cold: 'the warm pool template has a larger work disk than asked for' };
  return { use: fresh };
}

/** What the pool needs the VM service to do. */
export interface PoolHost {
  /** Reserves and boots a hidden VM until SSH answers; returns its id. On failure the VM is already removed. */
  bootHidden(name: string, image: ImageInfo, spec: VMSpec, ctx: OpContext): Promise<string>;
  /** Saves a hidden VM as a template and ends its process; the row is not yet inserted. */
  saveHidden(vmId: string, snapshot: { id: string; name: string; pool: PoolMeta }, ctx: OpContext): Promise<SnapshotRow>;
  /** Removes a VM (under its lock), whatever its state. */
  removeVM(vmId: string): Promise<void>;
}

type Deps = Pick<VMServiceDeps, 'snapshots' | 'repo' | 'layout' | 'logger' | 'config' | 'images'>;

export class WarmPool {
  private readonly building = new Map<string, AbortController>();
  private readonly builds = new Set<Promise<void>>();

  constructor(
    private readonly deps: Deps,
    private readonly host: PoolHost,
  ) {}

  /** The fingerprint a template for this image would have now, with this driver. */
  async fingerprint(image: ImageInfo, driver: HypervisorDriver): Promise<{ fingerprint: string; parts: Record<string, string> }> {
    const ops = driver.snapshots!;
    const caps = driver.capabilities();
    const accel = caps.accel !== 'auto' ? caps.accel : ((await driver.probe()).accel ?? 'tcg');
    const parts = fingerprintParts(image, { name: caps.name, version: await ops.stateVersion(), accel });
    return { fingerprint: fingerprintOf(parts), parts };
  }

  /** Usable (not retired) templates. */
  templates(): SnapshotRow[] {
    return this.deps.snapshots.poolTemplates().filter((t) => !poolMetaOf(t)?.retired);
  }

  /**
   * After a cold boot of this image and spec: starts a template build in the background unless a fresh
   * template exists or one is being built. Progress goes to the daemon log.
   */
  afterColdBoot(image: ImageInfo, spec: VMSpec, fp: { fingerprint: string; parts: Record<string, string> }): void {
    const key = poolKey(image.id, spec);
    if (this.building.has(key)) return;
    const existing = this.templates().filter((t) => poolMetaOf(t)?.key === key);
    if (existing.some((t) => poolMetaOf(t)?.fingerprint === fp.fingerprint)) return;
    const abort = new AbortController();
    this.building.set(key, abort);
    const p = this.build(image, spec, { key, ...fp }, existing, abort.signal)
      .catch((err: unknown) => {
        if (abort.signal.aborted) this.deps.logger.info('warm pool: template build cancelled', { key });
        else this.deps.logger.warn('warm pool: template build failed', { key, error: (err as Error).message });
      })
      .finally(() => {
        this.building.delete(key);
        this.builds.delete(p);
      });
    this.builds.add(p);
  }

  private async build(image: ImageInfo, spec: VMSpec, meta: PoolMeta, replaces: SnapshotRow[], signal: AbortSignal): Promise<void> {
    const id = freshId((i) => this.deps.snapshots.get(i, true) !== undefined || this.deps.repo.get(i) !== undefined);
    const name = `${POOL_NAME_PREFIX}${id}`;
    const log = this.deps.logger;
    const t0 = Date.now();
    log.info('warm pool: building a template', { template: name, key: meta.key, image: image.name, vcpu: spec.vcpu, memoryMiB: spec.memoryMiB });
    const ctx = logContext(this.deps, name, signal);
    // The build VM runs with the driver and network mode of the VM that asked (QEMU: user mode; Firecracker: bridge).
    const shape: VMSpec = {
      vcpu: spec.vcpu, memoryMiB: spec.memoryMiB, diskSizeBytes: spec.diskSizeBytes, ...(spec.rootSizeBytes !== undefined ? { rootSizeBytes: spec.rootSizeBytes } : {}), nat: false,
      network: spec.network ?? 'user', ...(spec.driver !== undefined ? { driver: spec.driver } : {}),
    };
    let vmId: string | undefined;
    try {
      vmId = await this.host.bootHidden(name, image, shape, ctx);
      signal.throwIfAborted();
      const row = await this.host.saveHidden(vmId, { id, name, pool: meta }, ctx);
      signal.throwIfAborted();
      this.deps.snapshots.insert(row);
      log.info('warm pool: template ready', { template: name, key: meta.key, seconds: Math.round((Date.now() - t0) / 100) / 10 });
      for (const old of replaces) this.drop(old);
    } finally {
      if (vmId) await this.host.removeVM(vmId).catch((err: unknown) => log.warn('warm pool: could not remove the build VM', { vm: name, error: (err as Error).message }));
      // A build cut short after saving leaves an unrecorded directory; it is removed here (or by the next sweep).
      if (!this.deps.snapshots.get(id, true)) rmSync(join(this.deps.layout.snapshotsDir, id), { recursive: true, force: true });
    }
  }

  /** Removes a template, or retires it while VMs (or snapshots of them) still read its disks. */
  drop(row: SnapshotRow): 'removed' | 'retired' {
    const users = this.deps.snapshots.dependents(row.id);
    const derived = this.deps.snapshots.list().filter((s) => (s.manifest as SnapshotManifest).disks.some((d) => d.backingFile?.startsWith(`${row.dir}/`)));
    if (users.length > 0 || derived.length > 0) {
      const m = row.manifest as SnapshotManifest;
      if (m.pool && !m.pool.retired) this.deps.snapshots.setManifest(row.id, { ...m, pool: { ...m.pool, retired: true } });
      return 'retired';
    }
    this.deps.snapshots.delete(row.id);
    rmSync(row.dir, { recursive: true, force: true });
    return 'removed';
  }

  /** Cancels builds and removes every template (those in use are retired and removed once unused). */
  async clear(): Promise<{ removed: string[]; retired: string[]; cancelled: number }> {
    const cancelled = this.building.size;
    await this.cancelBuilds();
    const out = { removed: [] as string[], retired: [] as string[], cancelled };
    for (const t of this.deps.snapshots.poolTemplates()) out[this.drop(t) === 'removed' ? 'removed' : 'retired'].push(t.name);
    return out;
  }

  /** After a VM is deleted: the retired template it was restored from goes once nothing uses it. */
  collect(snapshotId: string | undefined): void {
    const t = snapshotId ? this.deps.snapshots.get(snapshotId, true) : undefined;
    if (t && poolMetaOf(t)?.retired) this.drop(t);
  }

  /** Cancels builds and drops the templates of an image (after it was deleted). */
  async forgetImage(imageId: string): Promise<void> {
    for (const [key, abort] of this.building) if (key.startsWith(`${imageId}/`)) abort.abort();
    await Promise.allSettled([...this.builds]);
    for (const t of this.deps.snapshots.poolTemplates()) if (t.imageId === imageId) this.drop(t);
  }

  /** Stops every build in flight and waits for their clean-up (daemon stop). */
  async cancelBuilds(): Promise<void> {
    for (const abort of this.building.values()) abort.abort();
    await Promise.allSettled([...this.builds]);
  }

  /**
   * At daemon start: half-built templates go. Hidden build VMs are removed; retired templates nobody
   * uses any more are removed; snapshot directories no row owns (a save cut short) are removed.
   */
  async sweep(): Promise<{ buildVMs: string[]; templates: string[]; dirs: string[] }> {
    const out = { buildVMs: [] as string[], templates: [] as string[], dirs: [] as string[] };
    for (const row of this.deps.repo.list()) {
      if (!row.name.startsWith(POOL_NAME_PREFIX)) continue;
      await this.host.removeVM(row.id);
      out.buildVMs.push(row.name);
    }
    for (const t of this.deps.snapshots.poolTemplates()) {
      if (poolMetaOf(t)?.retired && this.drop(t) === 'removed') out.templates.push(t.name);
    }
    const known = new Set(this.deps.snapshots.allIds());
    let entries: string[] = [];
    try {
      entries = readdirSync(this.deps.layout.snapshotsDir);
    } catch {
      entries = [];
    }
    for (const e of entries) {
      if (known.has(e)) continue;
      rmSync(join(this.deps.layout.snapshotsDir, e), { recursive: true, force: true });
      out.dirs.push(e);
    }
    return out;
  }

  /** The templates as `vm pool` shows them; `current` gives each image's fingerprint now (undefined: image gone). */
  list(current: (imageId: string) => string | undefined): PoolTemplateInfo[] {
    const out: PoolTemplateInfo[] = [];
    for (const t of this.deps.snapshots.poolTemplates()) {
      const meta = poolMetaOf(t)!;
      const m = t.manifest as SnapshotManifest;
      const now = current(t.imageId);
      const status: PoolTemplateInfo['status'] = meta.retired ? 'retired' : now === meta.fingerprint ? 'ready' : 'stale';
      const imageName = this.deps.images.byId(t.imageId)?.name ?? m.image.name;
      out.push({
        name: t.name,
        imageId: t.imageId,
        imageName,
        vcpu: m.machine.vcpu,
        memoryMiB: m.machine.memoryMiB,
        diskSizeBytes: m.machine.diskSizeBytes,
        sizeBytes: diskUsage(t.dir),
        createdAt: t.createdAt,
        status,
        usedBy: this.deps.snapshots.dependents(t.id),
      });
    }
    for (const key of this.building.keys()) {
      const [imageId, vcpu, mem] = key.split('/');
      out.push({ name: '(building)', imageId: imageId!, imageName: this.deps.images.byId(imageId!)?.name ?? imageId!, vcpu: Number(vcpu), memoryMiB: Number(mem), diskSizeBytes: 0, sizeBytes: 0, createdAt: '', status: 'building', usedBy: [] });
    }
    return out;
  }
}

function freshId(taken: (id: string) => boolean): string {
  let id: string;
  do id = randomBytes(6).toString('hex');
  while (taken(id));
  return id;
}

/** A build's context: stages and messages go to the daemon log. */
function logContext(deps: Deps, name: string, signal: AbortSignal): OpContext {
  return {
    signal,
    stage: async (id, label, fn) => {
      const t0 = Date.now();
      deps.logger.debug('warm pool: stage', { template: name, stage: id, label });
      const r = await fn();
      deps.logger.debug('warm pool: stage done', { template: name, stage: id, ms: Date.now() - t0 });
      return r;
    },
    progress: () => undefined,
    log: (message, level) => (level === 'warn' ? deps.logger.warn(`warm pool: ${message}`, { template: name }) : deps.logger.info(`warm pool: ${message}`, { template: name })),
  };
}
