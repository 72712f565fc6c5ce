/**
 * VM operations as the API offers them: create, start, stop, restart, kill, delete, prune, set, and
 * the read-only views. Each mutating operation holds the VM's lock from its first read to its last
 * write and changes state only through the lifecycle module; reads never write.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { alreadyExists, BangerError, badRequest, notRunning, operationFailed, unavailable } from '../../api/errors.js';
import type { CreateSnapshotRequest, ForkResult, ForkVMRequest, SnapshotInfo } from '../../api/types.js';
import type { CreateVMRequest, EgressReport, RecordWorkspaceRequest, SetVMRequest, SSHTarget, VMHealth, VMInfo, VMSpec, VMStats, WorkspaceDiff, WorkspaceInfo } from '../../api/types.js';
import { parsePortSpecs, type ForwardRequest, type ForwardResult, type VMPorts } from '../../api/ports.js';
import { hostAliases, remove as unpinHost } from '../../drivers/ssh/known-hosts.js';
import { exec as sshExec } from '../../drivers/ssh/client.js';
import { growExt4 } from '../../drivers/ext4/maintain.js';
import { snapshotFiles, vmFiles } from '../../model/filenames.js';
import { generateName } from '../../model/namegen.js';
import { parseSize } from '../../model/size.js';
import { validateVMName } from '../../model/vm-name.js';
import { isActive } from '../../model/vm-state.js';
import { cpuSeconds, pidAlive, rssBytes } from '../../system/proc.js';
import type { VMRow } from '../../store/vms.js';
import type { OpContext } from '../op-context.js';
import { syncFiles } from './file-sync.js';
import { gitIdentityCommand, hostGitIdentity, reportGitIdentity } from './git-identity.js';
import { launchVM, waitReady, WORK_DISK_INDEX, type RestoreInput } from './boot.js';
import { firstBootOf, InstallerWatch, markFirstBootDone, pendingFirstBoot, refuseUnbootable } from './first-boot.js';
import { readdressRestored, refuseUnaddressable } from './readdress.js';
import { identifyOverChannel, identifyRestored, proveHostKey, proveRunningKey, rekeyOverChannel, rekeyRunning, rekeyStopped, restoreIdentityTarget, setGuestClock } from './identity.js';
import { discardSuspended, saveSuspended, suspendedInput } from './suspend.js';
import { vmHealth } from './health.js';
import { compatibilityProblem, keepHashAfterUnlink, readManifest, verifyFiles } from './snapshot-manifest.js';
import { snapshotOps, takeSnapshot, type TakenSnapshot } from './snapshot-create.js';
import { PendingHashes } from './snapshot-hash.js';
import { resolveSnapshot, toSnapshotInfo } from './snapshot-view.js';
import type { VMServiceDeps } from './deps.js';
import { prepareDisks } from './disks.js';
import { readHandles } from './handles.js';
import { reconcile, type ReconcileReport } from './reconcile.js';
import { VMLifecycle } from './lifecycle.js';
import { resolveVM } from './lookup.js';
import { checkAllow, checkDisk, checkMemory, checkVcpu, resolveSpec, specLine } from './spec.js';
import { networkModeOf } from '../network/select.js';
import type { HypervisorPorts } from '../network/provider.js';
import { sshTargetFor, syncSSHConfig } from './ssh.js';
import { Teardown } from './teardown.js';
import { changeForwards, guestPorts } from './ports.js';
import { observe, toInfo } from './view.js';
import { workspaceDiff } from './workspace-diff.js';
import { faultPoint } from '../../system/faults.js';
import { lastLines } from '../../system/exec.js';
import { WORK_DISK_DEVICE } from '../../guest/index.js';
import type { ImageInfo, PoolClearResult, PoolTemplateInfo } from '../../api/types.js';
import type { HypervisorDriver } from '../../drivers/hypervisor.js';
import { isPoolName } from '../../model/vm-name.js';
import { formatSize } from '../../model/size.js';
import type { SnapshotRow } from '../../store/snapshots.js';
import type { SnapshotManifest } from './snapshot-manifest.js';
import { chooseTemplate, poolIneligible, WarmPool } from './warm-pool.js';
import { checkBranchName, childBranch, childNames, FORK_PARALLEL, restoreChildren } from './fork.js';

/**
 * How long a daemon stop waits for background snapshot hashes before cancelling them (`banger daemon
 * stop` waits 10 s for the daemon to exit). A cancelled one leaves its snapshot pending, which the next
 * daemon refuses to restore with a clear message: a stop is never held up for long, and nothing unchecked is trusted.
 */
const HASH_STOP_GRACE_MS = 5000;

/** How long a warm pool build VM may take to finish booting before it is saved anyway. */
const TEMPLATE_SETTLE_MS = 120_000;
/** How long a restored guest may take to run its identity script over the guest channel before the restore falls back to SSH. */
const CHANNEL_IDENTITY_MS = 15_000;

const CANCELLED = 'cancelled';

export class VMService {
  readonly lifecycle: VMLifecycle;
  private readonly teardown: Teardown;
  readonly pool: WarmPool;
  /** Background hashes of fork snapshots published before their memory was hashed. */
  readonly hashes: PendingHashes;
  private sshConfigWrites: Promise<void>;

  constructor(private readonly deps: VMServiceDeps) {
    this.lifecycle = new VMLifecycle(deps.repo);
    this.teardown = new Teardown(deps, this.lifecycle, () => this.syncSSHConfigQuietly());
    this.hashes = new PendingHashes(deps);
    this.sshConfigWrites = Promise.resolve();
    this.pool = new WarmPool(deps, {
      bootHidden: (name, image, spec, ctx) => this.bootHidden(name, image, spec, ctx),
      saveHidden: (vmId, snap, ctx) => this.saveHidden(vmId, snap, ctx),
      removeVM: (vmId) => this.lifecycle.withLock(vmId, async () => {
        const row = this.deps.repo.get(vmId);
        if (row) await this.destroy(row);
      }),
    });
  }

  private find(ref: string): VMRow {
    return resolveVM(this.deps.repo, ref);
  }

  /** Re-reads a VM inside its lock (it may have been deleted while the caller waited). */
  private reread(id: string, ref: string): VMRow {
    const row = this.deps.repo.get(id);
    if (!row) throw new BangerError('not_found', `vm ${JSON.stringify(ref)} was deleted meanwhile`);
    return row;
  }

  /** Runs fn under the VM's lock on a fresh, settled row. */
  private locked<T>(ref: string, fn: (row: VMRow) => Promise<T>): Promise<T> {
    const id = this.find(ref).id;
    return this.lifecycle.withLock(id, async () => fn(await this.teardown.settle(this.reread(id, ref))));
  }

  list(): VMInfo[] {
    return this.deps.repo.list().filter((r) => !isPoolName(r.name)).map((r) => this.view(r));
  }

  show(ref: string): VMInfo {
    return this.view(this.find(ref));
  }

  private view(row: VMRow): VMInfo {
    return toInfo(observe(this.deps, row), this.deps.images);
  }

  /** Validates a create request up front, so errors come back before an operation starts. */
  precheck(req: CreateVMRequest): void {
    if (req.driver !== undefined) this.deps.hypervisors.checkName(req.driver);
    if (req.fromSnapshot !== undefined) {
      this.precheckRestore(req);
      return;
    }
    if (req.cold && req.noStart) throw badRequest('--cold has no effect with --no-start: a VM created stopped boots from its image when started', 'drop --cold');
    if (req.name !== undefined && req.name !== '') {
      validateVMName(req.name);
      if (this.deps.repo.nameTaken(req.name)) throw alreadyExists(`vm ${JSON.stringify(req.name)} already exists`, `pick another --name, or remove it with banger vm delete ${req.name}`);
    }
    this.specFor(req);
  }

  /** The spec of a new VM; [egress] allow applies in both modes (user mode enforces it at banger's egress proxy). */
  private specFor(req: CreateVMRequest): VMSpec {
    return resolveSpec(req, this.deps.config.vm_defaults, this.deps.host, this.deps.config.egress.allow).spec;
  }

  /** What a VM may reach and what it tried (`vm egress`). */
  async egress(ref: string): Promise<EgressReport> {
    const row = this.find(ref);
    if (!this.deps.network.egress) throw unavailable('this daemon has no egress report');
    return this.deps.network.egress(row);
  }

