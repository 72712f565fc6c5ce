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

  assert.deepEqual(await make().verdictInfo(), { probed: false });
  assert.equal(probes.n, 0, 'reporting never probes');
  const v = await make().verdict();
  assert.equal(v.accel, 'tcg');
  assert.equal(probes.n, 1);
  assert.deepEqual(settings.get(verdictKey('qemu')), { fingerprint: fp.current, accel: 'tcg', reason: v.reason, probedAt: v.probedAt });
  await make().verdict();
  assert.equal(probes.n, 1, 'a new daemon reuses the cached verdict');
  assert.deepEqual(await make().verdictInfo(), { probed: true, accel: 'tcg', reason: v.reason, probedAt: v.probedAt, current: true });

  fp.current = { bin: '/usr/bin/qemu', hostKernel: '6.12' };
  assert.equal((await make().verdictInfo()).probed && (await make().verdictInfo() as { current: boolean }).current, false);
  await make().verdict();
  assert.equal(probes.n, 2, 'a changed host is probed again');

  fp.current = undefined;
  await assert.rejects(make().verdict(), /not.*found|only for tests/);
});
