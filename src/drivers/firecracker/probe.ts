/**
 * The probe's tiny boot: the only sure way to know firecracker runs microVMs here (KVM usable by
 * it, seccomp and the host kernel agreeing) is to start one. A kernel that writes a marker line to
 * the serial port and halts, one vCPU and 128 MiB, no devices: configure, InstanceStart, wait for
 * the marker on firecracker's stdout (state Running alone would pass a guest whose vCPU hangs or
 * faults at its first instruction), kill it, remove everything.
 *
 * @module
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { lastLines, spawnDetached } from '../../system/exec.js';
import { isAlive, signalProcess } from '../../system/proc.js';
import { ApiWaitError, FirecrackerApi, FirecrackerApiError, waitForApi } from './api.js';
import { PROBE_MARKER, tinyVmlinux } from './tiny-kernel.js';

export type BootProbe = { ok: true; detail: string } | { ok: false; reason: string };

/** Boots the tiny kernel with `bin`; never throws. */
export async function bootProbe(bin: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<BootProbe> {
  const dir = await mkdtemp(join(tmpdir(), 'banger-fcprobe-'));
  const sock = join(dir, 'api.sock');
  const log = join(dir, 'console.log');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let pid: number | undefined;
  const started = Date.now();
  try {
    await writeFile(join(dir, 'vmlinux'), tinyVmlinux());
    pid = spawnDetached([bin, '--api-sock', sock, '--id', 'banger-probe'], { logFile: log, cwd: dir, umask: 0o077 });
    const p = pid;
    await waitForApi(sock, { timeoutMs, stillStarting: () => isAlive(p) && !opts.signal?.aborted });
    const api = new FirecrackerApi(sock, { timeoutMs: 3000 });
    await api.putMachineConfig({ vcpu_count: 1, mem_size_mib: 128 });
    await api.putBootSource({ kernel_image_path: join(dir, 'vmlinux'), boot_args: 'console=ttyS0 reboot=k panic=1 pci=off' });
    await api.action({ action_type: 'InstanceStart' });
    const seen = await waitForMarker(log, { until: Date.now() + timeoutMs, stillRunning: () => isAlive(p) && !opts.signal?.aborted });
    if (opts.signal?.aborted) return { ok: false, reason: 'the probe was cancelled' };
    if (seen !== 'marker') {
      const info = await api.describe().catch(() => undefined);
      const said = lastLines(await readFile(log, 'utf8').catch(() => ''), 2).replace(/\n/g, '; ');
      const how = seen === 'exited' ? 'firecracker exited' : `nothing came within ${timeoutMs}ms${info ? ` (state ${info.state})` : ''}`;
      return { ok: false, reason: `a test microVM started but its guest never wrote "${PROBE_MARKER}" to the serial port: ${how}; its vCPU hangs or crashes here${said ? ` (${said})` : ''}` };
    }
    return { ok: true, detail: `a test microVM ran its guest code (serial marker after ${Date.now() - started}ms)` };
  } catch (err) {
    const said = lastLines(await readFile(log, 'utf8').catch(() => ''), 2);
    let why: string;
    if (err instanceof FirecrackerApiError) why = `firecracker refused ${err.method} ${err.path}: ${err.fault}`;
    else if (err instanceof ApiWaitError) why = err.reason === 'timeout' ? `firecracker did not serve its API socket within ${timeoutMs}ms` : 'firecracker exited before serving its API';
    else why = err instanceof Error ? err.message : String(err);
    return { ok: false, reason: `a test microVM did not start: ${why}${said ? ` (${said.replace(/\n/g, '; ')})` : ''}` };
  } finally {
    if (pid !== undefined && isAlive(pid)) {
      signalProcess(pid, 'SIGKILL');
      for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(20);
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** Polls the console log (firecracker's stdout, where the serial port goes) for the probe guest's marker line. */
async function waitForMarker(log: string, opts: { until: number; stillRunning: () => boolean }): Promise<'marker' | 'exited' | 'timeout'> {
  for (;;) {
    const text = await readFile(log, 'utf8').catch(() => '');
    if (text.split('\n').some((l) => l.trim() === PROBE_MARKER)) return 'marker';
    if (!opts.stillRunning()) return 'exited';
    if (Date.now() >= opts.until) return 'timeout';
    await sleep(20);
  }
}