  /** Reserves the name and id synchronously, so two creates can never take the same name. */
  private reserve(req: CreateVMRequest): VMRow {
    this.precheck(req);
    const spec = this.specFor(req);
    if (req.ports?.length) spec.ports = parsePortSpecs(req.ports);
    if (req.driver !== undefined) spec.driver = this.deps.hypervisors.checkName(req.driver);
    return this.reserveWith(req.name, spec);
  }

  private reserveWith(wanted: string | undefined, spec: VMSpec): VMRow {
    const name = wanted ? wanted : generateName((n) => this.deps.repo.nameTaken(n));
    const now = new Date().toISOString();
    let id: string;
    do id = randomBytes(6).toString('hex');
    while (this.deps.repo.get(id) || this.deps.repo.byName(id));
    const row: VMRow = { id, name, imageId: '', state: 'created', spec, runtime: {}, createdAt: now, updatedAt: now };
    this.deps.repo.insert(row);
    return row;
  }

  /** Creates a VM and (unless noStart) boots it until SSH answers. Holds the VM's lock from reserve to ready. */
  create(req: CreateVMRequest, ctx: OpContext): Promise<VMInfo> {
    if (req.fromSnapshot !== undefined) return this.createFromSnapshot(req, ctx);
    const reserved = this.reserve(req);
    return this.lifecycle.withLock(reserved.id, async () => {
      ctx.log(`${reserved.name}: ${specLine(reserved.spec)}`);
      faultPoint('create.reserved');
      let row = reserved;
      let launched = false;
      try {
        const driver = await ctx.stage('hypervisor', 'choosing the hypervisor', () => this.driverOf(row));
        row = this.keepDriver(row, driver);
        const image = await ctx.stage('image', 'resolving image', () => this.deps.images.resolveForVM(req.image || this.deps.config.default_image_name, ctx));
        refuseUnbootable(image);
        row = this.deps.repo.update(row.id, { imageId: image.id });
        faultPoint('create.image');
        const warm = await this.poolDecision(req, row, image, driver);
        if (warm?.use) {
          ctx.log(`${row.name}: restored from warm pool`);
          return this.view(await this.restoreLocked(row, warm.use, ctx, { template: true, onLaunch: () => (launched = true) }));
        }
        if (warm?.reason) ctx.log(`${row.name}: cold boot (${warm.reason})`);
        await ctx.stage('disks', 'preparing disks', () => prepareDisks(driver, vmFiles(this.deps.layout.vmsDir, row.id), image, row.spec, ctx.signal));
        faultPoint('create.disks');
        if (req.noStart) return this.view(this.lifecycle.transition(row.id, 'stopped', { reason: 'created with --no-start' }));
        row = this.lifecycle.transition(row.id, 'starting');
        faultPoint('create.starting');
        // A failure before the hypervisor starts (network, seed) leaves nothing worth keeping: no console to read.
        const booted = await this.boot(row, ctx, undefined, () => (launched = true));
        if (warm?.fingerprint) this.pool.afterColdBoot(image, { ...booted.spec, network: networkModeOf(booted, this.deps.config.network_mode) }, warm.fingerprint);
        return this.view(booted);
      } catch (err) {
        if (!launched || ctx.signal.aborted) {
          await this.destroy(this.deps.repo.get(row.id) ?? row).catch((e: unknown) => this.deps.logger.warn('cleanup after failed create', { vm: row.name, error: e }));
          throw err;
        }
        throw withKeptHint(err, row.name);
      }
    });
  }

  /** Boots a VM in state starting; on failure its process is ended and it is left in error (or stopped when cancelled). */
  private async boot(row: VMRow, ctx: OpContext, restore?: RestoreInput & { snapshotHostKey?: string; readdress?: boolean; identityChannel?: boolean; onSshdReload?: () => void }, onLaunch?: () => void): Promise<VMRow> {
    // Asked of the host's git while the VM starts (two processes, off the way to a ready VM).
    const hostIdentity = hostGitIdentity().catch(() => undefined);
    try {
      const driver = await this.driverOf(row);
      const launched = await launchVM(this.deps, driver, row, ctx, restore, onLaunch);
      const net = launched.net;
      if (restore?.readdress && net.mode === 'tap') {
        // The guest still holds its source's MAC and address; it takes its own before SSH reaches it.
        await ctx.stage('address', `giving the restored VM its own address ${net.ip}`, () => readdressRestored(driver, launched.handle, row.name, net, ctx.signal));
      }
      const fb = launched.firstBoot;
      // The host's git identity rides on work the guest does anyway: the channel's identity script, else the readiness login.
      const gitIdentity = await hostIdentity;
      const gitCommand = gitIdentity ? gitIdentityCommand(gitIdentity) : undefined;
      let gitResult: { code: number; stderr: string } | undefined;
      if (restore?.snapshotHostKey !== undefined) {
        const identityTarget = restoreIdentityTarget(this.deps, launched.row, restore.snapshotHostKey);
        const channel = restore.identityChannel ? driver.snapshots?.guestCommand?.bind(driver.snapshots) : undefined;
        let overChannel = false;
        await ctx.stage('identity', `giving the restored VM its own hostname, host key, entropy and clock${channel ? ' over the guest channel' : ''}`, async () => {
          if (channel) {
            try {
              gitResult = await identifyOverChannel(this.deps, launched.row, (command) => channel(launched.handle, command, { timeoutMs: CHANNEL_IDENTITY_MS, signal: ctx.signal }), gitCommand);
              overChannel = true;
              return;
            } catch (err) {
              ctx.signal.throwIfAborted();
              ctx.log(`${row.name}: the guest channel did not take its identity (${(err as Error).message}); using ssh`, 'warn');
            }
          }
          await identifyRestored(this.deps, launched.row, identityTarget, ctx.signal);
        });
        const ready = gitCommand && !overChannel ? { command: gitCommand } : {};
        // sshd runs in restored state: no greeting probe; the handshake proves the new, pinned key.
        const readiness = await ctx.stage('ssh', 'checking ssh with the new host key', () =>
          proveHostKey(() => waitReady(this.deps, launched.row, launched.handle, ctx.signal, undefined, { probe: false, ...ready }), identityTarget, row.name, ctx.signal, () => {
            restore.onSshdReload?.();
            ctx.log(`${row.name}: its sshd still served the snapshot's host key (it keeps keys in memory); restarting it`, 'warn');
          }),
        );
        if (!overChannel) gitResult = readiness;
      } else {
        const installer = fb ? new InstallerWatch(vmFiles(this.deps.layout.vmsDir, row.id).consoleLog, (line) => ctx.log(`${row.name}: ${line}`)) : undefined;
        gitResult = await ctx.stage('ssh', fb ? `installing ${fb.packages.join(' ')} at first boot, then waiting for ssh` : 'waiting for ssh', () =>
          waitReady(this.deps, launched.row, launched.handle, ctx.signal, installer, { ...(restore ? { probe: false } : {}), ...(gitCommand ? { command: gitCommand } : {}) }),
        );
      }
      faultPoint('boot.ready');
      if (fb) await this.closeInstallerEgress(launched.row, fb.hosts, ctx);
      else if (restore) this.markRestoredFirstBoot(row);
      if (gitIdentity && gitResult) reportGitIdentity(row.name, gitResult, ctx);
      if (this.deps.config.file_sync.length > 0) {
        await ctx.stage('files', 'copying file_sync entries', () => syncFiles(sshTargetFor(this.deps, launched.row), this.deps.config.file_sync, ctx));
      }
      const running = this.lifecycle.transition(row.id, 'running');
      this.syncSSHConfigQuietly();
      return running;
    } catch (err) {
      const cancelled = ctx.signal.aborted;
      await this.teardown.end(row.id, 0).catch((e: unknown) => this.deps.logger.warn('teardown after failed boot', { vm: row.name, error: e }));
      if (cancelled) this.lifecycle.transition(row.id, 'stopped', { reason: CANCELLED });
      else this.lifecycle.transition(row.id, 'error', { lastError: (err as Error).message });
      throw err;
    }
  }

  /** The driver a VM was created with (its --driver, or the daemon's choice then); the daemon's choice for VMs made before that was kept. */
  private driverOf(row: VMRow): Promise<HypervisorDriver> {
    return this.deps.hypervisors.driver(row.spec.driver);
  }

  /** Records the driver a new VM got, so its later starts use it whatever the daemon's choice becomes. */
  private keepDriver(row: VMRow, driver: HypervisorDriver): VMRow {
    const name = driver.capabilities().name;
    return row.spec.driver === name ? row : this.deps.repo.update(row.id, { spec: { ...row.spec, driver: name } });
  }

