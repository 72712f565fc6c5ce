import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HypervisorVerdictInfo } from '../api/daemon-status.js';
import { probeFingerprint } from '../drivers/qemu/probe.js';
import { openStore } from '../store/db.js';
import { SettingsRepo } from '../store/settings.js';
import type { DaemonContext } from './context.js';
import { VERDICT_KEY, type AccelVerdict } from './hypervisor-choice.js';
import { systemRoutes } from './routes/system.js';

void test('GET /hypervisor: "not probed" until a verdict is cached, then the verdict and whether it fits this host', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-verdict-'));
  const db = openStore(join(dir, 'state.db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const qemu_bin = 'banger-test-no-such-qemu';
  const app = systemRoutes({ db, loaded: { config: { qemu_bin } } } as unknown as DaemonContext);
  const get = async () => (await (await app.request('/hypervisor')).json()) as HypervisorVerdictInfo;

  assert.deepEqual(await get(), { probed: false });

  const settings = new SettingsRepo(db);
  const verdict: AccelVerdict = {
    fingerprint: await probeFingerprint({ bin: qemu_bin }),
    accel: 'tcg',
    reason: 'kvm: /dev/kvm not present; using tcg (slow): probe guest ran in 900ms',
    probedAt: '2026-01-02T03:04:05.000Z',
  };
  settings.set(VERDICT_KEY, verdict);
  assert.deepEqual(await get(), { probed: true, accel: 'tcg', reason: verdict.reason, probedAt: verdict.probedAt, current: true });

  settings.set(VERDICT_KEY, { ...verdict, fingerprint: { ...verdict.fingerprint, hostKernel: 'another-kernel' } });
  assert.deepEqual(await get(), { probed: true, accel: 'tcg', reason: verdict.reason, probedAt: verdict.probedAt, current: false });
});
