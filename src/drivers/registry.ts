/**
 * Which hypervisor drivers exist, by name. A VM that already ran is always acted on by the driver
 * its handle names (never by whatever is configured now); a new VM gets the driver the daemon's
 * choice (services/hypervisors.ts) makes from these entries.
 *
 * @module
 */
import { unavailable } from '../api/errors.js';
import type { Accel, DriverName, HypervisorDriver, ProbeResult, VMHandle } from './hypervisor.js';
import { FakeDriver, type FakeKnobs } from './fake/index.js';
import { QemuDriver } from './qemu/driver.js';
import { probeFingerprint, probeQemu, QEMU_FIX_HINT } from './qemu/probe.js';
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { which } from '../system/exec.js';
import { DEFAULT_FIRECRACKER_BIN, FirecrackerDriver, kvmProblem, KVM_DEVICE } from './firecracker/driver.js';
import type { JailerOptions } from './firecracker/jailer.js';
import { FC_FIX_HINT, firecrackerVersion } from './firecracker/version.js';

/** What a cached verdict was decided for; any change (new binary, new host kernel, /dev/kvm appearing) means probe again. */
export type Fingerprint = Record<string, string | boolean | undefined>;

export interface DriverEntry {
  readonly name: DriverName;
  /** Undefined when the driver is not installed here. */
  fingerprint(): Promise<Fingerprint | undefined>;
  /** Decides whether (and with which acceleration) the driver runs guests here, booting something small if that is the only way to know. */
  probe(signal?: AbortSignal): Promise<ProbeResult>;
  /** An instance that launches with `accel`, or (without it) one that acts on existing VMs. */
  create(accel?: Accel): HypervisorDriver;
  /** Why the driver is missing and the command that installs it. */
  readonly missing: { message: string; hint: string };
}

export interface RegistryOptions {
  qemuBin: string;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export function qemuEntry(opts: RegistryOptions): DriverEntry {
  const bin = opts.qemuBin;
  return {
    name: 'qemu',
    async fingerprint() {
      const f = await probeFingerprint({ bin });
      return f.bin ? { ...f } : undefined;
    },
    probe: (signal) => probeQemu({ bin, ...(signal ? { signal } : {}) }),
    create: (accel) => new QemuDriver({ bin, ...(accel ? { accel } : {}), log: (m) => opts.log?.(m, { driver: 'qemu' }) }),
    missing: { message: `${bin} was not found, and banger needs QEMU to run VMs`, hint: QEMU_FIX_HINT },
  };
}

export interface FirecrackerEntryOptions {
  /** firecracker_bin; empty or undefined: found on PATH. */
  bin?: string;
  jailer?: { enabled: boolean; bin: string; chrootBase: string; uid: number; gid: number };
  kvmDevice?: string;
  /** Whether the daemon's network gives VMs taps; firecracker has no user-mode network. */
  tapNetworking: boolean;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * The jailer settings a launch uses, or why the jailer is off: it needs root (to chroot and
 * change uid) and its binary.
 */
export function jailerChoice(j: FirecrackerEntryOptions['jailer'], isRoot = process.getuid?.() === 0): { jailer?: JailerOptions; note: string } {
  if (!j?.enabled) return { note: 'jailer off (jailer_enabled = false)' };
  if (!isRoot) return { note: 'jailer off: it needs root, and bangerd is not running as root' };
  if (!existsSync(j.bin)) return { note: `jailer off: ${j.bin} not found` };
  return { jailer: { bin: j.bin, chrootBase: j.chrootBase, uid: j.uid, gid: j.gid }, note: `jailer ${j.bin}` };
}

export function firecrackerEntry(opts: FirecrackerEntryOptions): DriverEntry {
  const name = opts.bin || DEFAULT_FIRECRACKER_BIN;
  const kvmDevice = opts.kvmDevice ?? KVM_DEVICE;
  const make = () => {
    const { jailer } = jailerChoice(opts.jailer);
    return new FirecrackerDriver({ bin: name, kvmDevice, ...(jailer ? { jailer } : {}), log: (m) => opts.log?.(m, { driver: 'firecracker' }) });
  };
  return {
    name: 'firecracker',
    async fingerprint() {
      const bin = which(name);
      if (!bin) return undefined;
      const { version, said } = await firecrackerVersion(bin);
      return { bin, version: version?.join('.') ?? said, hostKernel: release(), kvm: (await kvmProblem(kvmDevice)) ?? 'usable', jailer: jailerChoice(opts.jailer).note, tap: opts.tapNetworking };
    },
    async probe(signal) {
      if (!opts.tapNetworking) {
        return { available: false, reason: 'firecracker needs tap networking, and VMs here use user-mode networking', fixHint: 'set network_mode = "bridge" in config.toml (run bangerd as root), or driver = "qemu"' };
      }
      const r = await make().probe(signal ? { signal } : {});
      return r.available ? { ...r, reason: `${r.reason}; ${jailerChoice(opts.jailer).note}` } : r;
    },
    create: () => make(),
    missing: { message: `${name} was not found, and the firecracker driver needs it`, hint: FC_FIX_HINT },
  };
}

/** The fake driver (cheap real processes that answer SSH): registered only for tests, see fakeDriverEnabled. */
export function fakeEntry(knobs: FakeKnobs = {}): DriverEntry {
  return {
    name: 'fake',
    fingerprint: () => Promise.resolve({ driver: 'fake' }),
    probe: () => Promise.resolve({ available: true, accel: 'tcg', reason: 'the fake driver runs stand-in VM processes (tests only)' }),
    create: () => new FakeDriver(knobs),
    missing: { message: 'the fake driver is only for tests', hint: 'set BANGER_FAKE_DRIVER to use it' },
  };
}

export class DriverRegistry {
  private readonly entries = new Map<DriverName, DriverEntry>();
  private readonly instances = new Map<DriverName, HypervisorDriver>();

  constructor(entries: readonly DriverEntry[]) {
    for (const e of entries) this.entries.set(e.name, e);
  }

  names(): DriverName[] {
    return [...this.entries.keys()];
  }

  entry(name: DriverName): DriverEntry | undefined {
    return this.entries.get(name);
  }

  /** The driver that acts on VMs it launched earlier (stop, kill, adopt, reconcile). */
  forName(name: DriverName): HypervisorDriver {
    let d = this.instances.get(name);
    if (!d) {
      const e = this.entries.get(name);
      if (!e) throw unavailable(`this VM was started by the ${name} driver, which this daemon does not have`, `run the banger that started it, or delete the VM with banger vm delete`);
      d = e.create();
      this.instances.set(name, d);
    }
    return d;
  }

  forHandle(handle: VMHandle): HypervisorDriver {
    return this.forName(handle.driver);
  }

  /** Every registered driver, for scans that must find processes of any of them. */
  all(): HypervisorDriver[] {
    return this.names().map((n) => this.forName(n));
  }
}