  /** After the installer: the VM is marked done and its egress is what it was given again. */
  private async closeInstallerEgress(row: VMRow, hosts: readonly string[], ctx: OpContext): Promise<void> {
    markFirstBootDone(vmFiles(this.deps.layout.vmsDir, row.id).firstBootDone);
    const current = this.deps.repo.get(row.id) ?? row;
    await this.deps.network.update?.(current);
    const kept = current.spec.nat && current.spec.allow === undefined ? ' (it keeps --nat)' : current.spec.allow !== undefined ? ` (it keeps --allow ${current.spec.allow.join(',')})` : '';
    ctx.log(`${row.name}: first boot done; the installer's egress to ${hosts.join(', ')} is closed again${kept}`);
  }

  /** A VM restored from a snapshot or template of a booted VM has its image's installer behind it. */
  private markRestoredFirstBoot(row: VMRow): void {
    const image = this.deps.images.byId(row.imageId);
    if (image && firstBootOf(image)) markFirstBootDone(vmFiles(this.deps.layout.vmsDir, row.id).firstBootDone);
  }

  start(ref: string, ctx: OpContext): Promise<VMInfo> {
    return this.locked(ref, async (row) => this.view(await this.startLocked(row, ctx)));
  }

  private async startLocked(row: VMRow, ctx: OpContext): Promise<VMRow> {
    if (row.state === 'running') throw badRequest(`vm ${row.name} is already running`, `connect with banger vm ssh ${row.name}`);
    if (isActive(row.state)) throw badRequest(`vm ${row.name} is ${row.state}`, `wait for it, or force it down with banger vm kill ${row.name}`);
    if (row.state === 'created') throw badRequest(`vm ${row.name} was never fully created`, `delete it with banger vm delete ${row.name}`);
    if (row.state === 'suspended') return this.resumeSuspended(row, ctx);
    return this.boot(this.lifecycle.transition(row.id, 'starting'), ctx);
  }

  /** Loads a suspended VM's saved state (same disks and identity), then corrects its clock. */
  private async resumeSuspended(row: VMRow, ctx: OpContext): Promise<VMRow> {
    const driver = await this.driverOf(row);
    const input = await ctx.stage('verify', `checking the saved state of ${row.name}`, () => suspendedInput(this.deps, driver, row));
    const running = await this.boot(this.lifecycle.transition(row.id, 'starting'), ctx, input);
    discardSuspended(this.deps, running);
    await ctx.stage('clock', 'setting the guest clock', () => setGuestClock(this.deps, running)).catch((err: unknown) => {
      ctx.log(`could not set the clock of ${row.name}: ${(err as Error).message}`, 'warn');
    });
    return running;
  }

  /** Stops a running VM's CPUs; its memory and process stay. */
  pause(ref: string): Promise<VMInfo> {
    return this.locked(ref, async (row) => {
      if (row.state === 'paused') return this.view(row);
      if (row.state !== 'running') throw notRunning(`vm ${row.name} is ${row.state}: only a running VM can be paused`, `start it with banger vm start ${row.name}`);
      const handle = this.teardown.handleOf(row.id);
      if (!handle) throw notRunning(`vm ${row.name} has no running process`, `start it with banger vm start ${row.name}`);
      await snapshotOps(this.deps.hypervisors.forHandle(handle), 'pause VMs').pause(handle);
      return this.view(this.lifecycle.transition(row.id, 'paused', { reason: 'paused' }));
    });
  }

  /** Lets a paused VM's CPUs run again; also a VM stored as running whose guest was left paused (an interrupted snapshot). */
  resume(ref: string): Promise<VMInfo> {
    return this.locked(ref, async (row) => {
      if (row.state === 'running') {
        const handle = this.teardown.handleOf(row.id);
        const driver = handle && this.deps.hypervisors.forHandle(handle);
        if (handle && driver?.snapshots && (await driver.status(handle)) === 'paused') {
          await driver.snapshots.resume(handle);
          await setGuestClock(this.deps, row).catch((err: unknown) => this.deps.logger.debug('clock after resume', { vm: row.name, error: (err as Error).message }));
        }
        return this.view(row);
      }
      if (row.state === 'suspended') throw badRequest(`vm ${row.name} is suspended to disk, not paused`, `load it again with banger vm start ${row.name}`);
      if (row.state !== 'paused') throw notRunning(`vm ${row.name} is ${row.state}, not paused`, `start it with banger vm start ${row.name}`);
      const handle = this.teardown.handleOf(row.id);
      if (!handle) throw notRunning(`vm ${row.name} has no running process`, `start it with banger vm start ${row.name}`);
      await snapshotOps(this.deps.hypervisors.forHandle(handle), 'resume VMs').resume(handle);
      const running = this.lifecycle.transition(row.id, 'running');
      await setGuestClock(this.deps, running).catch((err: unknown) => this.deps.logger.debug('clock after resume', { vm: row.name, error: (err as Error).message }));
      return this.view(running);
    });
  }

  /** Saves a running (or paused) VM's memory to its directory and ends its process; vm start loads it again. */
  suspend(ref: string, ctx: OpContext): Promise<VMInfo> {
    return this.locked(ref, async (row) => {
      if (row.state === 'suspended') return this.view(row);
      if (row.state !== 'running' && row.state !== 'paused') throw notRunning(`vm ${row.name} is ${row.state}: only a running or paused VM can be suspended`, `start it with banger vm start ${row.name}`);
      const handle = this.teardown.handleOf(row.id);
      if (!handle) throw notRunning(`vm ${row.name} has no running process`, `start it with banger vm start ${row.name}`);
      const driver = this.deps.hypervisors.forHandle(handle);
      await saveSuspended(this.deps, driver, row, handle, row.state === 'paused', ctx);
      this.lifecycle.transition(row.id, 'stopping');
      await ctx.stage('end', `ending the process of ${row.name}`, () => this.teardown.end(row.id, 0));
      return this.view(this.lifecycle.transition(row.id, 'suspended', { reason: 'suspended to disk' }));
    });
  }

  stop(ref: string, opts: { timeoutMs?: number } = {}): Promise<VMInfo> {
    return this.locked(ref, async (row) => this.view(await this.stopLocked(row, opts.timeoutMs ?? 30_000)));
  }

  private async stopLocked(row: VMRow, timeoutMs: number): Promise<VMRow> {
    if (row.state === 'suspended') {
      discardSuspended(this.deps, row);
      return this.lifecycle.transition(row.id, 'stopped', { reason: 'saved state discarded' });
    }
    if (!isActive(row.state) && row.state !== 'error') return row;
    if (row.state === 'paused') {
      // A paused guest cannot power itself off; let it run so it can.
      const handle = this.teardown.handleOf(row.id);
      if (handle) await this.deps.hypervisors.forHandle(handle).snapshots?.resume(handle).catch(() => undefined);
      row = this.lifecycle.transition(row.id, 'running');
    }
    this.lifecycle.transition(row.id, 'stopping');
    faultPoint('stop.stopping');
    await this.guestPoweroff(row);
    await this.teardown.end(row.id, timeoutMs);
    faultPoint('stop.ended');
    return this.lifecycle.transition(row.id, 'stopped', { reason: 'stopped' });
  }

  /** Asks the guest to flush and power off; it is fine if this fails (ACPI and kill follow). */
  private async guestPoweroff(row: VMRow): Promise<void> {
    if (row.state !== 'running' || !row.runtime.sshPort) return;
    try {
      await sshExec(sshTargetFor(this.deps, row), ['sh', '-c', 'sync; (systemctl --no-block poweroff || poweroff) >/dev/null 2>&1 &'], { timeoutMs: 8000, connectTimeoutS: 3 });
    } catch (err) {
      this.deps.logger.debug('guest poweroff over ssh failed', { vm: row.name, error: (err as Error).message });
    }
  }

  /** Stop then start, holding the lock once for both. */
  restart(ref: string, ctx: OpContext): Promise<VMInfo> {
    return this.locked(ref, async (row) => {
      const stopped = await this.stopLocked(row, 30_000);
      return this.view(await this.startLocked(stopped, ctx));
    });
  }

