/** The hook through which the QEMU driver tells the doctor whether KVM really boots guests. */
import { existsSync } from 'node:fs';
import type { ProbeResult } from '../drivers/hypervisor.js';

export interface KvmProbeResult {
  /** A test guest ran with KVM (and no slower than under TCG). */
  usable: boolean;
  /** False when no test guest ran at all, not even under TCG. */
  guestsBoot: boolean;
  /** One line on what was tried and what happened. */
  detail?: string;
  /** A command that fixes it, when the driver knows one. */
  fix?: string;
}

export interface KvmProbeOptions {
  /** qemu-system-x86_64 as found by the doctor. */
  qemuPath: string;
  signal?: AbortSignal;
}

export type KvmProbe = (opts: KvmProbeOptions) => Promise<KvmProbeResult>;

/** Reads the QEMU driver's verdict. */
export function fromQemuProbe(r: ProbeResult): KvmProbeResult {
  return {
    usable: r.available && r.accel === 'kvm',
    guestsBoot: r.available,
    ...(r.reason ? { detail: r.reason } : {}),
    ...(r.fixHint ? { fix: r.fixHint } : {}),
  };
}

/** The verdict the daemon cached after its own probe, read without changing the store. */
interface CachedVerdict {
  fingerprint: { bin?: string; qemuVersion?: string; hostKernel: string; kvmDevice: boolean };
  accel: 'kvm' | 'tcg';
  reason: string;
  probedAt: string;
}

async function cachedVerdict(dbPath: string): Promise<CachedVerdict | undefined> {
  if (!existsSync(dbPath)) return undefined;
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare("SELECT value FROM settings WHERE key = 'hypervisor.qemu.verdict'").get() as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as CachedVerdict) : undefined;
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

/**
 * The QEMU driver's verdict, loaded only when the doctor runs: the one the daemon cached when it still
 * matches this host (same QEMU, kernel and /dev/kvm), otherwise a fresh probe that boots a tiny guest
 * under TCG and under KVM.
 */
export async function loadKvmProbe(dbPath?: string): Promise<KvmProbe> {
  const { probeQemu, probeFingerprint } = await import('../drivers/qemu/probe.js');
  return async ({ qemuPath, signal }) => {
    const cached = dbPath ? await cachedVerdict(dbPath) : undefined;
    if (cached) {
      const fp = await probeFingerprint({ bin: qemuPath });
      const f = cached.fingerprint;
      if (f.bin === fp.bin && f.qemuVersion === fp.qemuVersion && f.hostKernel === fp.hostKernel && f.kvmDevice === fp.kvmDevice) {
        return { usable: cached.accel === 'kvm', guestsBoot: true, detail: `${cached.reason} (verdict cached ${cached.probedAt})` };
      }
    }
    return fromQemuProbe(await probeQemu({ bin: qemuPath, ...(signal ? { signal } : {}) }));
  };
}
