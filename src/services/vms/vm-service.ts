/** VM lifecycle: create, start, stop, restart, kill, delete, set, and what the API shows of VMs. */
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { alreadyExists, BangerError, badRequest, notFound, notRunning } from '../../api/errors.js';
import type { CreateVMRequest, SetVMRequest, SSHTarget, VMInfo, VMStats } from '../../api/types.js';
import { hostAliases, hostKeyAlias, remove as unpinHost } from '../../drivers/ssh/known-hosts.js';
import { writeSSHConfig } from '../../drivers/ssh/ssh-config.js';
import { growExt4 } from '../../drivers/ext4/maintain.js';
import { generateName } from '../../model/namegen.js';
import { validateVMName } from '../../model/vm-name.js';
import { parseSize } from '../../model/size.js';
import { cpuSeconds, pidAlive, rssBytes, waitForExit } from '../../system/proc.js';
import type { VMRow } from '../../store/vms.js';
import { KeyedMutex } from '../keyed-mutex.js';
import type { OpContext } from '../op-context.js';
import { bootVM, clientKeyPath, sshTargetFor } from './boot.js';
import type { VMServiceDeps } from './deps.js';
import { prepareDisks } from './disks.js';
import { vmFiles } from './files.js';
import { readHandles, removeHandles } from './handles.js';
import type { VMHandle } from '../../drivers/hypervisor.js';
import { checkMemory, checkVcpu, resolveSpec, specLine } from './spec.js';
import { toInfo } from './view.js';
import { exec as sshExec } from '../../drivers/ssh/client.js';

const ACTIVE = new Set(['starting', 'running', 'stopping']);

export class VMService {
  private readonly locks = new KeyedMutex();

  constructor(private readonly deps: VMServiceDeps) {}

  private find(nameOrId: string): VMRow {
    const row = this.deps.repo.get(nameOrId);
    if (!row) {
      const names = this.deps.repo.list().map((r) => r.name);
      throw notFound(`vm ${JSON.stringify(nameOrId)} not found`, names.length ? `existing VMs: ${names.join(', ')}` : 'create one with banger vm run');
    }
    return row;
  }

  /** The VM's recorded hypervisor handle; undefined when there is none or it cannot be read. */
  private handleOf(id: string): VMHandle | undefined {
    try {
      return readHandles(vmFiles(this.deps.layout.vmsDir, id).handles);
    } catch {
      return undefined;
    }
  }

  /** Marks a VM whose process has gone (guest poweroff, crash) as stopped. */
  private refresh(row: VMRow): VMRow {
    if (!ACTIVE.has(row.state)) return row;
    const files = vmFiles(this.deps.layout.vmsDir, row.id);
    let handle;
    try {
      handle = readHandles(files.handles);
    } catch {
      return row;
    }
    if (handle && pidAlive(handle.pid)) return row;
    if (row.state === 'starting') return row;
    removeHandles(files.handles);
    return this.deps.repo.update(row.id, { state: 'stopped', runtime: { ...row.runtime, stoppedReason: 'the VM process exited (guest powered off or crashed)' } });
  }

  list(): VMInfo[] {
    return this.deps.repo.list().map((r) => this.view(r));
  }

  show(nameOrId: string): VMInfo {
    return this.view(this.find(nameOrId));
  }

  private view(r: VMRow): VMInfo {
    const problems: string[] = [];
    let pid: number | undefined;
    let row = r;
    try {
      row = this.refresh(r);
      const h = readHandles(vmFiles(this.deps.layout.vmsDir, row.id).handles);
      if (h && ACTIVE.has(row.state)) pid = h.pid;
    } catch (err) {
      problems.push((err as Error).message);
    }
    if (!existsSync(vmFiles(this.deps.layout.vmsDir, row.id).dir) && row.state !== 'created') problems.push('its directory is missing');
    return toInfo(row, this.deps.images, { ...(pid !== undefined ? { pid } : {}), problems });
  }

