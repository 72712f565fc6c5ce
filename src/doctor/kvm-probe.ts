/** The hook through which the QEMU driver tells the doctor whether KVM really boots guests. */
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

/** The QEMU driver's probe (boots a tiny guest under TCG and under KVM), loaded only when the doctor runs. */
export async function loadKvmProbe(): Promise<KvmProbe> {
  const { probeQemu } = await import('../drivers/qemu/probe.js');
  return async ({ qemuPath, signal }) => fromQemuProbe(await probeQemu({ bin: qemuPath, ...(signal ? { signal } : {}) }));
}
