/**
 * driver = "auto" and "firecracker" with the real firecracker registry entry: the stand-in
 * firecracker on PATH and a KVM device the user can open make auto choose it (its probe boots the
 * tiny guest and sees its serial marker); without the binary or tap networking auto falls back to
 * qemu and says why; a forced firecracker that cannot run fails with a hint. The doctor and daemon
 * status read the chosen driver and the reason from verdictInfo().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BangerError } from '../api/errors.js';
import type { DriverEntry } from '../drivers/registry.js';
import { DriverRegistry, fakeEntry, firecrackerEntry } from '../drivers/registry.js';
import { installStandin } from '../testing/firecracker/fixture.js';
import { openStore } from '../store/db.js';
import { SettingsRepo } from '../store/settings.js';
import { createLogger } from '../system/logger.js';
import { Hypervisors } from './hypervisors.js';

const qemu: DriverEntry = {
  ...fakeEntry(),
  name: 'qemu',
  fingerprint: () => Promise.resolve({ bin: '/usr/bin/qemu-system-x86_64' }),
  probe: () => Promise.resolve({ available: true, accel: 'kvm', reason: 'probe guest ran under kvm' }),
};

async function setup(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'banger-hv-fc-'));
  const db = openStore(join(dir, 'state.db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const kvmDevice = join(dir, 'kvm');
  writeFileSync(kvmDevice, '');
  const bin = await installStandin(join(dir, 'bin'));
  const hv = (driver: 'auto' | 'firecracker', fc: { bin?: string; tap?: boolean } = {}) =>
    new Hypervisors(
      new DriverRegistry([firecrackerEntry({ bin: fc.bin ?? bin, kvmDevice, tapNetworking: fc.tap ?? true }), qemu]),
      { driver },
      new SettingsRepo(db),
      createLogger(undefined, 'error'),
    );
  return { dir, hv };
}

void test('auto chooses firecracker when its binary is there and its probe guest runs; status names it and why', async (t) => {
  const { hv } = await setup(t);
  const before = await hv('auto').verdictInfo();
  assert.deepEqual(before, { probed: false, driver: 'firecracker', choice: 'driver = "auto" chose firecracker (its probe runs at the next VM start)' });
  const h = hv('auto');
  assert.equal((await h.driver()).capabilities().name, 'firecracker');
  const info = await hv('auto').verdictInfo();
  assert.ok(info.probed, JSON.stringify(info));
  assert.equal(info.driver, 'firecracker');
  assert.equal(info.accel, 'kvm');
  assert.equal(info.current, true);
  assert.equal(info.choice, 'driver = "auto" chose firecracker');
  assert.match(info.reason, /firecracker 1\.16\.1 .* a test microVM ran its guest code \(serial marker/);
});

void test('auto falls back to qemu and says why: firecracker missing, or no tap networking', async (t) => {
  const { dir, hv } = await setup(t);
  const missing = join(dir, 'nowhere', 'firecracker');
  assert.deepEqual(await hv('auto', { bin: missing }).verdictInfo(), {
    probed: false,
    driver: 'qemu',
    choice: `driver = "auto" chose qemu (its probe runs at the next VM start), passing over firecracker: ${missing} was not found, and the firecracker driver needs it`,
  });
  const noTap = hv('auto', { tap: false });
  assert.equal((await noTap.verdict()).driver, 'qemu');
  const info = await hv('auto', { tap: false }).verdictInfo();
  assert.equal(info.driver, 'qemu');
  assert.equal(info.choice, 'driver = "auto" chose qemu, passing over firecracker: firecracker needs tap networking, and VMs here use user-mode networking');
});

void test('driver = "firecracker" that cannot run here fails with a hint instead of falling back', async (t) => {
  const { dir, hv } = await setup(t);
  const refused = (message: RegExp, hint: RegExp) => (err: unknown) => {
    assert.ok(err instanceof BangerError, String(err));
    assert.equal(err.code, 'unavailable');
    assert.match(err.message, message);
    assert.match(err.hint ?? '', hint);
    return true;
  };
  await assert.rejects(hv('firecracker', { bin: join(dir, 'nowhere', 'firecracker') }).driver(), refused(/was not found, and the firecracker driver needs it/, /firecracker_bin/));
  await assert.rejects(hv('firecracker', { tap: false }).driver(), refused(/firecracker cannot run guests here: firecracker needs tap networking/, /network_mode = "bridge"/));
  assert.deepEqual(await hv('firecracker', { tap: false }).verdictInfo(), { probed: false, driver: 'firecracker', choice: 'driver = "firecracker" in config.toml (not started yet)' });
});