  /** Reserves the name and id synchronously, so two creates can never take the same name. */
  private reserve(req: CreateVMRequest): VMRow {
    const name = req.name !== undefined && req.name !== '' ? validateVMName(req.name) : generateName((n) => this.deps.repo.nameTaken(n));
    if (this.deps.repo.nameTaken(name)) throw alreadyExists(`vm ${JSON.stringify(name)} already exists`, `pick another --name, or remove it with banger vm delete ${name}`);
    const { spec } = resolveSpec(req, this.deps.config.vm_defaults, this.deps.host);
    const now = new Date().toISOString();
    const row: VMRow = { id: randomBytes(6).toString('hex'), name, imageId: '', state: 'created', spec, runtime: {}, createdAt: now, updatedAt: now };
    this.deps.repo.insert(row);
    return row;
  }

  /** Validates a create request up front (errors before an operation starts). */
  precheck(req: CreateVMRequest): void {
    if (req.name !== undefined && req.name !== '') {
      validateVMName(req.name);
      if (this.deps.repo.nameTaken(req.name)) throw alreadyExists(`vm ${JSON.stringify(req.name)} already exists`, `pick another --name, or remove it with banger vm delete ${req.name}`);
    }
    resolveSpec(req, this.deps.config.vm_defaults, this.deps.host);
  }

  async create(req: CreateVMRequest, ctx: OpContext): Promise<VMInfo> {
    const reserved = this.reserve(req);
    const files = vmFiles(this.deps.layout.vmsDir, reserved.id);
    ctx.log(`${reserved.name}: ${specLine(reserved.spec)}`);
    let row = reserved;
    let booted = false;
    try {
      if (!req.noStart) await ctx.stage('hypervisor', 'choosing the hypervisor', () => this.deps.driver());
      const image = await ctx.stage('image', 'resolving image', () => this.deps.images.resolveForVM(req.image || this.deps.config.default_image_name, ctx));
      row = this.deps.repo.update(row.id, { imageId: image.id });
      await ctx.stage('disks', 'preparing disks', () => prepareDisks(files, image, row.spec.diskSizeBytes, ctx.signal));
      if (req.noStart) return this.view(this.deps.repo.update(row.id, { state: 'stopped' }));
      this.deps.repo.update(row.id, { state: 'starting' });
      booted = true;
      row = await this.locks.run(row.id, () => bootVM(this.deps, { ...row, state: 'starting' }, ctx));
      this.syncSSHConfigQuietly();
      return this.view(row);
    } catch (err) {
      if (ctx.signal.aborted || !booted) {
        await this.destroy(row).catch((e: unknown) => this.deps.logger.warn('cleanup after failed create', { vm: row.name, error: e }));
        throw err;
      }
      const cur = this.deps.repo.get(row.id);
      if (cur && cur.state === 'starting') this.deps.repo.update(row.id, { state: 'error', lastError: (err as Error).message });
      if (err instanceof BangerError && !err.hint) throw new BangerError(err.code, err.message, { hint: `the VM is kept; see banger vm logs ${row.name}` });
      throw err;
    }
  }

  async start(nameOrId: string, ctx: OpContext): Promise<VMInfo> {
    const row0 = this.refresh(this.find(nameOrId));
    return this.locks.run(row0.id, async () => {
      const row = this.refresh(this.find(row0.id));
      if (row.state === 'running') throw badRequest(`vm ${row.name} is already running`, `connect with banger vm ssh ${row.name}`);
      this.deps.repo.update(row.id, { state: 'starting' });
      try {
        const booted = await bootVM(this.deps, { ...row, state: 'starting' }, ctx);
        this.syncSSHConfigQuietly();
        return this.view(booted);
      } catch (err) {
        const cur = this.deps.repo.get(row.id);
        if (ctx.signal.aborted) await this.teardown(row.id, 0);
        else if (cur?.state === 'starting') this.deps.repo.update(row.id, { state: 'error', lastError: (err as Error).message });
        throw err;
      }
    });
  }

  async stop(nameOrId: string, opts: { timeoutMs?: number } = {}): Promise<VMInfo> {
    const row0 = this.find(nameOrId);
    return this.locks.run(row0.id, async () => {
      const row = this.refresh(this.find(row0.id));
      if (!ACTIVE.has(row.state) && row.state !== 'error') return this.view(row);
      this.deps.repo.update(row.id, { state: 'stopping' });
      await this.guestPoweroff(row);
      await this.teardown(row.id, opts.timeoutMs ?? 30_000);
      return this.view(this.find(row.id));
    });
  }