  kill(ref: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<VMInfo> {
    return this.locked(ref, async (row) => {
      const handle = readHandles(vmFiles(this.deps.layout.vmsDir, row.id).handles);
      if (!handle || !isActive(row.state)) throw notRunning(`vm ${row.name} is not running`, `start it with banger vm start ${row.name}`);
      const driver = this.deps.hypervisors.forHandle(handle);
      await driver.kill(handle, signal);
      if ((signal === 'SIGKILL' || signal === 'SIGTERM') && !pidAlive(handle.pid)) {
        await this.teardown.end(row.id, 0);
        return this.view(this.lifecycle.transition(row.id, 'stopped', { reason: `killed with ${signal}` }));
      }
      return this.view(this.reread(row.id, ref));
    });
  }

  /** Removes a VM completely: process, network lease, files, pinned keys, row. Caller holds the lock. */
  private async destroy(row: VMRow): Promise<void> {
    await this.teardown.end(row.id, 0).catch((err: unknown) => this.deps.logger.warn('teardown during delete', { vm: row.name, error: err }));
    faultPoint('delete.ended');
    await this.deps.network.release(row);
    faultPoint('delete.released');
    await unpinHost(this.deps.layout.knownHostsPath, hostAliases(row)).catch(() => false);
    faultPoint('delete.unpinned');
    // The row goes before the files: a crash in between leaves a directory of no VM, which reconcile removes.
    this.deps.repo.delete(row.id);
    faultPoint('delete.row');
    rmSync(vmFiles(this.deps.layout.vmsDir, row.id).dir, { recursive: true, force: true });
    faultPoint('delete.files');
    this.syncSSHConfigQuietly();
  }

  delete(ref: string): Promise<{ deleted: string }> {
    return this.locked(ref, async (row) => {
      const from = this.deps.snapshots.snapshotOf(row.id);
      await this.destroy(row);
      this.pool.collect(from);
      return { deleted: row.name };
    });
  }

  /** Deletes every VM that is not running and that no other request is working on. */
  async prune(): Promise<{ deleted: string[]; skipped: string[] }> {
    const deleted: string[] = [];
    const skipped: string[] = [];
    for (const r of this.deps.repo.list()) {
      if (this.lifecycle.isBusy(r.id)) {
        skipped.push(r.name);
        continue;
      }
      await this.lifecycle.withLock(r.id, async () => {
        const cur = this.deps.repo.get(r.id);
        if (!cur) return;
        const row = await this.teardown.settle(cur);
        if (isActive(row.state)) return;
        await this.destroy(row);
        deleted.push(row.name);
      });
    }
    return { deleted, skipped };
  }

  set(ref: string, req: SetVMRequest): Promise<VMInfo> {
    return this.locked(ref, async (row) => {
      const wantsStopped = req.vcpu !== undefined || req.memoryMiB !== undefined || req.diskSize !== undefined;
      if (wantsStopped && isActive(row.state)) {
        throw badRequest(`vm ${row.name} is ${row.state}; --vcpu, --memory and --disk-size change a stopped VM`, `stop it first: banger vm stop ${row.name}`);
      }
      const spec = { ...row.spec };
      if (req.vcpu !== undefined) spec.vcpu = checkVcpu(req.vcpu, this.deps.host);
      if (req.memoryMiB !== undefined) spec.memoryMiB = checkMemory(req.memoryMiB, this.deps.host);
      if (req.nat !== undefined) spec.nat = req.nat;
      if (req.allow !== undefined || req.deny !== undefined) spec.allow = this.changedAllow(row, req);
      if (req.diskSize !== undefined) {
        const bytes = checkDisk(parseSize(req.diskSize));
        if (bytes < row.spec.diskSizeBytes) throw badRequest(`the work disk can only grow (it is ${row.spec.diskSizeBytes} bytes)`, 'pass a larger --disk-size');
        if (bytes > row.spec.diskSizeBytes) {
          await growExt4(vmFiles(this.deps.layout.vmsDir, row.id).workDisk, bytes);
          spec.diskSizeBytes = bytes;
        }
      }
      const updated = this.deps.repo.update(row.id, { spec });
      const egressChanged = req.nat !== undefined || req.allow !== undefined || req.deny !== undefined;
      if (egressChanged && row.state === 'running' && this.deps.network.update) {
        try {
          await this.deps.network.update(updated);
        } catch (err) {
          this.deps.repo.update(row.id, { spec: row.spec });
          throw operationFailed(`could not apply the new egress of vm ${row.name}; nothing was changed`, 'see the daemon log', err);
        }
      }
      return this.view(updated);
    });
  }

  /** Publishes or removes guest ports (stored for every start; applied live where the driver can). */
  forward(ref: string, req: ForwardRequest): Promise<ForwardResult> {
    return this.locked(ref, async (row) => {
      const { ports, result } = await changeForwards(row, req, this.deps.network.publishing(row, this.hypervisorPorts(row)));
      const spec = { ...row.spec };
      if (ports.length > 0) spec.ports = ports;
      else delete spec.ports;
      this.deps.repo.update(row.id, { spec });
      return result;
    });
  }

  /** The running VM's hypervisor forwards, when its driver changes them live. */
  private hypervisorPorts(row: VMRow): HypervisorPorts | undefined {
    const handle = isActive(row.state) ? this.teardown.handleOf(row.id) : undefined;
    const driver = handle ? this.deps.hypervisors.forHandle(handle) : undefined;
    if (!handle || !driver?.publishPort || !driver.unpublishPort) return undefined;
    return { publish: (addr, f) => driver.publishPort!(handle, addr, f), unpublish: (addr, f) => driver.unpublishPort!(handle, addr, f) };
  }

  /** Listening sockets in a running VM with what the host reaches of them. Reads only. */
  ports(ref: string): Promise<VMPorts> {
    const target = this.sshTarget(ref);
    const row = this.find(ref);
    return guestPorts(target, row, this.deps.network.publishing(row, undefined), this.guestChannel(row));
  }

  /** The driver's host-only channel to the guest bits of a running VM (firecracker's vsock), if it has one. */
  private guestChannel(row: VMRow): ((command: 'health' | 'ports') => Promise<string>) | undefined {
    const handle = row.state === 'running' ? this.teardown.handleOf(row.id) : undefined;
    const driver = handle ? this.deps.hypervisors.forHandle(handle) : undefined;
    if (!handle || !driver?.guestChannel) return undefined;
    return (command) => driver.guestChannel!(handle, command, { timeoutMs: 5000 });
  }

  /** The guest's changes in its workspace since the prepare (the patch with `patch`). Reads only. */
  workspaceDiff(ref: string, opts: { patch?: boolean } = {}): Promise<WorkspaceDiff> {
    const target = this.sshTarget(ref);
    return workspaceDiff(target, this.find(ref).workspace, opts);
  }

  /** Records the checkout a client copied into the VM (the copy went over SSH, client-side). */
  recordWorkspace(ref: string, req: RecordWorkspaceRequest): Promise<WorkspaceInfo> {
    return this.locked(ref, (row) => {
      const ws: WorkspaceInfo = { ...req, preparedAt: new Date().toISOString() };
      this.deps.repo.setWorkspace(row.id, ws);
      return Promise.resolve(ws);
    });
  }

  /** The allowlist after `vm set --allow/--deny`: entries validated, denied ones removed. */
  private changedAllow(row: VMRow, req: SetVMRequest): string[] {
    if (req.allow === undefined && row.spec.allow === undefined) {
      throw badRequest(`vm ${row.name} has no allowlist to remove entries from`, `add entries with banger vm set ${row.name} --allow example.com`);
    }
    const deny = new Set(checkAllow(req.deny ?? []));
    const next = checkAllow([...(row.spec.allow ?? []), ...(req.allow ?? [])]);
    for (const d of deny) {
      if (!next.includes(d)) throw badRequest(`"${d}" is not in the allowlist of vm ${row.name} (${next.join(', ') || 'empty'})`, `see it with banger vm egress ${row.name}`);
    }
    return next.filter((e) => !deny.has(e));
  }

  // ---- warm starts: snapshots, restore, fork ----

  private precheckRestore(req: CreateVMRequest): void {
    const shaped = (['image', 'vcpu', 'memoryMiB', 'diskSize', 'rootSize'] as const).filter((k) => req[k] !== undefined);
    if (shaped.length > 0) {
      throw badRequest(`--from restores the snapshot's machine as it was saved; ${shaped.join(', ')} cannot be changed`, 'leave out --image, --vcpu, --memory, --disk-size and --root-size (change them later with banger vm set)');
    }
    if (req.noStart) throw badRequest('--no-start cannot be used with --from: a restore resumes the saved machine', 'create it without --no-start');
    if (req.cold) throw badRequest('--cold cannot be used with --from: --from restores that snapshot', 'drop --cold, or drop --from to boot from the image');
    if (req.name !== undefined && req.name !== '') {
      validateVMName(req.name);
      if (this.deps.repo.nameTaken(req.name)) throw alreadyExists(`vm ${JSON.stringify(req.name)} already exists`, `pick another --name`);
    }
    resolveSnapshot(this.deps.snapshots, req.fromSnapshot!);
  }

  /**
   * `checked`: the snapshot's manifest, its files already verified by the caller (a fork, once for all
   * children). `onSshdReload`: called when the restored sshd had to be restarted to serve the new key.
   */
  private async createFromSnapshot(req: CreateVMRequest, ctx: OpContext, checked?: SnapshotManifest, onSshdReload?: () => void): Promise<VMInfo> {
    this.precheckRestore(req);
    const snap = resolveSnapshot(this.deps.snapshots, req.fromSnapshot!);
    const sf = snapshotFiles(this.deps.layout.snapshotsDir, snap.id);
    const manifest = checked ?? (await readManifest(sf.manifest));
    const driver = await ctx.stage('hypervisor', 'choosing the hypervisor', () => this.deps.hypervisors.driver(req.driver ?? manifest.driver.driver));
    const ops = snapshotOps(driver);
    const accel = (await driver.probe()).accel ?? 'tcg';
    const problem = compatibilityProblem(manifest, { driver: driver.capabilities().name, version: await ops.stateVersion(), accel });
    if (problem) throw problem;
    refuseUnaddressable(manifest, driver);
    if (!checked) await ctx.stage('verify', `checking snapshot ${snap.name}`, () => verifyFiles(sf.dir, manifest, ctx.signal));
    const m = manifest.machine;
    const spec: VMSpec = {
      vcpu: m.vcpu, memoryMiB: m.memoryMiB, diskSizeBytes: m.diskSizeBytes, ...(m.rootSizeBytes !== undefined ? { rootSizeBytes: m.rootSizeBytes } : {}), nat: req.nat ?? false, driver: driver.capabilities().name,
      // A bridge-mode snapshot restores onto a tap of the new VM's own (its saved NIC is a tap device).
      ...(m.network === 'tap' ? { network: 'bridge' as const } : {}),
    };
    if (this.deps.repo.nameTaken(req.name ?? '')) throw alreadyExists(`vm ${JSON.stringify(req.name)} already exists`, 'pick another --name');
    const reserved = this.reserveWith(req.name, spec);
    return this.lifecycle.withLock(reserved.id, async () => {
      ctx.log(`${reserved.name}: restoring snapshot ${snap.name} (${specLine(spec)})`);
      const row = this.deps.repo.update(reserved.id, { imageId: manifest.image.id });
      let launched = false;
      try {
        return this.view(await this.restoreLocked(row, snap, ctx, { template: false, manifest, onLaunch: () => (launched = true), ...(onSshdReload ? { onSshdReload } : {}) }));
      } catch (err) {
        if (!launched || ctx.signal.aborted) {
          await this.destroy(this.deps.repo.get(row.id) ?? row).catch((e: unknown) => this.deps.logger.warn('cleanup after failed restore', { vm: row.name, error: e }));
          throw err;
        }
        throw withKeptHint(err, row.name);
      }
    });
  }

  /**
   * Restores a reserved VM (held under its lock) from a snapshot or warm pool template: disks over the
   * frozen ones, the saved state loaded, its own identity, then (a template) the work disk grown to
   * what the VM asked for. The caller cleans up on failure.
   */
  private async restoreLocked(
    reserved: VMRow,
    snap: SnapshotRow,
    ctx: OpContext,
    opts: { template: boolean; manifest?: SnapshotManifest; onLaunch?: () => void; onSshdReload?: () => void },
  ): Promise<VMRow> {
    const sf = snapshotFiles(this.deps.layout.snapshotsDir, snap.id);
    const manifest = opts.manifest ?? (await readManifest(sf.manifest));
    const driver = await this.driverOf(reserved);
    const ops = snapshotOps(driver);
    refuseUnaddressable(manifest, driver);
    if (opts.template) {
      // A template is banger's own and its fingerprint was checked; its files must be there (not re-hashed).
      const problem = compatibilityProblem(manifest, { driver: driver.capabilities().name, version: await ops.stateVersion(), accel: (await driver.probe()).accel ?? 'tcg' });
      if (problem) throw problem;
      await verifyFiles(sf.dir, manifest, ctx.signal, { hash: false });
    }
    const m = manifest.machine;
    let row = reserved;
    this.deps.snapshots.addDependent(row.id, snap.id);
    faultPoint('restore.reserved');
    const files = vmFiles(this.deps.layout.vmsDir, row.id);
    await ctx.stage('disks', `making disks over ${opts.template ? 'the warm pool template' : 'the snapshot'}`, async () => {
      mkdirSync(files.dir, { recursive: true, mode: 0o700 });
      for (const d of manifest.disks) {
        const target = d.role === 'root' ? files.rootDisk(d.format) : files.workDisk;
        await ops.createDiskOver({ path: join(sf.dir, d.file), format: d.format }, target, { signal: ctx.signal });
      }
    });
    faultPoint('restore.disks');
    row = this.lifecycle.transition(row.id, 'starting');
    opts.onLaunch?.();
    const restore = {
      memoryFile: join(sf.dir, manifest.memory.file),
      ...(manifest.ram ? { ramFile: join(sf.dir, manifest.ram.file) } : {}),
      kernelPath: m.kernelPath,
      ...(m.initrdPath ? { initrdPath: m.initrdPath } : {}),
      cmdline: m.cmdline,
      snapshotHostKey: readFileSync(join(sf.dir, manifest.hostKeyFile), 'utf8'),
      // Saved on a tap: the guest holds the source's MAC and address until it is told its own.
      readdress: m.network === 'tap',
      identityChannel: manifest.identityChannel === true,
      ...(opts.onSshdReload ? { onSshdReload: opts.onSshdReload } : {}),
    };
    const running = await this.boot(row, ctx, restore);
    if (running.spec.diskSizeBytes > m.diskSizeBytes) {
      await ctx.stage('grow', `growing the work disk to ${formatSize(running.spec.diskSizeBytes)}`, () => this.growWorkDisk(running, driver, running.spec.diskSizeBytes)).catch((err: unknown) => {
        ctx.log(`could not grow the work disk of ${running.name} past ${formatSize(m.diskSizeBytes)}: ${(err as Error).message}`, 'warn');
        this.deps.repo.update(running.id, { spec: { ...running.spec, diskSizeBytes: m.diskSizeBytes } });
      });
    }
    return this.deps.repo.get(running.id) ?? running;
  }

  /** Grows a running VM's work disk (driver, then the mounted filesystem inside the guest). */
  private async growWorkDisk(row: VMRow, driver: HypervisorDriver, sizeBytes: number): Promise<void> {
    const handle = this.teardown.handleOf(row.id);
    const ops = driver.snapshots;
    if (!handle || !ops?.growDisk) throw unavailable(`the ${driver.capabilities().name} driver cannot grow a running disk`);
    await ops.growDisk(handle, WORK_DISK_INDEX, sizeBytes);
    // The guest kernel learns the new size from the resize notification; give it a moment, then grow the filesystem.
    const script = `for i in $(seq 50); do [ "$(blockdev --getsize64 ${WORK_DISK_DEVICE})" -ge ${sizeBytes} ] && break; sleep 0.1; done; resize2fs ${WORK_DISK_DEVICE}`;
    const r = await sshExec(sshTargetFor(this.deps, row), ['sh', '-c', script], { timeoutMs: 300_000, connectTimeoutS: 10 });
    if (r.code !== 0) throw operationFailed(`resize2fs exited ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join('; ')}`);
  }

  // ---- warm pool ----

  /**
   * Whether the warm pool serves this create: a template to restore from, or the reason for a cold
   * boot and (when the pool applies) the fingerprint a template built after it would have.
   */
  private async poolDecision(req: CreateVMRequest, row: VMRow, image: ImageInfo, driver: HypervisorDriver): Promise<{ use?: SnapshotRow; reason?: string; fingerprint?: { fingerprint: string; parts: Record<string, string> } } | undefined> {
    const ineligible = poolIneligible({
      enabled: this.deps.config.warm_pool,
      req,
      driver: driver.capabilities().name,
      driverSnapshots: Boolean(driver.capabilities().snapshots && driver.snapshots),
      guestChannel: driver.guestChannel !== undefined,
      network: networkModeOf(row, this.deps.config.network_mode),
      egress: Boolean(row.spec.nat || row.spec.allow),
    });
    if (ineligible === 'not a pool start') return undefined;
    if (ineligible) return { reason: ineligible };
    try {
      const fingerprint = await this.pool.fingerprint(image, driver);
      const choice = chooseTemplate(this.pool.templates(), image.id, row.spec, fingerprint.fingerprint);
      if ('use' in choice) return { use: choice.use };
      return { reason: `${choice.cold}; a template is built in the background`, fingerprint };
    } catch (err) {
      this.deps.logger.warn('warm pool: cannot decide, booting cold', { error: (err as Error).message });
      return { reason: `the warm pool could not be used: ${(err as Error).message}` };
    }
  }

  /** Reserves and boots a hidden VM for a template build; on failure it is removed. */
  private async bootHidden(name: string, image: ImageInfo, spec: VMSpec, ctx: OpContext): Promise<string> {
    const reserved = this.reserveWith(name, spec);
    return this.lifecycle.withLock(reserved.id, async () => {
      try {
        const driver = await this.driverOf(reserved);
        const row = this.deps.repo.update(reserved.id, { imageId: image.id });
        await ctx.stage('disks', 'preparing disks', () => prepareDisks(driver, vmFiles(this.deps.layout.vmsDir, row.id), image, row.spec, ctx.signal));
        await this.boot(this.lifecycle.transition(row.id, 'starting'), ctx);
        await ctx.stage('settle', 'waiting for the guest to finish booting', () => this.settleTemplate(row.id, ctx));
        return row.id;
      } catch (err) {
        // The VM is removed; what its console said goes to the daemon log first.
        const tail = lastLines(readFileSafe(vmFiles(this.deps.layout.vmsDir, reserved.id).consoleLog), 20);
        if (tail) this.deps.logger.warn('warm pool: the build VM console before it was removed', { vm: name, console: tail });
        await this.destroy(this.deps.repo.get(reserved.id) ?? reserved).catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Waits, within TEMPLATE_SETTLE_MS, until the build VM's boot has finished (units started after sshd,
   * such as docker, are up): otherwise every VM restored from the template finishes that boot itself.
   * A guest that does not settle in time (or a degraded one) is saved as it is.
   */
  private async settleTemplate(vmId: string, ctx: OpContext): Promise<void> {
    const row = this.deps.repo.get(vmId);
    if (!row) return;
    try {
      const r = await sshExec(sshTargetFor(this.deps, row), ['systemctl', 'is-system-running', '--wait'], { timeoutMs: TEMPLATE_SETTLE_MS, connectTimeoutS: 5, signal: ctx.signal });
      if (r.code !== 0) this.deps.logger.info('warm pool: the build VM settled as', { vm: row.name, state: r.stdout.trim() || `exit ${r.code}` });
    } catch (err) {
      ctx.signal.throwIfAborted();
      this.deps.logger.warn('warm pool: the build VM did not settle; saving it as it is', { vm: row.name, error: (err as Error).message });
    }
  }

  /** Saves a hidden build VM as a template (its process ended); the caller records it and removes the VM. */
  private saveHidden(vmId: string, snap: { id: string; name: string; pool: NonNullable<SnapshotManifest['pool']> }, ctx: OpContext): Promise<SnapshotRow> {
    return this.lifecycle.withLock(vmId, async () => {
      const row = this.deps.repo.get(vmId);
      const handle = this.teardown.handleOf(vmId);
      if (!row || row.state !== 'running' || !handle) throw notRunning(`the warm pool build VM ${vmId} is not running`);
      const driver = this.deps.hypervisors.forHandle(handle);
      const saved = await takeSnapshot(this.deps, driver, row, handle, { ...snap, stop: true }, ctx);
      this.lifecycle.transition(row.id, 'stopping');
      await this.teardown.end(row.id, 0);
      this.lifecycle.transition(row.id, 'stopped', { reason: 'saved as a warm pool template' });
      return saved;
    });
  }

  /** The templates, each ready or stale against its image's fingerprint now. */
  async poolList(): Promise<PoolTemplateInfo[]> {
    const driver = await this.deps.hypervisors.driver().catch(() => undefined);
    const current = new Map<string, string | undefined>();
    for (const t of this.deps.snapshots.poolTemplates()) {
      if (current.has(t.imageId)) continue;
      const image = this.deps.images.byId(t.imageId);
      current.set(t.imageId, image && driver?.snapshots ? (await this.pool.fingerprint(image, driver).catch(() => undefined))?.fingerprint : undefined);
    }
    return this.pool.list((id) => current.get(id));
  }

  poolClear(): Promise<PoolClearResult> {
    return this.pool.clear();
  }

  /** After an image is deleted: its templates go (builds in flight are cancelled). */
  poolForgetImage(imageId: string): Promise<void> {
    return this.pool.forgetImage(imageId);
  }

  /** Checks a snapshot request before an operation starts. */
  precheckSnapshot(ref: string, req: CreateSnapshotRequest): void {
    const row = observe(this.deps, this.find(ref));
    if (row.state !== 'running') {
      throw notRunning(`vm ${row.name} is ${row.state}: a snapshot saves a running VM's memory`, `start it with banger vm start ${row.name}, then take the snapshot`);
    }
    if (networkModeOf(row, this.deps.config.network_mode) === 'bridge') {
      // Bridge mode needs a guest channel to re-address restored copies (readdress.ts); the guest bits are checked when saving.
      const handle = this.teardown.handleOf(row.id);
      const driver = handle ? this.deps.hypervisors.forHandle(handle) : undefined;
      if (!driver?.guestChannel) {
        throw badRequest(`vm ${row.name} uses bridge networking, and snapshots of bridge-mode VMs are not supported yet (a restored guest would keep its source's address)`, 'snapshot a user-mode VM (created with --network user)');
      }
    }
    if (req.name !== undefined) {
      validateVMName(req.name);
      if (this.deps.snapshots.nameTaken(req.name)) throw alreadyExists(`snapshot ${JSON.stringify(req.name)} already exists`, `pick another --name, or delete it with banger vm snapshot delete ${req.name}`);
    }
  }

  /** Saves a running VM as a snapshot; it keeps running (with a new host key) unless req.stop. */
  async snapshotCreate(ref: string, req: CreateSnapshotRequest, ctx: OpContext): Promise<SnapshotInfo> {
    this.precheckSnapshot(ref, req);
    return this.locked(ref, async (row) => {
      const snap = await this.takeLocked(row, req, ctx);
      if (req.stop === true) {
        this.lifecycle.transition(row.id, 'stopping');
        await this.teardown.end(row.id, 0);
        // Ending the VM removed its RAM file, the RAM image's other link: the sum taken at save time still holds.
        keepHashAfterUnlink(snapshotFiles(this.deps.layout.snapshotsDir, snap.id).ram);
        this.lifecycle.transition(row.id, 'stopped', { reason: `stopped after snapshot ${snap.name}` });
        await rekeyStopped(this.deps, row);
      } else {
        await this.rekeySource(row, ctx, snap);
      }
      return toSnapshotInfo(snap, this.deps.snapshots, this.deps.images);
    });
  }

  /**
   * Takes and records a snapshot of a running VM (the caller holds its lock). With deferHash the
   * snapshot is published before its memory is hashed; the caller starts the hash (this.hashes).
   */
  private async takeLocked(row: VMRow, req: CreateSnapshotRequest, ctx: OpContext, opts: { deferHash?: boolean } = {}): Promise<TakenSnapshot> {
    if (row.state !== 'running') throw notRunning(`vm ${row.name} is ${row.state}: a snapshot saves a running VM's memory`, `start it with banger vm start ${row.name}`);
    const handle = this.teardown.handleOf(row.id);
    if (!handle) throw notRunning(`vm ${row.name} has no running process`, `start it with banger vm start ${row.name}`);
    const driver = this.deps.hypervisors.forHandle(handle);
    snapshotOps(driver);
    let id: string;
    do id = randomBytes(6).toString('hex');
    while (this.deps.snapshots.get(id, true));
    const name = req.name ?? this.snapshotName(row.name);
    if (this.deps.snapshots.nameTaken(name)) throw alreadyExists(`snapshot ${JSON.stringify(name)} already exists`, 'pick another --name');
    const snap = await takeSnapshot(this.deps, driver, row, handle, { id, name, stop: req.stop === true, ...(opts.deferHash ? { deferHash: true } : {}) }, ctx);
    this.deps.snapshots.insert(snap);
    return snap;
  }

  /** The guest channel of a running source VM, when its snapshot found the channel answering. */
  private sourceChannel(row: VMRow, snap: TakenSnapshot, ctx: OpContext): ((command: `identity ${string}`) => Promise<string>) | undefined {
    const handle = this.teardown.handleOf(row.id);
    const ops = handle ? this.deps.hypervisors.forHandle(handle).snapshots : undefined;
    if (!handle || !ops?.guestCommand || snap.manifest.identityChannel !== true) return undefined;
    return (command) => ops.guestCommand!(handle, command, { timeoutMs: CHANNEL_IDENTITY_MS, signal: ctx.signal });
  }

  /**
   * The snapshot holds the key the VM served until now; the VM moves to a new one so no running VM
   * serves it. Over the guest channel when the snapshot found it answering. A failure is a warning.
   */
  private async rekeySource(row: VMRow, ctx: OpContext, snap: TakenSnapshot): Promise<void> {
    const channel = this.sourceChannel(row, snap, ctx);
    try {
      await ctx.stage('rekey', `giving ${row.name} a new host key${channel ? ' over the guest channel' : ''}`, () => rekeyRunning(this.deps, row, ctx.signal, channel));
    } catch (err) {
      ctx.log(`could not give ${row.name} a new host key: ${(err as Error).message}`, 'warn');
    }
  }

  /**
   * The parent of a fork moves to a new key while its children restore: over the guest channel it is
   * a few shell builtins and four renames in the parent, no login. True once the key is in place and
   * pinned; false (and a warning) when the channel did not take it.
   */
  private async rekeyParentEarly(row: VMRow, ctx: OpContext, snap: TakenSnapshot): Promise<boolean> {
    const channel = this.sourceChannel(row, snap, ctx);
    if (!channel) return false;
    try {
      return await ctx.stage('rekey', `giving ${row.name} a new host key over the guest channel`, () => rekeyOverChannel(this.deps, row, channel, ctx.signal));
    } catch (err) {
      ctx.log(`could not give ${row.name} a new host key over the guest channel: ${(err as Error).message}`, 'warn');
      return false;
    }
  }

  /**
   * The rest of a fork parent's new key. Not in place yet: the whole of rekeySource. In place: its
   * children are copies of the same sshd, each just proven to serve the key written under it; when
   * none had to be restarted for that, the parent's sshd serves its new key too, and a login to show
   * it would only take CPU from the children. Otherwise it is proven here, restarted if need be.
   */
  private async finishParentRekey(row: VMRow, ctx: OpContext, snap: TakenSnapshot, inPlace: boolean, shownByChildren: boolean): Promise<void> {
    if (!inPlace) return this.rekeySource(row, ctx, snap);
    if (shownByChildren) return;
    try {
      await ctx.stage('rekey-check', `checking that ${row.name} serves its new host key`, () => proveRunningKey(this.deps, row, ctx.signal));
    } catch (err) {
      ctx.log(`could not show that ${row.name} serves its new host key: ${(err as Error).message}`, 'warn');
    }
  }

  private snapshotName(vm: string): string {
    const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
    for (let i = 0; ; i++) {
      const n = `${vm.slice(0, 40)}-${stamp}${i ? `-${i}` : ''}`;
      if (!this.deps.snapshots.nameTaken(n)) return n;
    }
  }

  snapshotList(): SnapshotInfo[] {
    return this.deps.snapshots.list().map((s) => toSnapshotInfo(s, this.deps.snapshots, this.deps.images));
  }

  snapshotShow(ref: string): SnapshotInfo {
    return toSnapshotInfo(resolveSnapshot(this.deps.snapshots, ref), this.deps.snapshots, this.deps.images);
  }

  /** Refuses while any VM's disks are built over the snapshot, naming them. */
  snapshotDelete(ref: string): Promise<{ deleted: string }> {
    const snap = resolveSnapshot(this.deps.snapshots, ref);
    return this.lifecycle.withLock(`snapshot:${snap.id}`, async () => {
      const users = this.deps.snapshots.dependents(snap.id);
      if (users.length > 0) {
        throw badRequest(`snapshot ${snap.name} is in use by ${users.length === 1 ? 'vm' : 'vms'} ${users.join(', ')} (their disks are built over it)`, `delete them first: banger vm delete ${users.join(' ')}`);
      }
      // A hash still running in the background must not write its manifest into the removed directory.
      await this.hashes.cancel(snap.id);
      this.deps.snapshots.delete(snap.id);
      await rm(snap.dir, { recursive: true, force: true });
      return { deleted: snap.name };
    });
  }

  /**
   * Snapshots a running VM and restores `count` children from it concurrently (see fork.ts); the
   * parent keeps running, and holds its lock until the fork is done. The snapshot is published before
   * its memory is hashed (the hash runs in the background once the children are up, see snapshot-hash.ts), and the parent moves to
   * a new host key once the children are up: each child gets a key of its own, none the parent's.
   * Each child gets the parent's workspace record, and with `branch` a guest branch of its own from the
   * parent's HEAD. All or nothing: when a child fails, every child and the snapshot are removed.
   */
  async fork(ref: string, req: ForkVMRequest, ctx: OpContext): Promise<ForkResult> {
    this.checkFork(ref, req);
    const parent = this.find(ref);
    const names = childNames(req.namePrefix ?? parent.name, req.count ?? 1);
    return this.locked(ref, async (row) => {
      const snap = await this.takeLocked(row, { name: this.snapshotName(`${parent.name}-fork`) }, ctx, { deferHash: true });
      // The parent's new key goes over the guest channel while the children restore; what is left of
      // it (finishParentRekey) comes after them: they need the host's CPU first (under TCG it is what a
      // restore waits on), and the parent serves the key its snapshot holds until then either way.
      const early = this.rekeyParentEarly(row, ctx, snap);
      let reloads = 0;
      let rekeyed: Promise<void> | undefined;
      const workspace = this.deps.repo.get(row.id)?.workspace;
      try {
        if (req.branch !== undefined && !workspace) throw badRequest(`vm ${parent.name} lost its workspace during the fork, so --branch has no checkout to branch`, 'fork again without --branch');
        const manifest = snap.manifest;
        // Saved by this fork moments ago (its hash still running): its files are only checked to be there.
        await ctx.stage('verify', `checking snapshot ${snap.name} once for ${names.length} ${names.length === 1 ? 'child' : 'children'}`, () => verifyFiles(snap.dir, manifest, ctx.signal, { hash: false }));
        ctx.log(`restoring ${names.join(', ')} (${Math.min(FORK_PARALLEL, names.length)} at a time)`);
        const children = await restoreChildren(
          names,
          {
            restore: async (name, n, cctx) => {
              await this.createFromSnapshot({ name, fromSnapshot: snap.id }, cctx, manifest, () => reloads++);
              if (workspace) await this.giveWorkspace(name, workspace, req.branch === undefined ? undefined : childBranch(req.branch, n), cctx);
              return this.show(name);
            },
            remove: (name) => this.removeForkChild(name),
          },
          ctx,
        );
        rekeyed = this.finishParentRekey(row, ctx, snap, await early, reloads === 0);
        await rekeyed;
        // The hash of gigabytes of memory takes a host core for seconds: it starts once the children
        // and the parent's new key no longer need the CPU.
        this.hashes.start(snap);
        return { snapshot: snap.name, children };
      } catch (err) {
        await this.snapshotDelete(snap.id).catch((e: unknown) => this.deps.logger.warn('removing the snapshot of a failed fork', { snapshot: snap.name, error: e }));
        throw err;
      } finally {
        // A failed fork proves nothing about the parent's sshd: its new key is checked (or given) here.
        await (rekeyed ?? early.then((inPlace) => this.finishParentRekey(row, ctx, snap, inPlace, false)));
      }
    });
  }

  checkFork(ref: string, req: ForkVMRequest): void {
    this.precheckSnapshot(ref, {});
    const parent = this.find(ref);
    const names = childNames(req.namePrefix ?? parent.name, req.count ?? 1);
    for (const n of names) {
      validateVMName(n);
      if (this.deps.repo.nameTaken(n)) throw alreadyExists(`vm ${JSON.stringify(n)} already exists`, 'pick another --name-prefix');
    }
    if (req.branch !== undefined) {
      if (!parent.workspace) {
        throw badRequest(`vm ${parent.name} has no workspace, so --branch has no checkout to branch`, `copy a checkout in first (banger vm workspace prepare ${parent.name} PATH), or fork without --branch`);
      }
      names.forEach((_, i) => checkBranchName(childBranch(req.branch!, i + 1)));
    }
  }

  /** A fork child's copy of the parent's workspace record; with a branch, the branch is made and checked out in the guest first. */
  private giveWorkspace(name: string, ws: WorkspaceInfo, branch: string | undefined, ctx: OpContext): Promise<void> {
    return this.locked(name, async (row) => {
      if (branch !== undefined) {
        await ctx.stage('branch', `making branch ${branch} in ${ws.guestPath}`, async () => {
          const r = await sshExec(sshTargetFor(this.deps, row), ['git', '-C', ws.guestPath, 'checkout', '-q', '-b', branch], { timeoutMs: 60_000, connectTimeoutS: 10, signal: ctx.signal });
          if (r.code !== 0) throw operationFailed(`git checkout -b ${branch} in ${row.name}:${ws.guestPath} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join('; ')}`);
        });
      }
      this.deps.repo.setWorkspace(row.id, branch === undefined ? ws : { ...ws, branch });
    });
  }

  /** Removes a child of a failed fork; one that failed after launch has its console tail logged first. */
  private async removeForkChild(name: string): Promise<void> {
    const row = this.deps.repo.byName(name);
    if (!row) return;
    if (row.state === 'error') {
      const tail = lastLines(readFileSafe(vmFiles(this.deps.layout.vmsDir, row.id).consoleLog), 20);
      if (tail) this.deps.logger.warn('fork: the console of a failed child before it was removed', { vm: name, console: tail });
    }
    await this.lifecycle.withLock(row.id, async () => {
      const cur = this.deps.repo.get(row.id);
      if (cur) await this.destroy(cur);
    });
  }

  sshTarget(ref: string): SSHTarget {
    const row = observe(this.deps, this.find(ref));
    if (row.state === 'error') {
      throw notRunning(`vm ${row.name} failed to start: ${row.lastError ?? 'unknown error'}`, `see what it printed with banger vm logs ${row.name}, then banger vm start ${row.name}`);
    }
    if (row.state === 'starting') throw notRunning(`vm ${row.name} is still starting`, `wait for it, or see its console with banger vm logs ${row.name}`);
    if (row.state !== 'running') throw notRunning(`vm ${row.name} is not running (state: ${row.state})`, `start it with banger vm start ${row.name}`);
    return sshTargetFor(this.deps, row);
  }

  consoleLog(ref: string): { path: string; name: string; id: string } {
    const row = this.find(ref);
    return { path: vmFiles(this.deps.layout.vmsDir, row.id).consoleLog, name: row.name, id: row.id };
  }

  isActive(id: string): boolean {
    const row = this.deps.repo.get(id);
    return Boolean(row && isActive(observe(this.deps, row).state));
  }

  async stats(ref: string): Promise<VMStats> {
    const row = observe(this.deps, this.find(ref));
    const out: VMStats = { name: row.name, state: row.state, memoryMiB: row.spec.memoryMiB, vcpu: row.spec.vcpu };
    const h = this.teardown.handleOf(row.id);
    if (h && pidAlive(h.pid) && isActive(row.state)) {
      out.pid = h.pid;
      const cpu = cpuSeconds(h.pid);
      const rss = rssBytes(h.pid);
      if (cpu !== undefined) out.cpuSeconds = cpu;
      if (rss !== undefined) out.rssBytes = rss;
      if (row.runtime.startedAt) {
        const up = (Date.now() - Date.parse(row.runtime.startedAt)) / 1000;
        out.uptimeSeconds = Math.round(up);
        if (cpu !== undefined && up > 0) out.cpuPercent = Math.round((cpu / up) * 1000) / 10;
      }
      const driver = this.deps.hypervisors.forHandle(h);
      if (driver.counters) {
        try {
          out.counters = await driver.counters(h);
        } catch (err) {
          out.countersError = err instanceof Error ? err.message : String(err);
        }
      }
    }
    return out;
  }

  /** Asks the guest channel where the driver has one (firecracker's vsock), else (or when it does not answer) SSH. */
  health(ref: string): Promise<VMHealth> {
    const target = this.sshTarget(ref);
    return vmHealth(target, this.guestChannel(this.find(ref)));
  }

  /**
   * Makes the store match reality after a daemon (re)start; see reconcile.ts. `settled` resolves when
   * interrupted work it resumed (readiness waits, stops) has finished.
   */
  async reconcile(): Promise<{ report: ReconcileReport; settled: Promise<void> }> {
    const swept = await this.pool.sweep();
    if (swept.buildVMs.length + swept.templates.length + swept.dirs.length > 0) this.deps.logger.info('warm pool: swept what an interrupted build or save left', { ...swept });
    const out = await reconcile(this.deps, {
      withLock: (id, fn) => this.lifecycle.withLock(id, fn),
      markStopped: async (row, reason) => {
        await this.teardown.end(row.id, 0);
        this.lifecycle.transition(row.id, 'stopped', { reason });
      },
      destroy: (row) => this.destroy(row),
      resumeStarting: async (row) => {
        const handle = this.teardown.handleOf(row.id);
        const cur = this.deps.repo.get(row.id);
        if (!handle || cur?.state !== 'starting') return;
        try {
          const files = vmFiles(this.deps.layout.vmsDir, row.id);
          const image = this.deps.images.byId(cur.imageId);
          const fb = image ? pendingFirstBoot(image, files.firstBootDone) : undefined;
          // The installer's egress is not opened again here: an install cut off by the restart fails
          // (at once, by its console line) unless the VM has --nat, and its next start tries again.
          const installer = fb ? new InstallerWatch(vmFiles(this.deps.layout.vmsDir, row.id).consoleLog, (line) => this.deps.logger.info('first boot', { vm: row.name, line })) : undefined;
          await waitReady(this.deps, cur, handle, new AbortController().signal, installer);
          if (fb) markFirstBootDone(files.firstBootDone);
          this.lifecycle.transition(row.id, 'running');
        } catch (err) {
          await this.teardown.end(row.id, 0);
          this.lifecycle.transition(row.id, 'error', { lastError: (err as Error).message });
        }
      },
      resumeStopping: async (row) => {
        await this.teardown.end(row.id, 30_000);
        this.lifecycle.transition(row.id, 'stopped', { reason: 'stopped' });
      },
      unpause: async (row, handle, driver) => {
        this.deps.logger.info('letting a VM left paused by an interrupted operation run again', { vm: row.name });
        await snapshotOps(driver, 'resume VMs').resume(handle);
      },
      setClock: (row) => setGuestClock(this.deps, row),
    });
    this.syncSSHConfigQuietly();
    return out;
  }

  /** At daemon stop: background snapshot hashes get HASH_STOP_GRACE_MS to finish, then are cancelled; an ssh_config rewrite under way finishes. */
  async stopBackground(): Promise<void> {
    await this.hashes.stop(HASH_STOP_GRACE_MS);
    await this.sshConfigWrites;
  }

  /** Rewrites banger's ssh_config so `ssh <name>.vm` reaches every running VM. */
  syncSSHConfig(): Promise<string> {
    return syncSSHConfig(this.deps);
  }

  /**
   * Rewrites ssh_config after the rewrites already asked for, each from the VMs as they are when it
   * runs: concurrent rewrites (a fork's children all come up at once) could otherwise finish out of
   * order and leave an older list in place. stopBackground waits for the last one.
   */
  private syncSSHConfigQuietly(): void {
    this.sshConfigWrites = this.sshConfigWrites
      .then(() => this.syncSSHConfig())
      .then(
        () => undefined,
        (err: unknown) => this.deps.logger.warn('could not write ssh_config', { error: (err as Error).message }),
      );
  }

  /** Names of VMs using an image (for image delete). */
  usingImage(imageId: string): string[] {
    return this.deps.repo.usingImage(imageId).filter((n) => !isPoolName(n));
  }
}

/** A VM that failed after launch is kept (state error) so its console can be read. */
function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function withKeptHint(err: unknown, name: string): unknown {
  if (err instanceof BangerError && !err.hint) return new BangerError(err.code, err.message, { hint: `the VM is kept; see banger vm logs ${name}`, cause: err });
  return err;
}
