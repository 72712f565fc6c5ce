/**
 * Decides whether QEMU works here and with which acceleration, by booting a tiny guest under TCG and
 * under KVM and timing how far each gets. The existence of /dev/kvm proves little: on some hosts
 * (nested virtualisation) KVM guests run orders of magnitude slower than TCG, which looks like a hang.
 *
 * The verdict is meant to be cached: {@link probeFingerprint} says when it must be redone.
 *
 * @module
 */
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runUnchecked, which } from '../../system/exec.js';
import type { Accel, ProbeResult } from '../hypervisor.js';
import { qemuOptValue } from './argv.js';
import {
  DEBUG_EXIT_PORT,
  DEBUGCON_PORT,
  DEFAULT_WORK,
  PAYLOAD_EXIT_STATUS,
  buildProbePayload,
  parsePayloadOutput,
  payloadMemoryMiB,
  type PayloadWork,
} from './probe-payload.js';

export const DEFAULT_QEMU_BIN = 'qemu-system-x86_64';
export const QEMU_FIX_HINT = 'apt-get install qemu-system-x86 qemu-utils';
export const KVM_DEVICE = '/dev/kvm';

export interface AccelTrial {
  accel: Accel;
  /** The guest finished its work and exited QEMU within the time limit. */
  ok: boolean;
  elapsedMs: number;
  stepsDone: number;
  steps: number;
  /** Why the trial did not run or did not pass. */
  detail?: string;
}

export interface QemuProbeResult extends ProbeResult {
  bin?: string;
  hostKernel: string;
  durationMs: number;
  trials: AccelTrial[];
}

export interface ProbeFingerprint {
  bin?: string;
  qemuVersion?: string;
  hostKernel: string;
  kvmDevice: boolean;
}

export interface ProbeOptions {
  bin?: string;
  /** Time limit for each trial guest. */
  trialTimeoutMs?: number;
  work?: PayloadWork;
  /** Leave KVM out (for example when the user configured TCG). */
  skipKvm?: boolean;
  kvmDevice?: string;
  signal?: AbortSignal;
}

export const DEFAULT_TRIAL_TIMEOUT_MS = 8000;

/** "QEMU emulator version 7.2.22 (Debian ...)" -> "7.2.22". */
export function parseQemuVersion(text: string): string | undefined {
  return /version\s+(\d+\.\d+(?:\.\d+)?)/i.exec(text)?.[1];
}

export async function qemuVersion(bin: string, signal?: AbortSignal): Promise<string | undefined> {
  const r = await runUnchecked([bin, '--version'], { timeoutMs: 10_000, signal });
  return r.code === 0 ? parseQemuVersion(r.stdout) : undefined;
}

/** What a cached verdict depends on: re-probe when any of it changes. */
export async function probeFingerprint(opts: { bin?: string; kvmDevice?: string } = {}): Promise<ProbeFingerprint> {
  const bin = which(opts.bin ?? DEFAULT_QEMU_BIN);
  return {
    bin,
    qemuVersion: bin ? await qemuVersion(bin) : undefined,
    hostKernel: release(),
    kvmDevice: (await kvmAccess(opts.kvmDevice ?? KVM_DEVICE)) === undefined,
  };
}

/** The argv of one trial guest. */
export function probeArgv(bin: string, accel: Accel, payloadPath: string, debugLog: string, work: PayloadWork): string[] {
  return [
    bin,
    '-machine', 'q35',
    '-accel', accel,
    '-cpu', accel === 'kvm' ? 'host' : 'max',
    '-smp', '1',
    '-m', `${payloadMemoryMiB(work)}M`,
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-no-reboot',
    '-kernel', payloadPath,
    '-chardev', `file,id=dbg,path=${qemuOptValue(debugLog)}`,
    '-device', `isa-debugcon,iobase=0x${DEBUGCON_PORT.toString(16)},chardev=dbg`,
    '-device', `isa-debug-exit,iobase=0x${DEBUG_EXIT_PORT.toString(16)},iosize=0x04`,
  ];
}