  /** Asks the guest to flush and power off; it is fine if this fails (ACPI and kill follow). */
  private async guestPoweroff(row: VMRow): Promise<void> {
    if (!row.runtime.sshPort) return;
    try {
      await sshExec(sshTargetFor(this.deps, row), ['sh', '-c', 'sync; (systemctl --no-block poweroff || poweroff) >/dev/null 2>&1 &'], { timeoutMs: 8000, connectTimeoutS: 3 });
    } catch (err) {
      this.deps.logger.debug('guest poweroff over ssh failed', { vm: row.name, error: (err as Error).message });
    }
  }

  /** Ends the hypervisor process (graceful within timeoutMs, then killed) and clears runtime handles. */
  private async teardown(id: string, timeoutMs: number, reason = 'stopped'): Promise<void> {
    const files = vmFiles(this.deps.layout.vmsDir, id);
    const handle = this.handleOf(id);
    if (handle) {
      const driver = await this.deps.driver();
      if (await driver.adopt(handle)) {
        if (timeoutMs > 0) await driver.shutdown(handle, { timeoutMs });
        else {
          await driver.kill(handle, 'SIGKILL');
          await waitForExit(handle.pid, 10_000);
        }
      }
    }
    removeHandles(files.handles);
    rmSync(files.runDir, { recursive: true, force: true });
    const row = this.deps.repo.get(id);
    if (row) {
      await this.deps.network.detach(row);
      this.deps.repo.update(id, { state: 'stopped', runtime: { ...row.runtime, stoppedReason: reason } });
      this.syncSSHConfigQuietly();
    }
  }

  async restart(nameOrId: string, ctx: OpContext): Promise<VMInfo> {
    await this.stop(nameOrId);
    return this.start(nameOrId, ctx);
  }

