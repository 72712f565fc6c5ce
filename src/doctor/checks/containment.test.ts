import assert from 'node:assert/strict';
import { test } from 'node:test';
import { which } from '../../system/exec.js';
import { DEFAULT_BINS } from '../env.js';
import { fakeBin, fakeDoctorEnv } from '../testing.js';
import { checkContainment } from './containment.js';

const QEMU = 'qemu-system-x86_64';

test('guest-containment: a QEMU without seccomp support is a WARN that says so', async () => {
  const bin = fakeBin({ [QEMU]: { stderr: 'qemu-system-x86_64: -sandbox on: There is no option group "sandbox"', code: 1 }, setpriv: '' });
  const row = await checkContainment(fakeDoctorEnv(bin));
  assert.equal(row.status, 'WARN');
  assert.match(row.details[0]!, /no usable seccomp sandbox: .*no option group "sandbox"/);
});

test('guest-containment: root without setpriv keeps capabilities, and doctor says so', async () => {
  const bin = fakeBin({ [QEMU]: '' });
  const row = await checkContainment(fakeDoctorEnv(bin));
  assert.equal(row.status, 'WARN');
  assert.ok(row.details.some((d) => /setpriv .* missing/.test(d)), row.details.join('\n'));
});

test('guest-containment: an unprivileged banger has no capabilities to drop', async () => {
  const bin = fakeBin({ [QEMU]: '' });
  const row = await checkContainment(fakeDoctorEnv(bin, { uid: 1000 }));
  assert.equal(row.status, 'PASS');
});

test('guest-containment: this host\'s QEMU accepts the sandbox banger gives it', { skip: which(DEFAULT_BINS.qemu) ? undefined : `${DEFAULT_BINS.qemu} not installed` }, async () => {
  const env = fakeDoctorEnv('/nonexistent', { which: (cmd) => which(cmd) });
  const row = await checkContainment(env);
  const text = row.details.join('\n');
  assert.match(text, /every VM's QEMU runs under a seccomp sandbox: -sandbox on,obsolete=deny,elevateprivileges=deny,/);
  assert.match(text, /user-mode VM whose slirp starts the egress connector \(socat\) allows privilege-changing calls.*: -sandbox on,obsolete=deny,elevateprivileges=allow,/);
});
