import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PingResult } from '../../api/types.js';
import { HELPER_UNIT_PATH, renderHelperUnit, renderUnit, UNIT_PATH } from '../../system/systemd.js';
import { fakeBin, fakeDoctorEnv } from '../testing.js';
import { checkPrivileges } from './privileges.js';

const PROGRAM = { nodePath: '/usr/bin/node', bangerdScript: '/opt/banger/dist/bin/bangerd.js' };
const PING: PingResult = { version: '0.1.0', commit: 'c', builtAt: 'b', pid: 9, socket: '/run/banger/bangerd.sock', logPath: '', stateDir: '', startedAt: '', uptimeSeconds: 0 };

function envWith(files: Record<string, string>, ping?: PingResult) {
  return fakeDoctorEnv(fakeBin({}), {
    exists: (p) => p in files,
    readText: (p) => files[p],
    ping: () => Promise.resolve(ping),
  });
}

test('least-privilege: the split install, hardened, with the helper answering, passes', async () => {
  const files = { [UNIT_PATH]: renderUnit({ ...PROGRAM, owner: 'alice' }), [HELPER_UNIT_PATH]: renderHelperUnit({ ...PROGRAM, owner: 'alice' }) };
  const c = await checkPrivileges(envWith(files, { ...PING, uid: 1000, rootHelper: { socket: '/run/banger-root/helper.sock', reachable: true } }));
  assert.equal(c.status, 'PASS', c.details.join('\n'));
  assert.match(c.details[0]!, /runs as uid 1000; .* root helper on \/run\/banger-root\/helper\.sock: reachable/);
  assert.match(c.details.join('\n'), /User=alice; hardened/);
  assert.match(c.details.join('\n'), /bangerd-root\.service: root; hardened \(CapabilityBoundingSet=CAP_NET_ADMIN CAP_CHOWN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH/);
});

test('least-privilege: an unreachable helper fails; a unit that lost its hardening warns, naming what it lacks', async () => {
  const files = { [UNIT_PATH]: renderUnit({ ...PROGRAM, owner: 'alice' }), [HELPER_UNIT_PATH]: renderHelperUnit({ ...PROGRAM, owner: 'alice' }) };
  const down = await checkPrivileges(envWith(files, { ...PING, uid: 1000, rootHelper: { socket: '/run/banger-root/helper.sock', reachable: false, error: 'ECONNREFUSED' } }));
  assert.equal(down.status, 'FAIL');
  assert.match(down.details[0]!, /not reachable \(ECONNREFUSED\)/);
  assert.match(down.fix ?? '', /systemctl status bangerd-root\.service/);
  const weakened = { ...files, [HELPER_UNIT_PATH]: files[HELPER_UNIT_PATH].replace('ProtectSystem=strict\n', '').replace(/CapabilityBoundingSet=.*\n/, 'CapabilityBoundingSet=CAP_SYS_ADMIN\n') };
  const w = await checkPrivileges(envWith(weakened, { ...PING, uid: 1000, rootHelper: { socket: '/run/banger-root/helper.sock', reachable: true } }));
  assert.equal(w.status, 'WARN');
  assert.match(w.details.join('\n'), /lacks ProtectSystem=strict, CapabilityBoundingSet=CAP_NET_ADMIN CAP_CHOWN/);
  assert.match(w.fix ?? '', /ProtectSystem=strict/);
});

test('least-privilege: a root system daemon warns with the split install as the fix; no daemon and no unit passes', async () => {
  const root = await checkPrivileges(envWith({ [UNIT_PATH]: renderUnit(PROGRAM) }, { ...PING, uid: 0 }));
  assert.equal(root.status, 'WARN');
  assert.match(root.details.join('\n'), /runs as root and makes taps and nftables rules itself/);
  assert.match(root.details.join('\n'), /installed without --owner/);
  assert.match(root.fix ?? '', /system install --owner/);
  const none = await checkPrivileges(envWith({}));
  assert.equal(none.status, 'PASS');
  assert.deepEqual(none.details, ['the daemon is not running']);
});