  async kill(nameOrId: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<VMInfo> {
    const row0 = this.find(nameOrId);
    return this.locks.run(row0.id, async () => {
      const row = this.refresh(this.find(row0.id));
      const files = vmFiles(this.deps.layout.vmsDir, row.id);
      const handle = readHandles(files.handles);
      if (!handle || !ACTIVE.has(row.state)) throw notRunning(`vm ${row.name} is not running`, `start it with banger vm start ${row.name}`);
      const driver = await this.deps.driver();
      await driver.kill(handle, signal);
      if (signal === 'SIGKILL' || signal === 'SIGTERM') {
        const deadline = Date.now() + 5000;
        while (pidAlive(handle.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        if (!pidAlive(handle.pid)) await this.teardown(row.id, 0, `killed with ${signal}`);
      }
      return this.view(this.find(row.id));
    });
  }

  /** Removes a VM completely: process, files, pinned keys, row. */
  private async destroy(row: VMRow): Promise<void> {
    await this.teardown(row.id, 0, 'deleted').catch((err: unknown) => this.deps.logger.warn('teardown during delete', { vm: row.name, error: err }));
    rmSync(vmFiles(this.deps.layout.vmsDir, row.id).dir, { recursive: true, force: true });
    await unpinHost(this.deps.layout.knownHostsPath, hostAliases(row)).catch(() => false);
    this.deps.repo.delete(row.id);
  }

  async delete(nameOrId: string): Promise<{ deleted: string }> {
    const row0 = this.find(nameOrId);
    return this.locks.run(row0.id, async () => {
      const row = this.find(row0.id);
      await this.destroy(row);
      return { deleted: row.name };
    });
  }

  async prune(): Promise<{ deleted: string[] }> {
    const deleted: string[] = [];
    for (const r of this.deps.repo.list()) {
      const row = this.refresh(r);
      if (ACTIVE.has(row.state)) continue;
      await this.delete(row.id);
      deleted.push(row.name);
    }
    return { deleted };
  }

  async set(nameOrId: string, req: SetVMRequest): Promise<VMInfo> {
    const row0 = this.find(nameOrId);
    return this.locks.run(row0.id, async () => {
      const row = this.refresh(this.find(row0.id));
      const wantsStopped = req.vcpu !== undefined || req.memoryMiB !== undefined || req.diskSize !== undefined;
      if (wantsStopped && ACTIVE.has(row.state)) {
        throw badRequest(`vm ${row.name} is running; --vcpu, --memory and --disk-size change a stopped VM`, `stop it first: banger vm stop ${row.name}`);
      }
      const spec = { ...row.spec };
      if (req.vcpu !== undefined) spec.vcpu = checkVcpu(req.vcpu, this.deps.host);
      if (req.memoryMiB !== undefined) spec.memoryMiB = checkMemory(req.memoryMiB, this.deps.host);
      if (req.nat !== undefined) spec.nat = req.nat;
      if (req.diskSize !== undefined) {
        const bytes = parseSize(req.diskSize);
        if (bytes < row.spec.diskSizeBytes) throw badRequest(`the work disk can only grow (it is ${row.spec.diskSizeBytes} bytes)`, 'pass a larger --disk-size');
        if (bytes > row.spec.diskSizeBytes) {
          await growExt4(vmFiles(this.deps.layout.vmsDir, row.id).workDisk, bytes);
          spec.diskSizeBytes = bytes;
        }
      }
      return this.view(this.deps.repo.update(row.id, { spec }));
    });
  }

  sshTarget(nameOrId: string): SSHTarget {
    const row = this.refresh(this.find(nameOrId));
    if (row.state !== 'running') throw notRunning(`vm ${row.name} is not running (state: ${row.state})`, `start it with banger vm start ${row.name}`);
    return sshTargetFor(this.deps, row);
  }

  consoleLog(nameOrId: string): { path: string; name: string; id: string } {
    const row = this.find(nameOrId);
    return { path: vmFiles(this.deps.layout.vmsDir, row.id).consoleLog, name: row.name, id: row.id };
  }

  isActive(id: string): boolean {
    const row = this.deps.repo.get(id);
    return Boolean(row && ACTIVE.has(this.refresh(row).state));
  }

  stats(nameOrId: string): VMStats {
    const row = this.refresh(this.find(nameOrId));
    const out: VMStats = { name: row.name, state: row.state, memoryMiB: row.spec.memoryMiB, vcpu: row.spec.vcpu };
    const h = this.handleOf(row.id);
    if (h && pidAlive(h.pid)) {
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
    }
    return out;
  }

  async health(nameOrId: string): Promise<{ name: string; ok: boolean; sshMs?: number; error?: string }> {
    const target = this.sshTarget(nameOrId);
    const t0 = Date.now();
    try {
      const r = await sshExec(target, ['true'], { timeoutMs: 15_000, connectTimeoutS: 5 });
      return r.code === 0 ? { name: target.vm, ok: true, sshMs: Date.now() - t0 } : { name: target.vm, ok: false, error: `true exited ${r.code}` };
    } catch (err) {
      return { name: target.vm, ok: false, error: (err as Error).message };
    }
  }

  /** Rewrites banger's ssh_config so `ssh <name>.vm` reaches every running VM. */
  async syncSSHConfig(): Promise<string> {
    const hosts = this.deps.repo
      .list()
      .filter((r) => r.state === 'running' && r.runtime.sshPort)
      .map((r) => ({ alias: `${r.name}.vm`, hostName: r.runtime.sshHost ?? '127.0.0.1', port: r.runtime.sshPort!, hostKeyAlias: hostKeyAlias(r.id) }));
    await writeSSHConfig(this.deps.layout.sshConfigPath, { keyPath: clientKeyPath(this.deps), knownHostsPath: this.deps.layout.knownHostsPath, hosts });
    return this.deps.layout.sshConfigPath;
  }

  private syncSSHConfigQuietly(): void {
    this.syncSSHConfig().catch((err: unknown) => this.deps.logger.warn('could not write ssh_config', { error: (err as Error).message }));
  }

  /** Names of VMs using an image (for image delete). */
  usingImage(imageId: string): string[] {
    return this.deps.repo.usingImage(imageId);
  }
}
