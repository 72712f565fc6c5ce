/** Picks the hypervisor driver once per daemon, caching the KVM verdict with its reason in the store. */
import { unavailable } from '../api/errors.js';
import type { Config } from '../config/schema.js';
import type { Accel, HypervisorDriver } from '../drivers/hypervisor.js';
import { QemuDriver } from '../drivers/qemu/driver.js';
import { probeFingerprint, probeQemu, type ProbeFingerprint, QEMU_FIX_HINT } from '../drivers/qemu/probe.js';
import type { SettingsRepo } from '../store/settings.js';
import type { Logger } from './logger.js';

export interface AccelVerdict {
  fingerprint: ProbeFingerprint;
  accel: Accel;
  reason: string;
  probedAt: string;
}

export const VERDICT_KEY = 'hypervisor.qemu.verdict';

function sameFingerprint(a: ProbeFingerprint, b: ProbeFingerprint): boolean {
  return a.bin === b.bin && a.qemuVersion === b.qemuVersion && a.hostKernel === b.hostKernel && a.kvmDevice === b.kvmDevice;
}

export class HypervisorChoice {
  private chosen?: Promise<{ driver: HypervisorDriver; verdict: AccelVerdict }>;

  constructor(
    private readonly config: Config,
    private readonly settings: SettingsRepo,
    private readonly logger: Logger,
  ) {}

  driver(): Promise<HypervisorDriver> {
    return this.choose().then((c) => c.driver);
  }

  verdict(): Promise<AccelVerdict> {
    return this.choose().then((c) => c.verdict);
  }

  private choose(): Promise<{ driver: HypervisorDriver; verdict: AccelVerdict }> {
    this.chosen ??= this.pick().catch((err: unknown) => {
      this.chosen = undefined;
      throw err;
    });
    return this.chosen;
  }

  private async pick(): Promise<{ driver: HypervisorDriver; verdict: AccelVerdict }> {
    if (this.config.driver === 'firecracker') {
      throw unavailable('the firecracker driver is not available yet', 'set driver = "auto" or "qemu" in config.toml');
    }
    const bin = this.config.qemu_bin;
    const fingerprint = await probeFingerprint({ bin });
    if (!fingerprint.bin) throw unavailable(`${bin} was not found, and banger needs QEMU to run VMs`, QEMU_FIX_HINT);
    let verdict = this.settings.get<AccelVerdict>(VERDICT_KEY);
    if (!verdict || !sameFingerprint(verdict.fingerprint, fingerprint)) {
      this.logger.info('probing hypervisor acceleration', { bin: fingerprint.bin });
      const r = await probeQemu({ bin });
      if (!r.available || !r.accel) throw unavailable(`QEMU cannot run guests here: ${r.reason}`, r.fixHint ?? QEMU_FIX_HINT);
      verdict = { fingerprint, accel: r.accel, reason: r.reason, probedAt: new Date().toISOString() };
      this.settings.set(VERDICT_KEY, verdict);
      this.logger.info('hypervisor verdict', { accel: verdict.accel, reason: verdict.reason });
    }
    const driver = new QemuDriver({ bin, accel: verdict.accel, log: (m) => this.logger.info(m, { driver: 'qemu' }) });
    return { driver, verdict };
  }
}
