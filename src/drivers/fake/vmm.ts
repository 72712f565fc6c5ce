/**
 * The fake VMM: a small Node process that stands in for a hypervisor process. The fake driver starts
 * it detached with `process.execPath dist/drivers/fake/vmm.js <options>` (see argv.ts). It
 *
 * - writes its pid file and truncates the console log, then logs a boot line naming the kernel;
 * - answers on its control socket (control.ts) until it exits;
 * - with user-mode networking, binds the SSH port and, after the boot delay, serves real SSH with the
 *   seed disk's keys (guest-ssh.ts), then logs the ready line;
 * - powers off (exit 0, run files removed) shortly after `powerdown`, or at once on SIGTERM;
 * - with a crash delay, exits by itself with status 70 and leaves its run files behind.
 *
 * Its own diagnostics go to stderr, which the driver points at the run directory's vmm.log.
 *
 * @module
 */
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { fakeVmmFiles, runFiles, type FakeVmmFiles, type RunFiles } from '../../model/filenames.js';
import { parseVmmArgv, runDirOf, type VmmConfig } from './argv.js';
import { serveControl, type ControlCommand, type ControlReply, type GuestState } from './control.js';
import { BOOT_LINE, CRASH_LINE, CRASH_STATUS, READY_LINE } from './console.js';
import { GuestSsh } from './guest-ssh.js';

/** How long a powered-down guest takes to stop. */
const POWEROFF_DELAY_MS = 100;

class Vmm {
  private state: GuestState = 'running';
  private control: Server | undefined;
  private ssh: GuestSsh | undefined;
  private readonly files: FakeVmmFiles;
  private readonly run: RunFiles;

  constructor(private readonly cfg: VmmConfig) {
    const runDir = runDirOf(cfg);
    this.files = fakeVmmFiles(runDir);
    this.run = runFiles(runDir);
  }

  async start(): Promise<void> {
    const { cfg } = this;
    writeFileSync(this.run.pidFile, `${process.pid}\n`, { mode: 0o644 });
    writeFileSync(cfg.consoleLog, '', { mode: 0o600 });
    this.console(`${BOOT_LINE} ${cfg.kernelPath}`);
    if (cfg.ssh) {
      this.ssh = await GuestSsh.listen(cfg.ssh.host, cfg.ssh.port, this.files, (l) => this.log(l)).catch((err: Error) => {
        throw new Error(`cannot listen for ssh on ${cfg.ssh?.host}:${cfg.ssh?.port}: ${err.message}`);
      });
    }
    rmSync(cfg.controlSocket, { force: true });
    this.control = await serveControl(cfg.controlSocket, (cmd) => this.command(cmd));
    process.on('SIGTERM', () => this.exit(0, 'terminating on signal SIGTERM'));
    process.on('SIGINT', () => this.exit(0, 'terminating on signal SIGINT'));
    // The guest's own poweroff (guest-ssh.ts puts a poweroff on its PATH that sends this).
    process.on('SIGUSR1', () => void this.command('powerdown'));
    const crash = cfg.behaviour.crashAfterMs;
    if (crash !== undefined) {
      setTimeout(() => {
        this.console(CRASH_LINE);
        process.exit(CRASH_STATUS);
      }, crash);
    }
    setTimeout(() => void this.boot(), cfg.behaviour.bootDelayMs);
  }

  private async boot(): Promise<void> {
    const { cfg } = this;
    for (const line of cfg.behaviour.consoleLines ?? []) this.console(line);
    if (this.ssh && cfg.behaviour.ssh) {
      try {
        if (!cfg.seedDisk) throw new Error('no seed disk');
        await this.ssh.start(cfg.seedDisk);
        this.ssh.setServing(this.state === 'running');
        this.console(`fake-vmm: sshd listening on ${cfg.ssh?.host}:${cfg.ssh?.port}`);
      } catch (err) {
        this.console(`fake-vmm: sshd not started: ${err instanceof Error ? err.message : String(err)}`);
      }
    } else if (this.ssh) {
      this.console('fake-vmm: sshd disabled');
    }
    if (this.state !== 'shutdown') this.console(READY_LINE);
  }

  private command(cmd: ControlCommand): ControlReply {
    switch (cmd) {
      case 'status':
        break;
      case 'powerdown':
        if (this.cfg.behaviour.ignorePowerdown) {
          this.console('fake-vmm: power button ignored');
        } else if (this.state !== 'shutdown') {
          this.state = 'shutdown';
          this.ssh?.setServing(false);
          this.console('fake-vmm: power button pressed');
          setTimeout(() => this.exit(0, 'powered off'), POWEROFF_DELAY_MS);
        }
        break;
      case 'pause':
        if (this.state === 'running') this.state = 'paused';
        this.ssh?.setServing(false);
        break;
      case 'cont':
        if (this.state === 'paused') this.state = 'running';
        this.ssh?.setServing(this.state === 'running');
        break;
    }
    return { ok: true, status: this.state };
  }

  /** A clean stop: servers closed, run files removed (as QEMU removes its pidfile and socket). */
  private exit(code: number, why: string): void {
    this.console(`fake-vmm: ${why}`);
    this.ssh?.close();
    this.control?.close();
    rmSync(this.cfg.controlSocket, { force: true });
    if (readPidText(this.run.pidFile) === String(process.pid)) rmSync(this.run.pidFile, { force: true });
    for (const f of [this.files.hostKey, this.files.authorizedKeys, this.files.sshdConfig]) rmSync(f, { force: true });
    for (const d of [this.files.guestBin, this.files.guestHome]) rmSync(d, { recursive: true, force: true });
    process.exit(code);
  }

  private console(line: string): void {
    try {
      appendFileSync(this.cfg.consoleLog, `${line}\n`);
    } catch {
      /* the console log is best effort, as a serial port with nobody listening */
    }
  }

  private log(line: string): void {
    process.stderr.write(`fake-vmm[${process.pid}]: ${line}\n`);
  }
}

function readPidText(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

try {
  await new Vmm(parseVmmArgv(process.argv.slice(2))).start();
} catch (err) {
  process.stderr.write(`fake-vmm: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
