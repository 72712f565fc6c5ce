/**
 * The fake driver: VMs are cheap detached Node processes (vmm.ts) that behave like QEMU toward the
 * daemon — a pid file, a control socket, a console log, and a forwarded SSH port answered by a real
 * host sshd with the VM's seed keys — so the VM lifecycle (launch, adopt after a daemon restart,
 * status, shutdown, kill, reconcile) is exercised for real in seconds. For tests only: guest
 * commands run on the host. Enabled only when BANGER_FAKE_DRIVER is set (see options.ts).
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { alreadyExists, badRequest, operationFailed } from '../../api/errors.js';
import { fakeVmmFiles, runFiles } from '../../model/filenames.js';
import { lastLines, spawnDetached, which } from '../../system/exec.js';
import { findProcesses, isAlive, listProcesses, parentPid, signalProcess } from '../../system/proc.js';
import type {
  DriverCapabilities,
  HypervisorDriver,
  LaunchSpec,
  OwnProcess,
  ProbeResult,
  VMHandle,
} from '../hypervisor.js';
import { validateSpec } from '../qemu/argv.js';
import { argvHash, checkLaunchInputs, FORCE_WAIT_MS, VmmProcessDriver } from '../vmm-process.js';
import { controlArg, VMM_NAME_PREFIX, vmmArgv, type VmmConfig } from './argv.js';
import { controlRequest, waitForControl, type ControlCommand, type ControlReply } from './control.js';
import { behaviourFor, checkKnobs, knobsFromEnv, type FakeKnobs } from './options.js';
import { createRawRootDisk } from './root-disk.js';

export interface FakeDriverOptions extends FakeKnobs {
  /** How long a VMM may take to answer on its control socket (default 15 s). */
  startTimeoutMs?: number;
  /** Timeout for each control request made by status/adopt/shutdown (default 3 s). */
  controlTimeoutMs?: number;
  /** Receives one line per notable step (which shutdown path was taken, cleanup after a failed start). */
  log?: (message: string) => void;
}

/** The compiled VMM script, beside this module. */
export const VMM_SCRIPT = fileURLToPath(new URL('./vmm.js', import.meta.url));


export class FakeDriver extends VmmProcessDriver implements HypervisorDriver {
  protected readonly driverName = 'fake' as const;
  protected readonly powerdownWords = 'sent powerdown';
  protected override pollMs = 25;
  private readonly knobs: FakeKnobs;

  constructor(private readonly opts: FakeDriverOptions = {}) {
    super();
    const { startTimeoutMs: _s, controlTimeoutMs: _c, log: _l, ...knobs } = opts;
    this.knobs = checkKnobs(knobs);
  }

  /** A driver with the knobs in BANGER_FAKE_DRIVER (throws bad_request when they are malformed). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, opts: Omit<FakeDriverOptions, keyof FakeKnobs> = {}): FakeDriver {
    return new FakeDriver({ ...opts, ...knobsFromEnv(env) });
  }

  capabilities(): DriverCapabilities {
    return { name: 'fake', accel: 'tcg', networkModes: ['user'], rootDiskFormat: 'raw', survivesDaemonRestart: true };
  }

  probe(_opts: { signal?: AbortSignal } = {}): Promise<ProbeResult> {
    if (!existsSync(VMM_SCRIPT)) {
      return Promise.resolve({ available: false, reason: `the fake VMM script ${VMM_SCRIPT} is missing`, fixHint: 'npm run build' });
    }
    const sshd = which('sshd');
    const ssh = sshd ? `guest ssh served by ${sshd} -i` : 'no sshd on the host, so guests will not answer ssh';
    return Promise.resolve({
      available: true,
      accel: 'tcg',
      version: process.versions.node,
      reason: `fake VMMs run as node ${process.versions.node} processes (${process.execPath}); ${ssh}`,
      ...(sshd ? {} : { fixHint: 'apt-get install openssh-server' }),
    });
  }

  async launch(spec: LaunchSpec, opts: { signal?: AbortSignal } = {}): Promise<VMHandle> {
    validateSpec(spec);
    if (spec.network.mode === 'tap') throw badRequest('the fake driver supports user-mode networking only, not tap');
    await checkLaunchInputs(spec);
    opts.signal?.throwIfAborted();
    const sock = runFiles(spec.runDir).controlSocket;
    await mkdir(spec.runDir, { recursive: true, mode: 0o700 });
    await chmod(spec.runDir, 0o700);
    const running = findProcesses((argv) => argv.includes(controlArg(sock)));
    if (running.length > 0) throw alreadyExists(`vm "${spec.name}" is already running (pid ${running.join(', ')})`);
    await removeRunFiles(spec.runDir);

    const cfg: VmmConfig = {
      vmId: spec.vmId,
      controlSocket: sock,
      consoleLog: spec.consoleLog,
      kernelPath: spec.kernelPath,
      behaviour: behaviourFor(this.knobs, spec.name),
    };
    const seed = spec.disks.find((d) => d.serial === 'seed');
    if (seed) cfg.seedDisk = seed.path;
    if (spec.network.mode === 'user') cfg.ssh = { host: spec.network.hostAddr ?? '127.0.0.1', port: spec.network.sshHostPort };
    const argv = vmmArgv(process.execPath, VMM_SCRIPT, cfg);
    const logFile = fakeVmmFiles(spec.runDir).log;
    const logFrom = (await stat(logFile).catch(() => undefined))?.size ?? 0;
    const startedAt = new Date().toISOString();
    // Like a daemonized QEMU, the VMM does not keep the caller's working directory busy.
    const pid = spawnDetached(argv, { logFile, cwd: '/' });
    const timeoutMs = this.opts.startTimeoutMs ?? 15_000;
    try {
      await waitForControl(sock, { timeoutMs, stillStarting: () => isAlive(pid) && !opts.signal?.aborted });
    } catch (err) {
      await this.cleanupFailedStart(spec.runDir, sock);
      opts.signal?.throwIfAborted();
      const said = lastLines(await readFrom(logFile, logFrom), 6);
      throw operationFailed(`fake vmm failed to start for vm "${spec.name}"${said ? `: ${said}` : ''}`, undefined, err);
    }
    return { driver: 'fake', pid, controlSocket: sock, accel: 'tcg', startedAt, argvHash: argvHash(argv) };
  }

  /** A sparse raw copy of the base, grown to sizeBytes. */
  async createRootDisk(base: string, target: string, opts: { sizeBytes?: number; signal?: AbortSignal }): Promise<void> {
    await createRawRootDisk(base, target, opts);
  }

