/**
 * The hypervisor choice for new VMs: `driver = "auto"` takes firecracker (when registered and its
 * probe passes), then qemu with KVM, then qemu with TCG, and says which and why. Each driver's
 * verdict is probed once and cached in the store with its reason, keyed by driver name and checked
 * against a fingerprint of the host, so the doctor and the daemon read the same answer.
 *
 * @module
 */
import { badRequest, unavailable } from '../api/errors.js';
import type { Config } from '../config/schema.js';
import type { Accel, DriverName, HypervisorDriver, VMHandle } from '../drivers/hypervisor.js';
import type { DriverRegistry, Fingerprint } from '../drivers/registry.js';
import type { SettingsRepo } from '../store/settings.js';
import type { HypervisorVerdictInfo } from '../api/types.js';
import type { Logger } from '../system/logger.js';

export interface AccelVerdict {
  driver: DriverName;
  fingerprint: Fingerprint;
  accel: Accel;
  reason: string;
  probedAt: string;
  /** The acceleration was set by `accel` in config.toml rather than taken from the probe. */
  configured?: boolean;
}

export interface Choice {
  driver: HypervisorDriver;
  verdict: AccelVerdict;
}

export function verdictKey(driver: DriverName): string {
  return `hypervisor.${driver}.verdict`;
}

function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => a[k] === b[k]);
}

/** The driver the last VM start chose, under which `driver` setting, and why. */
interface StoredChoice {
  config: Config['driver'];
  driver: DriverName;
  why: string;
}

const CHOICE_KEY = 'hypervisor.choice';

function autoWhy(name: DriverName, skipped: readonly string[], note: string): string {
  return `driver = "auto" chose ${name}${note}${skipped.length ? `, passing over ${skipped.join('; ')}` : ''}`;
}

/** Which drivers `auto` tries, in order. */
const AUTO_ORDER: readonly DriverName[] = ['fake', 'firecracker', 'qemu'];

export class Hypervisors {
  private chosen?: Promise<Choice>;
  private readonly named = new Map<DriverName, Promise<Choice>>();

  constructor(
    private readonly registry: DriverRegistry,
    private readonly config: Pick<Config, 'driver'> & Partial<Pick<Config, 'accel'>>,
    private readonly settings: SettingsRepo,
    private readonly logger: Logger,
  ) {}

  /**
   * The driver new VMs launch with (probing once if no valid verdict is cached), or with a name (a
   * VM's own `--driver`) that driver, refused with its probe's reason when it cannot run guests here.
   */
  driver(name?: string): Promise<HypervisorDriver> {
    return this.choiceFor(name).then((c) => c.driver);
  }

  private choiceFor(name?: string): Promise<Choice> {
    if (name === undefined) return this.choose();
    const wanted = this.checkName(name);
    let chosen = this.named.get(wanted);
    if (!chosen) {
      chosen = this.pick(wanted, false).catch((err: unknown) => {
        this.named.delete(wanted);
        throw err;
      });
      this.named.set(wanted, chosen);
    }
    return chosen;
  }

  /** The driver of that name, or bad_request listing the drivers this daemon has. */
  checkName(name: string): DriverName {
    const names = this.registry.names();
    if (names.includes(name as DriverName)) return name as DriverName;
    throw badRequest(`unknown driver "${name}"; this daemon has ${names.join(', ')}`, `pick one, e.g. --driver ${names.includes('firecracker') ? 'firecracker' : names[0]}`);
  }

  verdict(): Promise<AccelVerdict> {
    return this.choose().then((c) => c.verdict);
  }

  /** The cached verdict of a driver, without probing; undefined when none was made. */
  cachedVerdict(driver: DriverName = 'qemu'): AccelVerdict | undefined {
    const v = this.settings.get<Omit<AccelVerdict, 'driver'> & { driver?: DriverName }>(verdictKey(driver));
    return v ? { ...v, driver } : undefined;
  }

  /**
   * The cached verdict of a driver and whether it still fits this host; never probes (for doctor and
   * status). Without a name: the driver new VMs get, with why it was (or would be) chosen.
   */
  async verdictInfo(driver?: DriverName): Promise<HypervisorVerdictInfo> {
    if (driver) return this.verdictOf(driver);
    const { name, why } = await this.expectedChoice();
    return { ...(await this.verdictOf(name)), driver: name, choice: why };
  }

  private async verdictOf(driver: DriverName): Promise<HypervisorVerdictInfo> {
    const cached = this.cachedVerdict(driver);
    if (!cached) return { probed: false };
    const now = await this.registry.entry(driver)?.fingerprint();
    return { probed: true, accel: cached.accel, reason: cached.reason, probedAt: cached.probedAt, current: now !== undefined && sameFingerprint(cached.fingerprint, now) };
  }

