/**
 * The hypervisor verdict as GET /v1/hypervisor reports it: the one HypervisorChoice cached in the
 * store, and whether it still fits this host. Never probes; a daemon that has not started a VM yet
 * says so.
 */
import type { Database } from 'better-sqlite3';
import type { HypervisorVerdictInfo } from '../api/daemon-status.js';
import type { Config } from '../config/schema.js';
import { probeFingerprint, type ProbeFingerprint } from '../drivers/qemu/probe.js';
import { SettingsRepo } from '../store/settings.js';
import { VERDICT_KEY, type AccelVerdict } from './hypervisor-choice.js';

/** The same test HypervisorChoice applies before it reuses a cached verdict. */
function sameFingerprint(a: ProbeFingerprint, b: ProbeFingerprint): boolean {
  return a.bin === b.bin && a.qemuVersion === b.qemuVersion && a.hostKernel === b.hostKernel && a.kvmDevice === b.kvmDevice;
}

export async function hypervisorVerdictInfo(db: Database, config: Pick<Config, 'qemu_bin'>): Promise<HypervisorVerdictInfo> {
  const cached = new SettingsRepo(db).get<AccelVerdict>(VERDICT_KEY);
  if (!cached) return { probed: false };
  const now = await probeFingerprint({ bin: config.qemu_bin });
  return { probed: true, accel: cached.accel, reason: cached.reason, probedAt: cached.probedAt, current: sameFingerprint(cached.fingerprint, now) };
}
