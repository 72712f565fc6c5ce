/**
 * The fake driver's behaviour knobs, given to its constructor or, for a daemon started by CLI tests,
 * read from the `BANGER_FAKE_DRIVER` environment variable as JSON, e.g.
 *
 *     BANGER_FAKE_DRIVER='{"bootDelayMs":500,"noSsh":["broken"],"crashAfterMs":3000,"ignorePowerdown":true}'
 *
 * Any non-empty value enables the driver; `1`, `true` and `{}` enable it with no knobs set.
 *
 * @module
 */
import { badRequest } from '../../api/errors.js';

export const FAKE_DRIVER_ENV = 'BANGER_FAKE_DRIVER';

/** How the fake guests behave. Every knob is off by default. */
export interface FakeKnobs {
  /** Time after launch before the guest's SSH answers (connections are accepted and closed meanwhile). */
  bootDelayMs?: number;
  /** Never serve SSH: for every VM (`true`) or for the VMs with these names. */
  noSsh?: boolean | string[];
  /** The VMM exits by itself (status 70) this long after launch, leaving its run files behind. */
  crashAfterMs?: number;
  /** The guest acknowledges but ignores the power-off request, so a shutdown has to force it. */
  ignorePowerdown?: boolean;
  /** Lines the guest prints on its console at boot, before its SSH starts (one line each). */
  consoleLines?: string[];
}

/** What one launched VMM is told to do (the knobs resolved for one VM). */
export interface VmmBehaviour {
  bootDelayMs: number;
  ssh: boolean;
  crashAfterMs?: number;
  ignorePowerdown: boolean;
  consoleLines?: string[];
}

/** True only when the fake driver was asked for: it must never be picked up by accident. */
export function fakeDriverEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env[FAKE_DRIVER_ENV] ?? '').trim() !== '';
}

/** The knobs in `BANGER_FAKE_DRIVER` (none when unset). Throws bad_request for a value it cannot use. */
export function knobsFromEnv(env: NodeJS.ProcessEnv = process.env): FakeKnobs {
  const raw = (env[FAKE_DRIVER_ENV] ?? '').trim();
  if (raw === '' || raw === '1' || raw === 'true') return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw badRequest(`${FAKE_DRIVER_ENV} is not JSON: ${raw.slice(0, 80)}`, `e.g. ${FAKE_DRIVER_ENV}='{"bootDelayMs":500}'`);
  }
  return checkKnobs(value, FAKE_DRIVER_ENV);
}

/** Validates knobs from an untyped source; `where` names the source in errors. */
export function checkKnobs(value: unknown, where = 'fake driver options'): FakeKnobs {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest(`${where} must be a JSON object`);
  const v = value as Record<string, unknown>;
  const known = ['bootDelayMs', 'noSsh', 'crashAfterMs', 'ignorePowerdown', 'consoleLines'];
  const unknown = Object.keys(v).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw badRequest(`${where}: unknown option ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const knobs: FakeKnobs = {};
  for (const key of ['bootDelayMs', 'crashAfterMs'] as const) {
    const n = v[key];
    if (n === undefined) continue;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw badRequest(`${where}: ${key} must be a whole number of ms`);
    knobs[key] = n;
  }
  if (v.noSsh !== undefined) {
    const ok = typeof v.noSsh === 'boolean' || (Array.isArray(v.noSsh) && v.noSsh.every((n) => typeof n === 'string'));
    if (!ok) throw badRequest(`${where}: noSsh must be true, false or a list of vm names`);
    knobs.noSsh = v.noSsh as boolean | string[];
  }
  if (v.ignorePowerdown !== undefined) {
    if (typeof v.ignorePowerdown !== 'boolean') throw badRequest(`${where}: ignorePowerdown must be true or false`);
    knobs.ignorePowerdown = v.ignorePowerdown;
  }
  if (v.consoleLines !== undefined) {
    if (!Array.isArray(v.consoleLines) || !v.consoleLines.every((l) => typeof l === 'string' && !/[\r\n]/.test(l))) {
      throw badRequest(`${where}: consoleLines must be a list of single lines`);
    }
    knobs.consoleLines = v.consoleLines as string[];
  }
  return knobs;
}

/** The knobs as they apply to the VM called `vmName`. */
export function behaviourFor(knobs: FakeKnobs, vmName: string): VmmBehaviour {
  const noSsh = knobs.noSsh === true || (Array.isArray(knobs.noSsh) && knobs.noSsh.includes(vmName));
  const b: VmmBehaviour = { bootDelayMs: knobs.bootDelayMs ?? 0, ssh: !noSsh, ignorePowerdown: knobs.ignorePowerdown ?? false };
  if (knobs.crashAfterMs !== undefined) b.crashAfterMs = knobs.crashAfterMs;
  if (knobs.consoleLines?.length) b.consoleLines = knobs.consoleLines;
  return b;
}