  /**
   * The choice the last VM start made under this config, or (none made yet) the one it would make
   * from what is installed and cached: a driver that is not installed is passed over, the first one
   * installed is taken (its probe decides at the next VM start).
   */
  private async expectedChoice(): Promise<{ name: DriverName; why: string }> {
    const wanted = this.config.driver;
    const made = this.settings.get<StoredChoice>(CHOICE_KEY);
    if (made && made.config === wanted && this.registry.entry(made.driver)) return { name: made.driver, why: made.why };
    if (wanted !== 'auto') return { name: wanted, why: `driver = "${wanted}" in config.toml (not started yet)` };
    const skipped: string[] = [];
    for (const name of AUTO_ORDER) {
      const entry = this.registry.entry(name);
      if (!entry) continue;
      if (!(await entry.fingerprint())) {
        skipped.push(`${name}: ${entry.missing.message}`);
        continue;
      }
      return { name, why: autoWhy(name, skipped, this.cachedVerdict(name) ? '' : ' (its probe runs at the next VM start)') };
    }
    return { name: 'qemu', why: autoWhy('qemu', skipped, ' (not installed)') };
  }

  /** The driver that acts on a VM launched earlier: the one its handle names. */
  forHandle(handle: VMHandle): HypervisorDriver {
    return this.registry.forHandle(handle);
  }

  forName(name: DriverName): HypervisorDriver {
    return this.registry.forName(name);
  }

  /** Every registered driver (reconcile scans each for processes of its own). */
  all(): HypervisorDriver[] {
    return this.registry.all();
  }

  /** One line to show when new VMs (or a VM of the named driver) will run slowly. */
  async accelNotice(name?: string): Promise<string | undefined> {
    const v = (await this.choiceFor(name)).verdict;
    return v.accel === 'tcg' && !v.configured ? `KVM is not usable here (${v.reason}); using TCG emulation, which is slow` : undefined;
  }

  private choose(): Promise<Choice> {
    this.chosen ??= this.pick(this.config.driver, true).catch((err: unknown) => {
      this.chosen = undefined;
      throw err;
    });
    return this.chosen;
  }

  /** `record`: this is the daemon's choice for new VMs (kept for status and doctor), not one VM's --driver. */
  private async pick(wanted: Config['driver'] | DriverName, record: boolean): Promise<Choice> {
    const candidates = wanted === 'auto' ? AUTO_ORDER.filter((n) => this.registry.entry(n)) : [wanted];
    const refusals: string[] = [];
    for (const name of candidates) {
      const entry = this.registry.entry(name);
      if (!entry) {
        throw unavailable(`the ${name} driver is not available yet`, 'set driver = "auto" or "qemu" in config.toml');
      }
      const fingerprint = await entry.fingerprint();
      if (!fingerprint) {
        if (wanted !== 'auto' || candidates.length === 1) throw unavailable(entry.missing.message, entry.missing.hint);
        refusals.push(`${name}: ${entry.missing.message}`);
        continue;
      }
      let verdict = this.cachedVerdict(name);
      if (!verdict || !sameFingerprint(verdict.fingerprint, fingerprint)) {
        this.logger.info('probing hypervisor', { driver: name });
        const r = await entry.probe();
        if (!r.available || !r.accel) {
          if (wanted !== 'auto' || name === candidates[candidates.length - 1]) {
            throw unavailable(`${name} cannot run guests here: ${r.reason}`, r.fixHint ?? entry.missing.hint);
          }
          refusals.push(`${name}: ${r.reason}`);
          continue;
        }
        verdict = { driver: name, fingerprint, accel: r.accel, reason: r.reason, probedAt: new Date().toISOString() };
        const { driver: _d, ...stored } = verdict;
        this.settings.set(verdictKey(name), stored);
        this.logger.info('hypervisor verdict', { driver: name, accel: verdict.accel, reason: verdict.reason, ...(refusals.length ? { skipped: refusals } : {}) });
      }
      const configured = this.configuredAccel(name, verdict);
      if (typeof configured === 'string') {
        if (wanted !== 'auto' || name === candidates[candidates.length - 1]) throw unavailable(configured, 'set accel = "auto" in config.toml (then restart the daemon: banger daemon stop)');
        refusals.push(`${name}: ${configured}`);
        continue;
      }
      const why = wanted === 'auto' ? autoWhy(name, refusals, '') : `driver = "${wanted}" in config.toml`;
      if (record) this.settings.set(CHOICE_KEY, { config: this.config.driver, driver: name, why } satisfies StoredChoice);
      return { driver: entry.create(configured.accel), verdict: configured };
    }
    throw unavailable(`no hypervisor can run guests here (${refusals.join('; ')})`, entry0Hint(this.registry));
  }

  /** The verdict with `accel` from config.toml applied (qemu only), or why the driver cannot honour it. */
  private configuredAccel(name: DriverName, verdict: AccelVerdict): AccelVerdict | string {
    const want = this.config.accel ?? 'auto';
    if (want === 'auto' || name === 'fake' || want === verdict.accel) return verdict;
    if (name !== 'qemu' || want === 'kvm') return `accel = "${want}" in config.toml, but ${name} runs guests with ${verdict.accel} here (${verdict.reason})`;
    return { ...verdict, accel: want, reason: `accel = "${want}" in config.toml (the probe found ${verdict.accel}: ${verdict.reason})`, configured: true };
  }
}

function entry0Hint(registry: DriverRegistry): string {
  return registry.entry('qemu')?.missing.hint ?? 'install qemu-system-x86';
}
