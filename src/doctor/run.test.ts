import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHECKS } from './checks/index.js';
import { formatReport, runDoctor } from './run.js';
import { fakeBin, fakeDoctorEnv } from './testing.js';

const ALL_TOOLS = {
  'qemu-system-x86_64': 'QEMU emulator version 7.2.22',
  firecracker: 'Firecracker v1.14.1',
  'qemu-img': 'qemu-img version 7.2.22',
  'mkfs.ext4': { stderr: 'mke2fs 1.47.0 (5-Feb-2023)' },
  debugfs: '',
  ip: 'ip utility, iproute2-6.1.0, libbpf 1.1.0',
  nft: 'nftables v1.0.6 (Lester Gooch #5)',
  ssh: { stderr: 'OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024' },
  'ssh-keygen': '',
  mmdebstrap: 'mmdebstrap 1.3.5',
  stat: 'ext2/ext3',
  setpriv: '',
};

test('runDoctor: rows in order, a throwing check becomes a FAIL row, ok follows FAILs', async () => {
  const env = fakeDoctorEnv(fakeBin({}));
  const report = await runDoctor(env, [
    { name: 'a', run: () => ({ name: 'a', status: 'PASS', details: ['fine'] }) },
    { name: 'b', run: () => Promise.resolve({ name: 'b', status: 'WARN', details: ['meh'] }) },
    {
      name: 'c',
      run: () => {
        throw new Error('kaput');
      },
    },
  ]);
  assert.deepEqual(report, {
    ok: false,
    checks: [
      { name: 'a', status: 'PASS', details: ['fine'] },
      { name: 'b', status: 'WARN', details: ['meh'] },
      { name: 'c', status: 'FAIL', details: ['the check itself failed: kaput'] },
    ],
  });
});

test('runDoctor: a fully equipped host passes every check but the unprobed KVM and the idle daemon', async () => {
  const report = await runDoctor(fakeDoctorEnv(fakeBin(ALL_TOOLS)));
  assert.equal(report.ok, true);
  assert.deepEqual(
    report.checks.map((c) => c.name),
    CHECKS.map((c) => c.name),
  );
  const notPass = report.checks.filter((c) => c.status !== 'PASS').map((c) => `${c.status} ${c.name}`);
  assert.deepEqual(notPass, ['WARN kvm-usable', 'WARN daemon']);
});

test('runDoctor: an empty host fails every required tool with its install line', async () => {
  const report = await runDoctor(fakeDoctorEnv(fakeBin({})));
  assert.equal(report.ok, false);
  const fails = Object.fromEntries(report.checks.filter((c) => c.status === 'FAIL').map((c) => [c.name, c.fix]));
  assert.deepEqual(fails, {
    qemu: 'apt-get install qemu-system-x86 qemu-utils',
    'qemu-img': 'apt-get install qemu-utils',
    e2fsprogs: 'apt-get install e2fsprogs',
    iproute2: 'apt-get install iproute2',
    ssh: 'apt-get install openssh-client',
    mmdebstrap: 'apt-get install mmdebstrap',
  });
});

test('formatReport: aligned rows, indented details and fix lines, a summary', () => {
  const text = formatReport({
    ok: false,
    checks: [
      { name: 'architecture', status: 'PASS', details: ['x86_64'] },
      { name: 'qemu', status: 'FAIL', details: ['qemu-system-x86_64 not found'], fix: 'apt-get install qemu-system-x86 qemu-utils' },
      { name: 'daemon', status: 'WARN', details: ['not running; it starts on first use', 'socket /run/x.sock'] },
    ],
  });
  assert.equal(
    text,
    [
      'PASS  architecture  x86_64',
      'FAIL  qemu          qemu-system-x86_64 not found',
      '                    - fix: apt-get install qemu-system-x86 qemu-utils',
      'WARN  daemon        not running; it starts on first use',
      '                    - socket /run/x.sock',
      '',
      '3 checks: 1 passed, 1 warning, 1 failed (run the fix lines above, then banger doctor again)',
      '',
    ].join('\n'),
  );
});