  /**
   * Fake VMMs of this install: named banger-fake-<id>, with a file under vmsDir on their command line.
   * A VMM's child between fork and exec still shows the VMM's command line; it is not counted.
   */
  ownProcesses(vmsDir: string): OwnProcess[] {
    const prefix = vmsDir.endsWith('/') ? vmsDir : `${vmsDir}/`;
    const found = new Map<number, string>();
    for (const { pid, argv } of listProcesses()) {
      if (!argv.some((a) => a.startsWith(`--name=${VMM_NAME_PREFIX}`))) continue;
      const hit = argv.find((a) => a.includes(prefix));
      const vmId = hit?.slice(hit.indexOf(prefix) + prefix.length).split('/')[0];
      if (vmId) found.set(pid, vmId);
    }
    const out: OwnProcess[] = [];
    for (const [pid, vmId] of found) {
      const parent = parentPid(pid);
      if (parent === undefined || found.get(parent) !== vmId) out.push({ pid, vmId });
    }
    return out;
  }

  private request(handle: VMHandle, cmd: ControlCommand): Promise<ControlReply> {
    return controlRequest(handle.controlSocket, cmd, { timeoutMs: this.opts.controlTimeoutMs ?? 3000 }).then((r) => {
      if (!r.ok) throw new Error(r.error ?? `${cmd} failed`);
      return r;
    });
  }

  /**
   * Once no VMM serves the handle's socket (a newer start of the VM may), removes the run files and
   * ends any sshd the dead VMM left (they exit on their own when its pipes close; this makes it certain).
   */
  protected async removeStaleRunFiles(handle: VMHandle): Promise<void> {
    const runDir = dirname(handle.controlSocket);
    if (findProcesses((argv) => argv.includes(controlArg(handle.controlSocket))).length > 0) return;
    this.reapGuestSsh(runDir);
    await removeRunFiles(runDir);
  }

  /** Kills whatever a failed start left running with this socket, and removes its files. */
  private async cleanupFailedStart(runDir: string, sock: string): Promise<void> {
    const pids = findProcesses((argv) => argv.includes(controlArg(sock)));
    for (const pid of pids) {
      this.log(`pid ${pid}: killing a fake vmm left by a failed start`);
      signalProcess(pid, 'SIGKILL');
    }
    const deadline = Date.now() + FORCE_WAIT_MS;
    while (pids.some((p) => isAlive(p)) && Date.now() < deadline) await sleep(25);
    this.reapGuestSsh(runDir);
    await removeRunFiles(runDir);
  }

  private reapGuestSsh(runDir: string): void {
    const config = fakeVmmFiles(runDir).sshdConfig;
    for (const pid of findProcesses((argv) => argv.includes(config))) {
      this.log(`pid ${pid}: killing an sshd left by a stopped fake vmm`);
      signalProcess(pid, 'SIGKILL');
    }
  }

  protected log(message: string): void {
    this.opts.log?.(message);
  }

  protected controlMarker(controlSocket: string): string {
    return controlArg(controlSocket);
  }

  protected async requestPowerdown(handle: VMHandle): Promise<void> {
    await this.request(handle, 'powerdown');
  }

  protected async controlStatus(handle: VMHandle): Promise<'running' | 'paused' | 'shutdown'> {
    const s = (await this.request(handle, 'status')).status;
    if (s === 'running' || s === 'paused' || s === 'shutdown') return s;
    throw new Error(`the fake vmm answered status ${String(s)}`);
  }
}

/** What a file holds from byte `from` on (the VMM log of this start). */
async function readFrom(path: string, from: number): Promise<string> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return '';
  try {
    const { size } = await fh.stat();
    const len = Math.max(0, Math.min(size - from, 64 * 1024));
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

async function removeRunFiles(runDir: string): Promise<void> {
  const run = runFiles(runDir);
  const fake = fakeVmmFiles(runDir);
  for (const f of [run.controlSocket, run.pidFile, fake.sshdConfig, fake.hostKey, fake.authorizedKeys]) await rm(f, { force: true });
  for (const d of [fake.guestBin, fake.guestHome]) await rm(d, { recursive: true, force: true });
}