export async function probeQemu(opts: ProbeOptions = {}): Promise<QemuProbeResult> {
  const t0 = Date.now();
  const hostKernel = release();
  const bin = which(opts.bin ?? DEFAULT_QEMU_BIN);
  const done = (r: Omit<QemuProbeResult, 'hostKernel' | 'durationMs'>): QemuProbeResult => ({
    ...r,
    hostKernel,
    durationMs: Date.now() - t0,
  });
  if (!bin) {
    return done({
      available: false,
      reason: `${opts.bin ?? DEFAULT_QEMU_BIN} not found`,
      fixHint: QEMU_FIX_HINT,
      trials: [],
    });
  }
  const version = await qemuVersion(bin, opts.signal);
  const dir = await mkdtemp(join(tmpdir(), 'banger-qemu-probe-'));
  try {
    const work = opts.work ?? DEFAULT_WORK;
    const payload = join(dir, 'payload.bin');
    await writeFile(payload, buildProbePayload(work));
    const trial = (accel: Accel) =>
      runTrial({ bin, accel, payload, dir, work, timeoutMs: opts.trialTimeoutMs ?? DEFAULT_TRIAL_TIMEOUT_MS, signal: opts.signal });
    const tcg = await trial('tcg');
    const kvmDevice = opts.kvmDevice ?? KVM_DEVICE;
    const kvmMissing = opts.skipKvm ? 'not tried' : await kvmAccess(kvmDevice);
    const kvm: AccelTrial = kvmMissing
      ? { accel: 'kvm', ok: false, elapsedMs: 0, stepsDone: 0, steps: work.steps, detail: kvmMissing }
      : await trial('kvm');
    return done({ ...verdict(tcg, kvm, kvmDevice), version, bin, trials: [tcg, kvm] });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Undefined when the device can be opened read-write; otherwise why not. */
async function kvmAccess(device: string): Promise<string | undefined> {
  try {
    await access(device, constants.R_OK | constants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${device} not present`;
    if (code === 'EACCES' || code === 'EPERM') return `no read/write access to ${device} (join the kvm group)`;
    return `${device}: ${code ?? String(err)}`;
  }
}

interface TrialInput {
  bin: string;
  accel: Accel;
  payload: string;
  dir: string;
  work: PayloadWork;
  timeoutMs: number;
  signal?: AbortSignal;
}

async function runTrial(t: TrialInput): Promise<AccelTrial> {
  const log = join(t.dir, `debugcon-${t.accel}.log`);
  const started = Date.now();
  const r = await runUnchecked(probeArgv(t.bin, t.accel, t.payload, log, t.work), {
    timeoutMs: t.timeoutMs,
    signal: t.signal,
    maxOutput: 64 * 1024,
  });
  const elapsedMs = Date.now() - started;
  const output = await readFile(log, 'latin1').catch(() => '');
  const progress = parsePayloadOutput(output);
  const base = { accel: t.accel, elapsedMs, stepsDone: progress.steps, steps: t.work.steps };
  if (r.code === PAYLOAD_EXIT_STATUS && progress.done) return { ...base, ok: true };
  let detail: string;
  if (r.timedOut) {
    detail = progress.started
      ? `the probe guest finished ${progress.steps} of ${t.work.steps} steps in ${seconds(elapsedMs)}`
      : output
        ? `the probe guest was still in its firmware after ${seconds(elapsedMs)}`
        : `the probe guest printed nothing in ${seconds(elapsedMs)}`;
  } else {
    const said = r.stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/warning:/i.test(l)).slice(-2).join('; ');
    detail = `qemu exited with ${r.signal ?? `status ${r.code ?? '?'}`}${said ? `: ${said}` : ''}`;
  }
  return { ...base, ok: false, detail };
}

function verdict(tcg: AccelTrial, kvm: AccelTrial, kvmDevice: string): Pick<ProbeResult, 'available' | 'reason' | 'accel' | 'fixHint'> {
  const tcgLine = tcg.ok ? `tcg: probe guest ran in ${ms(tcg.elapsedMs)}` : `tcg: ${tcg.detail ?? 'failed'}`;
  if (kvm.ok && (!tcg.ok || kvm.elapsedMs <= tcg.elapsedMs)) {
    return { available: true, accel: 'kvm', reason: `kvm: probe guest ran in ${ms(kvm.elapsedMs)} (${tcgLine})` };
  }
  let kvmLine: string;
  if (kvm.ok) kvmLine = `kvm works but the probe guest took ${ms(kvm.elapsedMs)}, slower than tcg`;
  else if (kvm.elapsedMs === 0) kvmLine = `kvm: ${kvm.detail ?? 'not usable'}`;
  else kvmLine = `kvm: ${kvmDevice} present but ${kvm.detail ?? 'the probe guest failed'}`;
  if (tcg.ok) return { available: true, accel: 'tcg', reason: `${kvmLine}; using tcg (slow): probe guest ran in ${ms(tcg.elapsedMs)}` };
  return { available: false, reason: `${kvmLine}; ${tcgLine}` };
}

function ms(n: number): string {
  return n < 1000 ? `${n}ms` : seconds(n);
}

function seconds(n: number): string {
  return `${(n / 1000).toFixed(1)}s`;
}
