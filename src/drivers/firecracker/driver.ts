/**
 * The Firecracker driver: each VM is a firecracker process (optionally under its jailer) started
 * detached with its API socket (umask 077), configured over the REST API (logger, metrics,
 * machine-config, boot-source, drives, tap network interface, vsock), then InstanceStart. The
 * guest's serial console is firecracker's stdout, appended to the console log. Graceful stop is
 * SendCtrlAltDel (the guest bits map ctrl-alt-del to poweroff), then SIGTERM/SIGKILL; adoption
 * after a daemon restart checks pid, command line and that the API socket answers.
 *
 * @module
 */
import { constants, existsSync } from 'node:fs';
import { access, chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { alreadyExists, operationFailed, unavailable } from '../../api/errors.js';
import { firecrackerRunFiles, runFiles } from '../../model/filenames.js';
import { lastLines, spawnDetached, which } from '../../system/exec.js';
import { findProcesses, isAlive, listProcesses, readCmdline, signalProcess } from '../../system/proc.js';
import type { DriverCapabilities, GuestChannelCommand, HypervisorDriver, LaunchSpec, OwnProcess, ProbeResult, SavedState, SnapshotOps, VMCounters, VMHandle } from '../hypervisor.js';
import { diskOverFrozen, freezeDiskFile } from '../qemu/snapshot.js';
import { validateSpec } from '../qemu/argv.js';
import { createRawRootDisk } from '../fake/root-disk.js';
import { argvHash, checkLaunchInputs, FORCE_WAIT_MS, VmmProcessDriver } from '../vmm-process.js';
import { ApiWaitError, FirecrackerApi, FirecrackerApiError, waitForApi } from './api.js';
import { configCalls } from './config.js';
import { isJailedArgv, JAIL, JAIL_MARKER, jailerArgv, jailFor, jailOfSocket, prepareJail, removeJail, sweepJails, type JailerOptions, type JailPaths } from './jailer.js';
import { sumMetrics } from './metrics.js';
import { bootProbe } from './probe.js';
import { FC_FIX_HINT, firecrackerVersion, versionProblem } from './version.js';
import { assertKernelFits, assertVirtioMmio, ensureVmlinux } from './vmlinux.js';
import { guestChannel } from './vsock.js';
import { checkRestoreInputs, linkDisks, moveOut, restoreCalls, snapshotVersionProblem, stateFileOf, stateVersionString, VMSTATE_SUFFIX } from './snapshot.js';
import type { ApiCall, SnapshotType } from './types.js';

export const DEFAULT_FIRECRACKER_BIN = 'firecracker';
export const KVM_DEVICE = '/dev/kvm';
/** The guest CID; Firecracker's vsock is a per-VM unix socket on the host, so every guest can use the same one. */
export const GUEST_CID = 3;

export interface FirecrackerDriverOptions {
  /** firecracker_bin, or found on PATH. */
  bin?: string;
  /** Run firecracker under the jailer (jailer_enabled, jailer_bin, jailer_chroot_base, uid/gid). */
  jailer?: JailerOptions;
  kvmDevice?: string;
  /** How long firecracker may take to serve its API socket (default 10 s). */
  startTimeoutMs?: number;
  /** Timeout of each API call (default 3 s). */
  apiTimeoutMs?: number;
  /** Timeout of snapshot create and load, which move the guest's memory (default 10 min). */
  stateTimeoutMs?: number;
  /** Track dirty pages so Diff snapshots can be taken (costs some memory bandwidth). */
  trackDirtyPages?: boolean;
  log?: (message: string) => void;
}

/** A snapshot's two files: the microVM state and the guest memory. */
export interface FcSnapshotFiles {
  statePath: string;
  memPath: string;
}

export class FirecrackerDriver extends VmmProcessDriver implements HypervisorDriver {
  protected readonly driverName = 'firecracker' as const;
  protected readonly powerdownWords = 'sent SendCtrlAltDel';

  constructor(private readonly opts: FirecrackerDriverOptions = {}) {
    super();
  }

  capabilities(): DriverCapabilities {
    return { name: 'firecracker', accel: 'kvm', networkModes: ['tap'], rootDiskFormat: 'raw', survivesDaemonRestart: true, snapshots: true };
  }

  private get bin(): string {
    return this.opts.bin || DEFAULT_FIRECRACKER_BIN;
  }

  /** The binary, its version (1.5 to 1.16), a KVM device this user can open, and a tiny microVM that really boots. */
  async probe(opts: { signal?: AbortSignal } = {}): Promise<ProbeResult> {
    const found = which(this.bin);
    if (!found) return { available: false, reason: `${this.bin} not found`, fixHint: FC_FIX_HINT };
    const { version, said } = await firecrackerVersion(found);
    if (!version) return { available: false, reason: `${found} --version did not name a firecracker release (${said})`, fixHint: FC_FIX_HINT };
    const v = version.join('.');
    const problem = versionProblem(version);
    if (problem) return { available: false, version: v, reason: `${problem} (${found})`, fixHint: FC_FIX_HINT };
    const kvm = await kvmProblem(this.opts.kvmDevice ?? KVM_DEVICE);
    if (kvm) return { available: false, version: v, reason: `firecracker ${v} at ${found}, but ${kvm}`, fixHint: 'firecracker needs KVM: enable virtualisation in the firmware, load kvm_intel or kvm_amd, and join the kvm group' };
    const boot = await bootProbe(found, { timeoutMs: this.opts.startTimeoutMs ?? 10_000, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (!boot.ok) return { available: false, version: v, reason: `firecracker ${v} at ${found}: ${boot.reason}`, fixHint: `see if ${found} runs a microVM by hand (its README's getting-started), or set driver = "qemu"` };
    const jail = this.opts.jailer ? `; under ${this.opts.jailer.bin} in ${this.opts.jailer.chrootBase}` : '';
    return { available: true, accel: 'kvm', version: v, reason: `firecracker ${v} at ${found} with ${this.opts.kvmDevice ?? KVM_DEVICE}: ${boot.detail}${jail}` };
  }

  launch(spec: LaunchSpec, opts: { signal?: AbortSignal } = {}): Promise<VMHandle> {
    return this.start(spec, opts);
  }

  /** Boots the VM, or (restore) loads saved state into a fresh firecracker with the spec's own disks, tap and sockets. */
  private async start(spec: LaunchSpec, opts: { signal?: AbortSignal }, restore?: { memoryFile: string }): Promise<VMHandle> {
    validateSpec(spec);
    const { bin, version } = await this.usableBinary();
    if (restore) {
      const problem = snapshotVersionProblem(version);
      if (problem) throw unavailable(problem, FC_FIX_HINT);
      await checkRestoreInputs(spec, restore.memoryFile);
    } else {
      await checkLaunchInputs(spec);
    }
    const files = firecrackerRunFiles(spec.runDir);
    await mkdir(spec.runDir, { recursive: true, mode: 0o700 });
    await chmod(spec.runDir, 0o700);
    const jail = this.opts.jailer ? jailFor(this.opts.jailer, bin, spec.vmId) : undefined;
    const sock = jail ? jail.apiSock : runFiles(spec.runDir).controlSocket;
    const marker = this.controlMarker(sock);
    const running = findProcesses((argv) => argv.includes(marker));
    if (running.length > 0) throw alreadyExists(`vm "${spec.name}" is already running (pid ${running.join(', ')})`);
    await this.removeRunFiles(spec.runDir, sock);

    let kernelPath: string | undefined;
    if (!restore) {
      const kernel = await ensureVmlinux(spec.kernelPath, files.vmlinux);
      const hasInitrd = spec.initrdPath !== undefined;
      const kconfig = await kernelConfigFor(spec.kernelPath);
      if (kconfig) assertKernelFits(kconfig.text, { what: `kernel ${spec.kernelPath} (config ${kconfig.path})`, hasInitrd });
      else if (kernel.embeddedConfig) assertKernelFits(kernel.embeddedConfig, { what: `kernel ${spec.kernelPath} (its built-in config)`, hasInitrd });
      else assertVirtioMmio(kernel, { what: `kernel ${spec.kernelPath}`, hasInitrd });
      kernelPath = kernel.path;
    }
    opts.signal?.throwIfAborted();

    let paths: JailPaths;
    let argv: string[];
    const saved = restore ? [restore.memoryFile, stateFileOf(restore.memoryFile)] : [];
    if (jail && this.opts.jailer) {
      paths = await prepareJail(jail, this.opts.jailer, spec, { ...(kernelPath ? { kernel: kernelPath } : {}), extra: saved.map((f, i) => [f, i === 0 ? JAIL.memory : JAIL.state] as const) });
      argv = jailerArgv(this.opts.jailer, bin, spec);
    } else {
      paths = { disks: await linkDisks(spec), log: files.log, metrics: files.metrics, vsock: files.vsock, extra: saved };
      if (kernelPath) paths.kernel = kernelPath;
      if (spec.initrdPath) paths.initrd = spec.initrdPath;
      argv = [bin, '--api-sock', sock, '--id', spec.vmId];
    }
    const trackDirtyPages = this.opts.trackDirtyPages ?? false;
    const calls = restore
      ? restoreCalls(spec, { ...paths, memory: paths.extra[0]!, state: paths.extra[1]! }, { trackDirtyPages })
      : [...configCalls(spec, { ...paths, kernel: paths.kernel! }, { cid: GUEST_CID, trackDirtyPages }), INSTANCE_START];
    if (!jail) {
      // Firecracker's logger and metrics open files that exist.
      for (const f of [files.log, files.metrics]) await writeFile(f, '', { mode: 0o600 });
    }
    const startedAt = new Date().toISOString();
    const pid = spawnDetached(argv, { logFile: spec.consoleLog, cwd: jail ? '/' : spec.runDir, umask: 0o077 });
    const timeoutMs = this.opts.startTimeoutMs ?? 10_000;
    const fail = async (message: string, hint?: string, cause?: unknown): Promise<never> => {
      await this.cleanupFailedStart(spec.runDir, sock, pid);
      opts.signal?.throwIfAborted();
      throw operationFailed(message, hint, cause);
    };
    try {
      await waitForApi(sock, { timeoutMs, stillStarting: () => isAlive(pid) && !opts.signal?.aborted });
    } catch (err) {
      const said = lastLines(await readFile(spec.consoleLog, 'utf8').catch(() => ''), 4);
      if (err instanceof ApiWaitError && err.reason === 'timeout') {
        return fail(`firecracker did not serve its API socket ${sock} within ${timeoutMs}ms for vm "${spec.name}"; see ${spec.consoleLog} and ${jail ? join(jail.root, paths.log) : files.log}${said ? `:\n${said}` : ''}`, undefined, err);
      }
      return fail(`firecracker exited before serving its API for vm "${spec.name}"; see ${spec.consoleLog}${said ? `:\n${said}` : ''}`, undefined, err);
    }
    const api = this.api(sock);
    const loading = this.api(sock, this.stateTimeout);
    try {
      for (const c of calls) await (c.path === '/snapshot/load' ? loading : api).call(c.method, c.path, c.body);
    } catch (err) {
      if (err instanceof FirecrackerApiError) {
        if (restore) return fail(`cannot restore vm "${spec.name}" from ${restore.memoryFile}: firecracker refused ${err.method} ${err.path}: ${err.fault}`, undefined, err);
        return fail(`firecracker refused ${err.method} ${err.path} for vm "${spec.name}": ${err.fault}`, undefined, err);
      }
      return fail(`${restore ? `restoring vm "${spec.name}"` : `configuring firecracker for vm "${spec.name}"`} failed: ${err instanceof Error ? err.message : String(err)}`, undefined, err);
    }
    // Hash what the process really runs (the jailer execs firecracker with arguments of its own).
    const cmdline = readCmdline(pid);
    return { driver: 'firecracker', pid, controlSocket: sock, accel: 'kvm', startedAt, ...(cmdline ? { argvHash: argvHash(cmdline) } : {}) };
  }

  /** A reflink copy of the base where the filesystem can, else a sparse copy; grown to sizeBytes. */
  async createRootDisk(base: string, target: string, opts: { sizeBytes?: number; signal?: AbortSignal }): Promise<void> {
    await createRawRootDisk(base, target, opts);
  }

  /**
   * Firecracker processes of this install: their API socket names a VM directory under vmsDir, or
   * (jailed) their --id names a jail banger made under the configured chroot base.
   */
  ownProcesses(vmsDir: string): OwnProcess[] {
    const prefix = vmsDir.endsWith('/') ? vmsDir : `${vmsDir}/`;
    const out: OwnProcess[] = [];
    for (const { pid, argv } of listProcesses()) {
      const i = argv.indexOf('--api-sock');
      if (i < 0) continue;
      const hit = argv[i + 1];
      const jailed = this.opts.jailer ? isJailedArgv(argv) : undefined;
      if (jailed && this.ownJail(jailed)) out.push({ pid, vmId: jailed });
      if (!hit?.startsWith(prefix)) continue;
      const vmId = hit.slice(prefix.length).split('/')[0];
      if (vmId) out.push({ pid, vmId });
    }
    return out;
  }

  /**
   * Removes what VMs that are not running left on the host: their jails under the chroot base
   * (a daemon killed between a VM's exit and its cleanup leaves one). Returns what was removed.
   */
  async sweep(live: ReadonlySet<string>): Promise<string[]> {
    const j = this.opts.jailer;
    if (!j) return [];
    const execName = basename(which(this.bin) ?? this.bin);
    const running = (id: string) => findProcesses((argv) => isJailedArgv(argv, id) !== undefined).length > 0;
    const removed = await sweepJails(j.chrootBase, execName, live, running);
    for (const id of removed) this.log(`removed the jail of vm ${id}, which no longer runs`);
    return removed.map((id) => join(j.chrootBase, execName, id));
  }

  private ownJail(id: string): boolean {
    const j = this.opts.jailer;
    if (!j) return false;
    try {
      return existsSync(join(dirname(jailFor(j, which(this.bin) ?? this.bin, id).root), JAIL_MARKER));
    } catch {
      return false;
    }
  }

  /** Pause, save (Full), freeze, restore through Firecracker's API; see snapshot.ts. */
  readonly snapshots: SnapshotOps = {
    pause: (handle) => this.guarded(handle, (api) => api.patchVm({ state: 'Paused' })).then(() => undefined),
    resume: (handle) => this.guarded(handle, (api) => api.patchVm({ state: 'Resumed' })).then(() => undefined),
    saveState: (handle, memoryFile) => this.saveState(handle, memoryFile),
    freezeDisk: (live, frozen, opts = {}) => freezeDiskFile(live, frozen, opts.signal),
    createDiskOver: (frozen, target, opts = {}) => diskOverFrozen(frozen, target, opts.signal),
    restore: (spec, memoryFile, opts = {}) => this.start(spec, opts, { memoryFile }),
    stateVersion: async () => stateVersionString((await this.usableBinary()).version),
  };

  /**
   * Writes a paused VM's memory to memoryFile and its device state beside it (a Full snapshot: the
   * memory file stands alone). Refuses a VM whose disks are named by paths a restore could not
   * give another VM (one started by an older banger).
   */
  private async saveState(handle: VMHandle, memoryFile: string): Promise<SavedState> {
    const { version } = await this.usableBinary();
    const problem = snapshotVersionProblem(version);
    if (problem) throw unavailable(problem, FC_FIX_HINT);
    const stateFile = stateFileOf(memoryFile);
    for (const f of [memoryFile, stateFile]) if (existsSync(f)) throw alreadyExists(`state file "${f}" already exists`);
    const jail = jailOfSocket(handle.controlSocket);
    if (!jail && !(await readdir(dirname(handle.controlSocket)).catch(() => [] as string[])).some((n) => n.startsWith('disk-'))) {
      throw operationFailed('this VM was started with its disks named by their own paths, which a restored copy would write to', 'stop and start the VM, then save it again');
    }
    const target = jail ? { memory: JAIL.memory, state: JAIL.state } : { memory: memoryFile, state: stateFile };
    if (jail) for (const f of Object.values(target)) await rm(join(jail.root, f), { force: true });
    try {
      await this.guarded(handle, (api) => api.createSnapshot({ snapshot_path: target.state, mem_file_path: target.memory, snapshot_type: 'Full' }), this.stateTimeout);
      if (jail) {
        await moveOut(join(jail.root, target.memory), memoryFile);
        await moveOut(join(jail.root, target.state), stateFile);
      }
      for (const f of [memoryFile, stateFile]) await chmod(f, 0o600);
    } catch (err) {
      // Nothing of a failed save stays behind (both names were free before it).
      for (const f of [memoryFile, stateFile, ...(jail ? Object.values(target).map((t) => join(jail.root, t)) : [])]) await rm(f, { force: true });
      throw err;
    }
    return { driver: 'firecracker', version: stateVersionString(version), accel: 'kvm', memoryBytes: (await stat(memoryFile)).size, companions: [VMSTATE_SUFFIX] };
  }

  /**
   * Pauses the VM and writes a snapshot of the given type (Diff, when dirty pages are tracked, holds
   * only the memory written since the previous snapshot), then resumes it unless `leavePaused`.
   */
  async createSnapshot(handle: VMHandle, files: FcSnapshotFiles, opts: { type?: SnapshotType; leavePaused?: boolean } = {}): Promise<void> {
    await this.guarded(handle, async (api) => {
      await api.patchVm({ state: 'Paused' });
      try {
        await api.createSnapshot({ snapshot_path: files.statePath, mem_file_path: files.memPath, snapshot_type: opts.type ?? 'Full' });
      } finally {
        if (!opts.leavePaused) await api.patchVm({ state: 'Resumed' });
      }
    });
  }

  /** Asks firecracker to flush its metrics and returns the newest line (block/net/vcpu counters), for `vm stats`. */
  async metrics(handle: VMHandle): Promise<Record<string, unknown>> {
    await this.guarded(handle, (api) => api.action({ action_type: 'FlushMetrics' }));
    const path = this.metricsFile(handle);
    const last = lastLines(await readFile(path, 'utf8').catch(() => ''), 1);
    if (!last) throw operationFailed(`firecracker wrote no metrics to ${path}`);
    return JSON.parse(last) as Record<string, unknown>;
  }

  /**
   * Totals since boot for `vm stats`: firecracker's counters count from one flush to the next, so
   * every line of the metrics file (after a flush now) is summed: exits of all vCPUs, the block and
   * net devices' bytes.
   */
  async counters(handle: VMHandle): Promise<VMCounters> {
    await this.metrics(handle);
    return sumMetrics(await readFile(this.metricsFile(handle), 'utf8'));
  }

  /** One command to the guest bits over the VM's vsock (vsock.ts). */
  async guestChannel(handle: VMHandle, command: GuestChannelCommand, opts: { timeoutMs?: number } = {}): Promise<string> {
    if (!this.isOurs(handle)) throw operationFailed(`vm process ${handle.pid} is not running`);
    return guestChannel(this.vsockPath(handle), command, opts);
  }

  /** The vsock UDS of a running VM, for the guest channel (vsock.ts). */
  vsockPath(handle: VMHandle): string {
    const jail = jailOfSocket(handle.controlSocket);
    return jail ? join(jail.root, 'run', 'vsock.sock') : firecrackerRunFiles(dirname(handle.controlSocket)).vsock;
  }

  private metricsFile(handle: VMHandle): string {
    const jail = jailOfSocket(handle.controlSocket);
    return jail ? join(jail.root, 'metrics.json') : firecrackerRunFiles(dirname(handle.controlSocket)).metrics;
  }

  private async guarded<T>(handle: VMHandle, fn: (api: FirecrackerApi) => Promise<T>, timeoutMs?: number): Promise<T> {
    if (!this.isOurs(handle)) throw operationFailed(`vm process ${handle.pid} is not running`);
    try {
      return await fn(this.api(handle.controlSocket, timeoutMs));
    } catch (err) {
      if (err instanceof FirecrackerApiError) throw operationFailed(`firecracker refused ${err.method} ${err.path}: ${err.fault}`, undefined, err);
      throw err;
    }
  }

  private api(sock: string, timeoutMs?: number): FirecrackerApi {
    return new FirecrackerApi(sock, { timeoutMs: timeoutMs ?? this.opts.apiTimeoutMs ?? 3000 });
  }

  /** Writing or loading a snapshot moves the whole guest memory: those calls may take this long. */
  private get stateTimeout(): number {
    return this.opts.stateTimeoutMs ?? 10 * 60_000;
  }

  private async usableBinary(): Promise<{ bin: string; version: [number, number, number] }> {
    const found = which(this.bin);
    if (!found) throw unavailable(`${this.bin} not found, and the firecracker driver needs it`, FC_FIX_HINT);
    const { version, said } = await firecrackerVersion(found);
    if (!version) throw unavailable(`${found} --version did not name a firecracker release (${said})`, FC_FIX_HINT);
    const problem = versionProblem(version);
    if (problem) throw unavailable(`${problem} (${found})`, FC_FIX_HINT);
    return { bin: found, version };
  }

  protected log(message: string): void {
    this.opts.log?.(message);
  }

  /** The socket path itself, or for a jailed VM (whose firecracker sees /run/firecracker.socket) its jail id. */
  protected controlMarker(controlSocket: string): string {
    return jailOfSocket(controlSocket)?.id ?? controlSocket;
  }

  protected async controlStatus(handle: VMHandle): Promise<'running' | 'paused' | 'shutdown'> {
    const info = await this.api(handle.controlSocket).describe();
    if (info.state === 'Running') return 'running';
    if (info.state === 'Paused') return 'paused';
    return 'shutdown';
  }

  protected async requestPowerdown(handle: VMHandle): Promise<void> {
    await this.api(handle.controlSocket).action({ action_type: 'SendCtrlAltDel' });
  }

  protected async removeStaleRunFiles(handle: VMHandle): Promise<void> {
    if (findProcesses((argv) => argv.includes(this.controlMarker(handle.controlSocket))).length > 0) return;
    const jail = jailOfSocket(handle.controlSocket);
    if (jail) await removeJail(jail);
    else await this.removeRunFiles(dirname(handle.controlSocket), handle.controlSocket);
  }

  private async removeRunFiles(runDir: string, sock: string): Promise<void> {
    const jail = jailOfSocket(sock);
    if (jail) await removeJail(jail);
    const fc = firecrackerRunFiles(runDir);
    for (const f of [runFiles(runDir).controlSocket, fc.vsock]) await rm(f, { force: true });
    // Guest-initiated vsock connections listen on <uds>_<port>; disk-* are the links the VM's disks were opened by.
    for (const name of await readdir(runDir).catch(() => [] as string[])) {
      if (name.startsWith('vsock.sock_') || name.startsWith('disk-')) await rm(join(runDir, name), { force: true });
    }
  }

  private async cleanupFailedStart(runDir: string, sock: string, pid: number): Promise<void> {
    const marker = this.controlMarker(sock);
    const pids = new Set(findProcesses((argv) => argv.includes(marker)));
    if (isAlive(pid)) pids.add(pid);
    for (const p of pids) {
      this.log(`pid ${p}: killing firecracker left by a failed start`);
      signalProcess(p, 'SIGKILL');
    }
    const deadline = Date.now() + FORCE_WAIT_MS;
    while ([...pids].some((p) => isAlive(p)) && Date.now() < deadline) await sleep(25);
    await this.removeRunFiles(runDir, sock);
  }
}

const INSTANCE_START: ApiCall = { method: 'PUT', path: '/actions', definition: 'InstanceActionInfo', body: { action_type: 'InstanceStart' } };

/** Undefined when the KVM device can be opened read-write; otherwise why not. */
export async function kvmProblem(device: string): Promise<string | undefined> {
  try {
    await access(device, constants.R_OK | constants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${device} is not present`;
    if (code === 'EACCES' || code === 'EPERM') return `there is no read/write access to ${device} (join the kvm group)`;
    return `${device}: ${code ?? String(err)}`;
  }
}

/** The kernel's build config, when the store keeps one beside it (config, config-<version>). */
export async function kernelConfigFor(kernelPath: string): Promise<{ path: string; text: string } | undefined> {
  const dir = dirname(kernelPath);
  const names = await readdir(dir).catch(() => [] as string[]);
  const release = /^vmlinu[xz]-(.+)$/.exec(basename(kernelPath))?.[1];
  const name = names.find((n) => n === 'config') ?? (release ? names.find((n) => n === `config-${release}`) : names.find((n) => n.startsWith('config-')));
  if (!name) return undefined;
  const path = join(dir, name);
  if (!(await stat(path).catch(() => undefined))?.isFile()) return undefined;
  return { path, text: await readFile(path, 'utf8') };
}

export function firecrackerInstalled(bin = DEFAULT_FIRECRACKER_BIN): string | undefined {
  return bin.startsWith('/') ? (existsSync(bin) ? bin : undefined) : which(bin);
}
