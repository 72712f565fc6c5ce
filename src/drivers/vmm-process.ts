/**
 * What every driver whose VMs are detached hypervisor processes shares (QEMU, the fake VMM, and
 * Firecracker next): a process is "ours" only while it is alive, carries the handle's control-socket
 * marker on its command line and hashes to the argv it was started with (never a recycled pid);
 * shutdown asks the guest over the control channel, waits, then sends SIGTERM and SIGKILL; kill
 * signals only a process the handle really describes; run files go once nothing serves them.
 *
 * @module
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { operationFailed } from '../api/errors.js';
import { isAlive, readCmdline, signalProcess } from '../system/proc.js';
import type { DriverName, LaunchSpec, ShutdownResult, VMHandle, VMStatus } from './hypervisor.js';

/** After SIGTERM, and again after SIGKILL, wait this long for the process to go. */
export const FORCE_WAIT_MS = 3000;

/** sha256 of an argv, as /proc/<pid>/cmdline shows it (entries joined by NUL). */
export function argvHash(argv: readonly string[]): string {
  return createHash('sha256').update(argv.join('\0')).digest('hex');
}

export abstract class VmmProcessDriver {
  protected abstract readonly driverName: DriverName;
  /** The argv entry that names the control socket of the process serving it. */
  protected abstract controlMarker(controlSocket: string): string;
  /** Asks the control channel what the guest is doing; throws when it does not answer. */
  protected abstract controlStatus(handle: VMHandle): Promise<Exclude<VMStatus, 'unresponsive' | 'gone'>>;
  /** Asks the guest to power off over the control channel; throws when the channel is unusable. */
  protected abstract requestPowerdown(handle: VMHandle): Promise<void>;
  /** Removes the run files once no process serves the handle's socket (a newer start of the VM may). */
  protected abstract removeStaleRunFiles(handle: VMHandle): Promise<void>;
  /** How the graceful request reads in the log ("sent ACPI power button"). */
  protected abstract readonly powerdownWords: string;
  protected abstract log(message: string): void;
  /** How often waits look at the process again. */
  protected pollMs = 50;

  /** True when the handle's process is ours and its control channel answers. */
  async adopt(handle: VMHandle): Promise<boolean> {
    if (!this.isOurs(handle)) return false;
    try {
      await this.controlStatus(handle);
      return true;
    } catch {
      return false;
    }
  }

  async status(handle: VMHandle): Promise<VMStatus> {
    if (!this.isOurs(handle)) return 'gone';
    try {
      return await this.controlStatus(handle);
    } catch {
      return this.isOurs(handle) ? 'unresponsive' : 'gone';
    }
  }

  async shutdown(handle: VMHandle, opts: { timeoutMs: number }): Promise<ShutdownResult> {
    if (!this.isOurs(handle)) {
      await this.removeStaleRunFiles(handle);
      return 'gone';
    }
    try {
      await this.requestPowerdown(handle);
      this.log(`pid ${handle.pid}: ${this.powerdownWords}, waiting up to ${opts.timeoutMs}ms`);
      if (await this.waitGone(handle, opts.timeoutMs)) {
        await this.removeStaleRunFiles(handle);
        this.log(`pid ${handle.pid}: guest powered off`);
        return 'graceful';
      }
      this.log(`pid ${handle.pid}: guest still running after ${opts.timeoutMs}ms; forcing`);
    } catch (err) {
      if (!this.isOurs(handle)) {
        await this.removeStaleRunFiles(handle);
        return 'gone';
      }
      this.log(`pid ${handle.pid}: control socket unusable (${err instanceof Error ? err.message : String(err)}); forcing`);
    }
    await this.force(handle);
    return 'killed';
  }

  async kill(handle: VMHandle, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.isOurs(handle)) {
      await this.removeStaleRunFiles(handle);
      return;
    }
    signalProcess(handle.pid, signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') {
      if (!(await this.waitGone(handle, FORCE_WAIT_MS))) {
        throw operationFailed(`vm process ${handle.pid} did not exit after ${signal}`);
      }
      await this.removeStaleRunFiles(handle);
    }
  }

  /** The pid is alive and is the very process the handle describes (never a recycled pid). */
  protected isOurs(handle: VMHandle): boolean {
    if (handle.driver !== this.driverName || !Number.isSafeInteger(handle.pid) || handle.pid <= 1) return false;
    if (!isAlive(handle.pid)) return false;
    const argv = readCmdline(handle.pid);
    if (!argv?.includes(this.controlMarker(handle.controlSocket))) return false;
    return handle.argvHash === undefined || argvHash(argv) === handle.argvHash;
  }

  protected async waitGone(handle: VMHandle, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.isOurs(handle)) {
      if (Date.now() >= deadline) return false;
      await sleep(this.pollMs);
    }
    return true;
  }

  protected async force(handle: VMHandle): Promise<void> {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      if (!this.isOurs(handle)) break;
      signalProcess(handle.pid, signal);
      this.log(`pid ${handle.pid}: sent ${signal}`);
      if (await this.waitGone(handle, FORCE_WAIT_MS)) break;
    }
    if (this.isOurs(handle)) throw operationFailed(`vm process ${handle.pid} did not exit after SIGKILL`);
    await this.removeStaleRunFiles(handle);
  }
}

/** Every file a launch reads or writes exists with the access it needs; otherwise operation_failed naming it. */
export async function checkLaunchInputs(spec: LaunchSpec): Promise<void> {
  const inputs: [string, string, number][] = [['kernel', spec.kernelPath, constants.R_OK]];
  if (spec.initrdPath !== undefined) inputs.push(['initrd', spec.initrdPath, constants.R_OK]);
  spec.disks.forEach((d, i) => inputs.push([`disk ${i}`, d.path, d.readOnly ? constants.R_OK : constants.R_OK | constants.W_OK]));
  for (const [what, path, mode] of inputs) {
    try {
      await access(path, mode);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : `is not accessible (${code ?? 'error'})`;
      throw operationFailed(`cannot start vm "${spec.name}": ${what} "${path}" ${why}`);
    }
  }
}
