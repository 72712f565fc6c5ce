import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existingAncestor, hostDoctorEnv, parseOsRelease, toolLookup } from './env.js';
import { fakeBin, tempDir } from './testing.js';

test('toolLookup searches PATH, then the sbin directories unless told not to', () => {
  const bin = fakeBin({ 'banger-test-tool': '' });
  assert.equal(toolLookup(bin)('banger-test-tool'), join(bin, 'banger-test-tool'));
  assert.equal(toolLookup('')('banger-test-tool'), undefined);
  assert.equal(toolLookup('', { systemDirs: false })('sh'), undefined);
  assert.equal(toolLookup('/nonexistent:' + bin, { systemDirs: false })('banger-test-tool'), join(bin, 'banger-test-tool'));
  assert.equal(toolLookup('')(join(bin, 'banger-test-tool')), join(bin, 'banger-test-tool'));
});

test('parseOsRelease reads quoted and bare values', () => {
  assert.deepEqual(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n# comment\nID_LIKE=\'rhel fedora\'\n'), {
    PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)',
    ID: 'debian',
    ID_LIKE: 'rhel fedora',
  });
});

test('existingAncestor climbs to a directory that exists', () => {
  const d = tempDir('banger-doctor-');
  assert.equal(existingAncestor(join(d, 'a', 'b', 'c')), d);
  assert.equal(existingAncestor(d), d);
});

test('hostDoctorEnv: the PATH of the given env decides, free space is measured on the real filesystem', async () => {
  const bin = fakeBin({ 'qemu-system-x86_64': 'QEMU emulator version 9.9.9' });
  const home = tempDir('banger-doctor-');
  const env = hostDoctorEnv({ env: { PATH: bin, BANGER_HOME: join(home, 'not', 'yet') } });
  assert.equal(env.which('qemu-system-x86_64'), join(bin, 'qemu-system-x86_64'));
  const out = await env.runTool(join(bin, 'qemu-system-x86_64'), ['--version']);
  assert.deepEqual(out, { code: 0, stdout: 'QEMU emulator version 9.9.9\n', stderr: '' });
  const missing = await env.runTool(join(bin, 'nope'), []);
  assert.equal(missing.code, null);
  const space = env.freeSpace(env.layout.stateDir);
  assert.equal(space.measured, home);
  assert.ok(space.available > 0);
  assert.deepEqual(env.bins, { qemu: 'qemu-system-x86_64', firecracker: 'firecracker' });
});
