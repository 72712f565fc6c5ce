import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DriverEntry, Fingerprint } from '../drivers/registry.js';
import { DriverRegistry, fakeEntry } from '../drivers/registry.js';
import { openStore } from '../store/db.js';
import { SettingsRepo } from '../store/settings.js';
import { createLogger } from '../system/logger.js';
import { Hypervisors, verdictKey } from './hypervisors.js';

function qemuLike(fp: { current: Fingerprint | undefined }, probes: { n: number }): DriverEntry {
  const base = fakeEntry();
  return {
    ...base,
    name: 'qemu',
    fingerprint: () => Promise.resolve(fp.current),
    probe: () => {
      probes.n++;
      return Promise.resolve({ available: true, accel: 'tcg', reason: 'probe guest ran under tcg in 900ms' });
    },
  };
}

void test('the verdict is probed once, cached with its reason, re-probed when the host changes, and reported without probing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-verdict-'));
  const db = openStore(join(dir, 'state.db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const fp = { current: { bin: '/usr/bin/qemu', hostKernel: '6.1' } as Fingerprint | undefined };
  const probes = { n: 0 };
  const settings = new SettingsRepo(db);
  const make = () => new Hypervisors(new DriverRegistry([qemuLike(fp, probes)]), { driver: 'auto' }, settings, createLogger(undefined, 'error'));

  assert.deepEqual(await make().verdictInfo('qemu'), { probed: false });
  assert.equal(probes.n, 0, 'reporting never probes');
  const v = await make().verdict();
  assert.equal(v.accel, 'tcg');
  assert.equal(probes.n, 1);
  assert.deepEqual(settings.get(verdictKey('qemu')), { fingerprint: fp.current, accel: 'tcg', reason: v.reason, probedAt: v.probedAt });
  await make().verdict();
  assert.equal(probes.n, 1, 'a new daemon reuses the cached verdict');
  assert.deepEqual(await make().verdictInfo(), { probed: true, accel: 'tcg', reason: v.reason, probedAt: v.probedAt, current: true, driver: 'qemu', choice: 'driver = "auto" chose qemu' });

  fp.current = { bin: '/usr/bin/qemu', hostKernel: '6.12' };
  assert.equal((await make().verdictInfo()).probed && (await make().verdictInfo() as { current: boolean }).current, false);
  await make().verdict();
  assert.equal(probes.n, 2, 'a changed host is probed again');

  fp.current = undefined;
  await assert.rejects(make().verdict(), /not.*found|only for tests/);
});

void test('accel in config.toml: tcg is used although the probe found kvm; kvm is refused where the probe found tcg', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-accel-'));
  const db = openStore(join(dir, 'state.db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const created: (string | undefined)[] = [];
  const entry = (accel: 'kvm' | 'tcg'): DriverEntry => {
    const base = qemuLike({ current: { bin: '/usr/bin/qemu', accel } }, { n: 0 });
    return {
      ...base,
      probe: () => Promise.resolve({ available: true, accel, reason: `probe guest ran under ${accel}` }),
      create: (a) => {
        created.push(a);
        return base.create(a);
      },
    };
  };
  const settings = new SettingsRepo(db);
  const logger = createLogger(undefined, 'error');

  const forcedTcg = new Hypervisors(new DriverRegistry([entry('kvm')]), { driver: 'qemu', accel: 'tcg' }, settings, logger);
  const v = await forcedTcg.verdict();
  assert.equal(v.accel, 'tcg');
  assert.match(v.reason, /^accel = "tcg" in config\.toml \(the probe found kvm: probe guest ran under kvm\)$/);
  assert.deepEqual(created, ['tcg'], 'new VMs launch with tcg');
  assert.equal(await forcedTcg.accelNotice(), undefined, 'no "KVM is not usable" warning when tcg was asked for');
  assert.equal((await forcedTcg.verdictInfo()).probed && (await forcedTcg.verdictInfo() as { accel: string }).accel, 'kvm', 'the cached probe verdict stays what the probe found');

  // A host whose probe finds tcg (another fingerprint, so it is probed again).
  const forcedKvm = new Hypervisors(new DriverRegistry([entry('tcg')]), { driver: 'qemu', accel: 'kvm' }, new SettingsRepo(db), logger);
  await assert.rejects(forcedKvm.driver(), /accel = "kvm" in config\.toml, but qemu runs guests with tcg here \(probe guest ran under tcg\)/);
});
