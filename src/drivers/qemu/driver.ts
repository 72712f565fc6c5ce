/**
 * The QEMU driver: VMs run as detached qemu-system-x86_64 processes (contained: contain.ts) controlled over QMP, so they
 * keep running when bangerd stops and are adopted again from their handle when it restarts.
 *
 * @module
 */
import { chmod, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { alreadyExists, badRequest, notRunning, operationFailed, unavailable } from '../../api/errors.js';
import { runFiles } from '../../model/filenames.js';
import { lastLines, spawnDetached, which } from '../../system/exec.js';
import { findProcesses, isAlive, listProcesses, readCmdline, signalProcess } from '../../system/proc.js';
import type {
  Accel,
  DriverCapabilities,
  HypervisorDriver,
  LaunchSpec,
  OwnProcess,
  PortForward,
  ProbeResult,
  SnapshotOps,
  VMHandle,
} from '../hypervisor.js';
import { checkStatePath, diskOverFrozen, freezeDiskFile, loadFromFile, savedState, saveToFile } from './snapshot.js';
import { containedArgv, containment } from './contain.js';
import { createOverlay } from './overlay.js';
import { EGRESS_CONNECTOR_BIN, hasChannelChardev, hostfwdRule, pidFilePath, qemuArgv, qmpChardevArg, qmpSocketPath, validateForward, validateSpec } from './argv.js';
import { DEFAULT_QEMU_BIN, QEMU_FIX_HINT, probeQemu, qemuVersion, type ProbeOptions } from './probe.js';
import { channelRequest, holdChannel } from './channel.js';
import { waitForQmp, withQmp, type QmpClient } from './qmp.js';
import { argvHash, checkLaunchInputs, FORCE_WAIT_MS, VmmProcessDriver } from '../vmm-process.js';

export interface QemuDriverOptions {
  /** qemu-system-x86_64 by default. */
  bin?: string;
  /** A probe verdict the caller already has (cached by the daemon); launch then skips probing. */
  accel?: Accel;
  probe?: Omit<ProbeOptions, 'bin' | 'signal'>;
  /** Replaces the built-in probe, e.g. with one whose verdict is shared or loaded from a cache. */
  prober?: () => Promise<ProbeResult>;
  /** How long QEMU may take to start and answer on QMP (default 30 s). */
  startTimeoutMs?: number;
  /** Timeout for each QMP call made by status/adopt/shutdown (default 3 s). */
  qmpTimeoutMs?: number;
  /** How long saving or loading a VM's state may take (default 10 min). */
  stateTimeoutMs?: number;
  /** Receives one line per notable step (which shutdown path was taken, cleanup after a failed start). */
  log?: (message: string) => void;
}


/**
 * The devices banger gives a QEMU VM, as part of the saved-state version: state saved with one set loads
 * only into the same set (2: the guest channel's virtio-serial port).
 */
export const MACHINE_VERSION = 2;

export class QemuDriver extends VmmProcessDriver implements HypervisorDriver {
  protected readonly driverName = 'qemu' as const;
  protected readonly powerdownWords = 'sent ACPI power button';
  private readonly bin: string;
  private probing: Promise<ProbeResult> | undefined;
  private probedAccel: Accel | undefined;

  constructor(private readonly opts: QemuDriverOptions = {}) {
    super();
    this.bin = opts.bin ?? DEFAULT_QEMU_BIN;
  }

  capabilities(): DriverCapabilities {
    return {
      name: 'qemu',
      accel: this.opts.accel ?? this.probedAccel ?? 'auto',
      networkModes: ['user', 'tap'],
      rootDiskFormat: 'qcow2',
      survivesDaemonRestart: true,
      snapshots: true,
    };
  }

  /**
   * The full probe (a few seconds) unless an accel was given; its result is kept for this instance.
   * With an accel given, the binary is looked up each time and asked its version once per binary file
   * (a restore asks on its way to a ready VM, and each `--version` is a process started).
   */
  async probe(_opts: { signal?: AbortSignal } = {}): Promise<ProbeResult> {
    if (this.opts.accel) {
      const bin = which(this.bin);
      if (!bin) return { available: false, reason: `${this.bin} not found`, fixHint: QEMU_FIX_HINT };
      const version = await this.versionOf(bin);
      return { available: true, accel: this.opts.accel, version, reason: `qemu ${version ?? '?'} at ${bin}; ${this.opts.accel} as configured` };
    }
    const prober = this.opts.prober ?? (() => probeQemu({ ...this.opts.probe, bin: this.bin }));
    this.probing ??= prober().catch((err: unknown) => {
      this.probing = undefined;
      throw err;
    });
    const result = await this.probing;
    this.probedAccel = result.available ? result.accel : undefined;
    return result;
  }

  launch(spec: LaunchSpec, opts: { signal?: AbortSignal } = {}): Promise<VMHandle> {
    return this.start(spec, opts, false);
  }

  /** A VM adopted after a daemon restart gets its guest channel held again, as at start. */
  override async adopt(handle: VMHandle): Promise<boolean> {
    const alive = await super.adopt(handle);
    if (alive) holdChannel(channelSocketOf(handle));
    return alive;
  }

  /** Pause, save, freeze and restore through QMP; see snapshot.ts. */
  readonly snapshots: SnapshotOps = {
    pause: (handle) => this.qmpCall(handle, (q) => q.execute('stop')),
    resume: (handle) => this.qmpCall(handle, (q) => q.execute('cont')),
    saveState: async (handle, memoryFile, opts = {}) => {
      if (opts.ramFile !== undefined) checkStatePath(opts.ramFile);
      const ram = opts.ramFile !== undefined ? { file: opts.ramFile, handOver: opts.handOver === true } : undefined;
      const ramBytes = await withQmp(handle.controlSocket, (q) => saveToFile(q, memoryFile, this.stateTimeout, opts.signal, ram), { timeoutMs: this.qmpTimeout });
      // A VM started by a banger before the guest channel's port has the older machine: its state says so, and restores refuse it.
      const cmdline = readCmdline(handle.pid);
      const channel = cmdline === undefined || hasChannelChardev(cmdline);
      const version = channel ? await this.snapshots.stateVersion() : (await this.snapshots.stateVersion()).replace(/, machine \d+$/, '');
      return savedState(version, handle.accel, (await stat(memoryFile)).size, ramBytes);
    },
    freezeDisk: (live, frozen, opts = {}) => freezeDiskFile(live, frozen, opts.signal),
    createDiskOver: (frozen, target, opts = {}) => diskOverFrozen(frozen, target, opts.signal),
    restore: async (spec, memoryFile, opts = {}) => {
      checkStatePath(memoryFile);
      const ramImage = opts.ramFile;
      if (ramImage !== undefined && !(await stat(ramImage).catch(() => undefined))?.isFile()) throw operationFailed(`RAM image "${ramImage}" does not exist`);
      const handle = await this.start(spec, opts, true, ramImage);
      try {
        await withQmp(handle.controlSocket, (q) => loadFromFile(q, memoryFile, this.stateTimeout, opts.signal, ramImage !== undefined), { timeoutMs: this.qmpTimeout });
      } catch (err) {
        await this.cleanupFailedStart(spec.runDir, handle.controlSocket);
        const consoleTail = lastLines(await readFile(spec.consoleLog, 'utf8').catch(() => ''), 4);
        throw operationFailed(`cannot restore vm "${spec.name}": ${(err as Error).message}${consoleTail ? `; console:\n${consoleTail}` : ''}`, undefined, err);
      }
      return handle;
    },
    guestCommand: (handle, command, opts = {}) => {
      if (!this.isOurs(handle)) return Promise.reject(notRunning(`vm process ${handle.pid} is not running`));
      return channelRequest(channelSocketOf(handle), command, opts);
    },
    growDisk: (handle, diskIndex, sizeBytes) => {
      if (!Number.isInteger(diskIndex) || diskIndex < 0 || !Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw badRequest(`cannot grow disk ${diskIndex} to ${sizeBytes} bytes`);
      return this.qmpCall(handle, (q) => q.execute('block_resize', { device: `disk${diskIndex}`, size: sizeBytes }));
    },
    stateVersion: async () => {
      this.version ??= qemuVersion(this.bin).then((v) => {
        if (!v) throw unavailable(`cannot tell the version of ${this.bin}`, QEMU_FIX_HINT);
        return `qemu ${v}, machine ${MACHINE_VERSION}`;
      });
      return this.version.catch((err: unknown) => {
        this.version = undefined;
        throw err;
      });
    },
  };

  private version: Promise<string> | undefined;
  private binVersion: { file: string; version: Promise<string | undefined> } | undefined;

  /** `bin --version`, asked again only when the file at bin changed (path, inode, size, mtime) or the last answer was none. */
  private async versionOf(bin: string): Promise<string | undefined> {
    const st = await stat(bin).catch(() => undefined);
    const file = st ? `${bin}:${st.ino}:${st.size}:${st.mtimeMs}` : undefined;
    if (file !== undefined && this.binVersion?.file === file) {
      const known = await this.binVersion.version.catch(() => undefined);
      if (known !== undefined) return known;
    }
    const version = qemuVersion(bin);
    if (file !== undefined) this.binVersion = { file, version };
    return version;
  }

  private get stateTimeout(): number {
    return this.opts.stateTimeoutMs ?? 10 * 60_000;
  }

  private async qmpCall(handle: VMHandle, fn: (q: QmpClient) => Promise<unknown>): Promise<void> {
    if (!this.isOurs(handle)) throw notRunning(`vm process ${handle.pid} is not running`);
    await withQmp(handle.controlSocket, async (q) => {
      await fn(q);
    }, { timeoutMs: this.qmpTimeout });
  }

  private async start(spec: LaunchSpec, opts: { signal?: AbortSignal }, incoming: boolean, ramImage?: string): Promise<VMHandle> {
    validateSpec(spec);
    if (!which(this.bin)) throw unavailable(`${this.bin} not found`, QEMU_FIX_HINT);
    await checkLaunchInputs(spec);
    const accel = await this.accel();
    const sock = qmpSocketPath(spec.runDir);
    await mkdir(spec.runDir, { recursive: true, mode: 0o700 });
    await chmod(spec.runDir, 0o700);
    const marker = qmpChardevArg(sock);
    const running = findProcesses((argv) => argv.includes(marker));
    if (running.length > 0) throw alreadyExists(`vm "${spec.name}" is already running (pid ${running.join(', ')})`);
    await removeRunFiles(spec.runDir);

    let connector: string | undefined;
    if (spec.network.mode === 'user' && spec.network.egressEndpoint) {
      connector = which(EGRESS_CONNECTOR_BIN);
      if (!connector) throw unavailable(`${EGRESS_CONNECTOR_BIN} is not installed; a user-mode VM needs it for egress`, 'apt-get install socat');
    }
    const contain = await containment(this.bin, { connector: connector !== undefined });
    const sandbox = contain.sandbox;
    const argv = qemuArgv(spec, { bin: this.bin, accel, incoming, ...(ramImage !== undefined ? { ramImage } : {}), ...(connector ? { connector } : {}), ...(sandbox !== undefined ? { sandbox } : {}) });
    const startedAt = new Date().toISOString();
    const timeoutMs = this.opts.startTimeoutMs ?? 30_000;
    const net = spec.network;
    // QEMU runs in the foreground of its own session, detached from the daemon (not -daemonize: its
    // sandbox refuses the setsid that daemonizing makes). Its own messages go to vmm.log.
    const vmmLog = runFiles(spec.runDir).vmmLog;
    await rm(vmmLog, { force: true });
    let pid: number;
    try {
      pid = spawnDetached(containedArgv(argv, contain, { tap: net.mode === 'tap' }), { logFile: vmmLog });
    } catch (err) {
      await this.cleanupFailedStart(spec.runDir, sock);
      throw operationFailed(`qemu failed to start for vm "${spec.name}": ${(err as Error).message}`, undefined, err);
    }
    try {
      const qmp = await waitForQmp(sock, { timeoutMs, stillStarting: () => isAlive(pid) });
      try {
        await qmp.queryStatus();
      } finally {
        qmp.close();
      }
    } catch (err) {
      const exited = !isAlive(pid);
      await this.cleanupFailedStart(spec.runDir, sock);
      opts.signal?.throwIfAborted();
      const said = lastLines(await readFile(vmmLog, 'utf8').catch(() => ''), 6);
      if (exited) throw operationFailed(`qemu failed to start for vm "${spec.name}"${said ? `: ${said}` : ''}`, undefined, err);
      const consoleTail = lastLines(await readFile(spec.consoleLog, 'utf8').catch(() => ''), 6);
      throw operationFailed(
        `vm "${spec.name}" started (pid ${pid}) but its control socket did not answer within ${timeoutMs}ms${said ? `; qemu: ${said}` : ''}${consoleTail ? `; console:\n${consoleTail}` : ''}`,
        undefined,
        err,
      );
    }
    // Held from now on: the guest's channel loop waits on its port instead of polling it (channel.ts).
    holdChannel(runFiles(spec.runDir).channelSocket);
    return { driver: 'qemu', pid, controlSocket: sock, accel, startedAt, argvHash: argvHash(argv) };
  }

  /** A qcow2 overlay over the raw base: O(1), rootless, sparse up to its virtual size. */
  async createRootDisk(base: string, target: string, opts: { sizeBytes?: number; signal?: AbortSignal }): Promise<void> {
    await createOverlay(base, target, { baseFormat: 'raw', ...opts });
  }

  /** Publishes a guest port on a running slirp VM through QMP (`hostfwd_add`); a taken host port is already_exists. */
  async publishPort(handle: VMHandle, hostAddr: string, fwd: PortForward): Promise<void> {
    validateForward(fwd);
    const said = await this.hmp(handle, `hostfwd_add net0 ${hostfwdRule(hostAddr, fwd)}`);
    if (said.trim()) {
      if (/could not set up host forwarding/i.test(said)) {
        throw alreadyExists(`host port ${hostAddr}:${fwd.hostPort} is taken`, 'pick another host port: HOSTPORT:GUESTPORT');
      }
      throw operationFailed(`qemu refused the forward: ${said.trim()}`);
    }
  }

  async unpublishPort(handle: VMHandle, hostAddr: string, fwd: PortForward): Promise<void> {
    const said = await this.hmp(handle, `hostfwd_remove net0 tcp:${hostAddr}:${fwd.hostPort}`);
    if (said.trim() && !/host forwarding rule for .* removed/i.test(said)) throw operationFailed(`qemu could not remove the forward: ${said.trim()}`);
  }

  private hmp(handle: VMHandle, command: string): Promise<string> {
    return withQmp(handle.controlSocket, (q) => q.execute<string>('human-monitor-command', { 'command-line': command }, { timeoutMs: this.qmpTimeout }), { timeoutMs: this.qmpTimeout });
  }

  /** QEMU processes of this install (named banger-<id>, with a file under vmsDir on their command line). */
  ownProcesses(vmsDir: string): OwnProcess[] {
    const prefix = vmsDir.endsWith('/') ? vmsDir : `${vmsDir}/`;
    const out: OwnProcess[] = [];
    for (const { pid, argv } of listProcesses()) {
      const nameIdx = argv.indexOf('-name');
      if (!argv[nameIdx + 1]?.startsWith('banger-')) continue;
      const hit = argv.find((a) => a.includes(prefix));
      const vmId = hit?.slice(hit.indexOf(prefix) + prefix.length).split('/')[0];
      if (vmId) out.push({ pid, vmId });
    }
    return out;
  }

  private get qmpTimeout(): number {
    return this.opts.qmpTimeoutMs ?? 3000;
  }

  private async accel(): Promise<Accel> {
    if (this.opts.accel) return this.opts.accel;
    const p = await this.probe();
    if (!p.available || !p.accel) throw unavailable(`qemu cannot run vms here: ${p.reason}`, p.fixHint);
    return p.accel;
  }

  private ownsPid(pid: number, sock: string): boolean {
    return isAlive(pid) && (readCmdline(pid)?.includes(qmpChardevArg(sock)) ?? false);
  }

  /** Removes the socket and pidfile unless a live qemu (perhaps a newer start of this VM) still uses them. */
  protected async removeStaleRunFiles(handle: VMHandle): Promise<void> {
    const runDir = dirname(handle.controlSocket);
    const pid = await readPid(pidFilePath(runDir));
    if (pid !== undefined && this.ownsPid(pid, handle.controlSocket)) return;
    await removeRunFiles(runDir);
  }

  /** Kills whatever a failed start left running with this socket, and removes its files. */
  private async cleanupFailedStart(runDir: string, sock: string): Promise<void> {
    const marker = qmpChardevArg(sock);
    const pids = new Set(findProcesses((argv) => argv.includes(marker)));
    const fromFile = await readPid(pidFilePath(runDir));
    if (fromFile !== undefined && this.ownsPid(fromFile, sock)) pids.add(fromFile);
    for (const pid of pids) {
      this.log(`pid ${pid}: killing qemu left by a failed start`);
      signalProcess(pid, 'SIGKILL');
    }
    const deadline = Date.now() + FORCE_WAIT_MS;
    while ([...pids].some((p) => this.ownsPid(p, sock)) && Date.now() < deadline) await sleep(50);
    await removeRunFiles(runDir);
  }

  protected log(message: string): void {
    this.opts.log?.(message);
  }

  protected controlMarker(controlSocket: string): string {
    return qmpChardevArg(controlSocket);
  }

  protected async controlStatus(handle: VMHandle): Promise<'running' | 'paused' | 'shutdown'> {
    const s = await withQmp(handle.controlSocket, (q) => q.queryStatus({ timeoutMs: this.qmpTimeout }), { timeoutMs: this.qmpTimeout });
    if (s.running) return 'running';
    if (['shutdown', 'guest-panicked', 'internal-error', 'io-error'].includes(s.status)) return 'shutdown';
    return 'paused';
  }

  protected async requestPowerdown(handle: VMHandle): Promise<void> {
    await withQmp(handle.controlSocket, (q) => q.systemPowerdown({ timeoutMs: this.qmpTimeout }), { timeoutMs: this.qmpTimeout });
  }
}

async function readPid(pidFile: string): Promise<number | undefined> {
  // QEMU writes the pidfile before it signals its parent; a short retry covers slow filesystems.
  for (let i = 0; i < 5; i++) {
    const text = await readFile(pidFile, 'utf8').catch(() => '');
    const pid = Number.parseInt(text.trim(), 10);
    if (Number.isSafeInteger(pid) && pid > 1) return pid;
    if (text) return undefined;
    await sleep(20);
  }
  return undefined;
}

/** The guest channel's socket of a running VM: beside its control socket in the run directory. */
function channelSocketOf(handle: VMHandle): string {
  return runFiles(dirname(handle.controlSocket)).channelSocket;
}

/** The control socket, the pidfile and the guest's RAM file (a snapshot keeps its own copy or link). */
async function removeRunFiles(runDir: string): Promise<void> {
  await rm(qmpSocketPath(runDir), { force: true });
  await rm(pidFilePath(runDir), { force: true });
  await rm(runFiles(runDir).guestRam, { force: true });
  await rm(runFiles(runDir).channelSocket, { force: true });
}
