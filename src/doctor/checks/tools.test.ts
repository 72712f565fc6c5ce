import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEBIAN_OS_RELEASE, fakeBin, fakeDoctorEnv, tempDir } from '../testing.js';
import { checkE2fsprogs } from './e2fsprogs.js';
import { checkFirecracker } from './firecracker.js';
import { checkNftables } from './nftables.js';
import { checkIproute2 } from './iproute2.js';
import { checkMmdebstrap } from './mmdebstrap.js';
import { checkQemu } from './qemu.js';
import { checkQemuImg } from './qemu-img.js';
import { checkSsh } from './ssh.js';

const empty = () => fakeBin({});

test('qemu: missing fails with the apt-get line', async () => {
  const r = await checkQemu(fakeDoctorEnv(empty()));
  assert.equal(r.name, 'qemu');
  assert.equal(r.status, 'FAIL');
  assert.equal(r.fix, 'apt-get install qemu-system-x86 qemu-utils');
  assert.match(r.details[0]!, /qemu-system-x86_64 not found/);
});

test('qemu: the apt-get line gets sudo for a non-root user', async () => {
  const r = await checkQemu(fakeDoctorEnv(empty(), { uid: 1000 }));
  assert.equal(r.fix, 'sudo apt-get install qemu-system-x86 qemu-utils');
});

test('qemu: present passes with its version', async () => {
  const bin = fakeBin({ 'qemu-system-x86_64': 'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u16)' });
  const r = await checkQemu(fakeDoctorEnv(bin));
  assert.equal(r.status, 'PASS');
  assert.equal(r.details[0], `QEMU 7.2.22 (${bin}/qemu-system-x86_64)`);
  assert.equal(r.fix, undefined);
});

test('qemu: a binary that fails to run fails', async () => {
  const bin = fakeBin({ 'qemu-system-x86_64': { stderr: 'error while loading shared libraries', code: 127 } });
  const r = await checkQemu(fakeDoctorEnv(bin));
  assert.equal(r.status, 'FAIL');
  assert.match(r.details[0]!, /--version failed: error while loading shared libraries/);
});

test('qemu: the configured qemu_bin is the one checked', async () => {
  const bin = fakeBin({ 'my-qemu': 'QEMU emulator version 8.2.2' });
  const env = fakeDoctorEnv(bin);
  const r = await checkQemu({ ...env, bins: { ...env.bins, qemu: 'my-qemu' } });
  assert.equal(r.status, 'PASS');
  assert.match(r.details[0]!, /^QEMU 8\.2\.2 /);
});

test('firecracker: missing is a warning (qemu runs VMs)', async () => {
  const r = await checkFirecracker(fakeDoctorEnv(empty()));
  assert.equal(r.status, 'WARN');
  assert.match(r.details[0]!, /optional/);
  assert.match(r.fix!, /github\.com\/firecracker-microvm\/firecracker\/releases/);
});

test('firecracker: versions inside [1.5.0, 1.16.x] pass, older fail, newer warn', async () => {
  const cases: [string, string][] = [
    ['Firecracker v1.5.0', 'PASS'],
    ['Firecracker v1.14.1\n\nSupported snapshot data format versions: v1.0.0', 'PASS'],
    ['Firecracker v1.16.3', 'PASS'],
    ['Firecracker v1.4.1', 'FAIL'],
    ['Firecracker v1.17.0', 'WARN'],
    ['Firecracker v2.0.0', 'WARN'],
  ];
  for (const [out, want] of cases) {
    const r = await checkFirecracker(fakeDoctorEnv(fakeBin({ firecracker: out })));
    assert.equal(r.status, want, out);
  }
});

test('e2fsprogs: missing mkfs.ext4 or debugfs fails with the apt-get line', async () => {
  for (const bin of [empty(), fakeBin({ 'mkfs.ext4': { stderr: 'mke2fs 1.47.0 (5-Feb-2023)' } })]) {
    const r = await checkE2fsprogs(fakeDoctorEnv(bin));
    assert.equal(r.status, 'FAIL');
    assert.equal(r.fix, 'apt-get install e2fsprogs');
  }
});

test('e2fsprogs: 1.43 or newer passes, older fails', async () => {
  const ok = await checkE2fsprogs(fakeDoctorEnv(fakeBin({ 'mkfs.ext4': { stderr: 'mke2fs 1.47.0 (5-Feb-2023)\n\tUsing EXT2FS Library version 1.47.0' }, debugfs: '' })));
  assert.equal(ok.status, 'PASS');
  assert.match(ok.details[0]!, /e2fsprogs 1\.47\.0/);
  const old = await checkE2fsprogs(fakeDoctorEnv(fakeBin({ 'mkfs.ext4': { stderr: 'mke2fs 1.42.9 (28-Dec-2013)' }, debugfs: '' })));
  assert.equal(old.status, 'FAIL');
  assert.match(old.details[0]!, /older than 1\.43\.0/);
});

test('qemu-img: missing fails with apt-get install qemu-utils; present passes', async () => {
  const miss = await checkQemuImg(fakeDoctorEnv(empty()));
  assert.equal(miss.status, 'FAIL');
  assert.equal(miss.fix, 'apt-get install qemu-utils');
  const ok = await checkQemuImg(fakeDoctorEnv(fakeBin({ 'qemu-img': 'qemu-img version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u16)' })));
  assert.equal(ok.status, 'PASS');
  assert.equal(ok.details[0], 'qemu-img 7.2.22');
});

test('iproute2: missing fails with apt-get install iproute2; present passes', async () => {
  const miss = await checkIproute2(fakeDoctorEnv(empty()));
  assert.equal(miss.status, 'FAIL');
  assert.equal(miss.fix, 'apt-get install iproute2');
  const ok = await checkIproute2(fakeDoctorEnv(fakeBin({ ip: 'ip utility, iproute2-6.1.0, libbpf 1.1.0' })));
  assert.equal(ok.status, 'PASS');
  assert.equal(ok.details[0], 'iproute2-6.1.0');
});

test('nftables: bridge mode needs nft; without it bridge mode is unavailable (iptables is no substitute) with the apt-get line', async () => {
  const nft = await checkNftables(fakeDoctorEnv(fakeBin({ nft: 'nftables v1.0.6 (Lester Gooch #5)' })));
  assert.equal(nft.status, 'PASS');
  assert.match(nft.details[0]!, /^nftables v1\.0\.6 .*bridge mode available/);
  for (const bin of [empty(), fakeBin({ iptables: 'iptables v1.8.9 (nf_tables)' })]) {
    const none = await checkNftables(fakeDoctorEnv(bin));
    assert.equal(none.status, 'WARN', 'user mode (the default) runs without it');
    assert.match(none.details[0]!, /nft not found: bridge mode unavailable/);
    assert.match(none.details[0]!, /no iptables fallback/);
    assert.equal(none.fix, 'apt-get install nftables');
  }
  const home = tempDir();
  writeFileSync(join(home, 'config.toml'), 'network_mode = "bridge"\n');
  const bridge = await checkNftables(fakeDoctorEnv(empty(), { env: { BANGER_HOME: home } }));
  assert.equal(bridge.status, 'FAIL', 'configured bridge mode cannot work');
  assert.match(bridge.details.join('\n'), /bridge mode unavailable[\s\S]*network_mode = "bridge"/);
  assert.equal(bridge.fix, 'apt-get install nftables');
  const sudo = await checkNftables(fakeDoctorEnv(empty(), { uid: 1000 }));
  assert.equal(sudo.fix, 'sudo apt-get install nftables');
});

test('nftables in bridge mode also says whether net.ipv4.ip_forward is on and that banger leaves it on', async () => {
  const bin = fakeBin({ nft: 'nftables v1.0.6 (Lester Gooch #5)' });
  const home = tempDir();
  writeFileSync(join(home, 'config.toml'), 'network_mode = "bridge"\n');
  const on = await checkNftables(fakeDoctorEnv(bin, { env: { BANGER_HOME: home } }), () => Promise.resolve(true));
  assert.equal(on.status, 'PASS');
  assert.match(on.details[1]!, /^net\.ipv4\.ip_forward is on: bridge mode turns it on for VMs with --nat or --allow and leaves it on .*sysctl -w net\.ipv4\.ip_forward=0/);
  const off = await checkNftables(fakeDoctorEnv(bin, { env: { BANGER_HOME: home } }), () => Promise.resolve(false));
  assert.match(off.details[1]!, /^net\.ipv4\.ip_forward is off:/);
  const user = await checkNftables(fakeDoctorEnv(bin), () => Promise.resolve(true));
  assert.equal(user.details.length, 1, 'user mode does not forward: no ip_forward line');
});

test('ssh: both ssh and ssh-keygen are needed', async () => {
  const none = await checkSsh(fakeDoctorEnv(empty()));
  assert.equal(none.status, 'FAIL');
  assert.equal(none.fix, 'apt-get install openssh-client');
  const half = await checkSsh(fakeDoctorEnv(fakeBin({ ssh: { stderr: 'OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024' } })));
  assert.equal(half.status, 'FAIL');
  assert.match(half.details[0]!, /^ssh-keygen not found/);
  const ok = await checkSsh(fakeDoctorEnv(fakeBin({ ssh: { stderr: 'OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024' }, 'ssh-keygen': '' })));
  assert.equal(ok.status, 'PASS');
  assert.equal(ok.details[0], 'OpenSSH_9.2p1 Debian-2+deb12u3; ssh-keygen present');
});

test('mmdebstrap: missing fails with apt-get install mmdebstrap; present passes', async () => {
  const miss = await checkMmdebstrap(fakeDoctorEnv(empty()));
  assert.equal(miss.status, 'FAIL');
  assert.equal(miss.fix, 'apt-get install mmdebstrap');
  const ok = await checkMmdebstrap(fakeDoctorEnv(fakeBin({ mmdebstrap: 'mmdebstrap 1.3.5' })));
  assert.equal(ok.status, 'PASS');
  assert.equal(ok.details[0], 'mmdebstrap 1.3.5');
});

test('fix lines follow the distribution', async () => {
  const fedora = await checkQemu(fakeDoctorEnv(empty(), { osRelease: { ID: 'fedora' } }));
  assert.equal(fedora.fix, 'dnf install qemu-system-x86-core qemu-img');
  const ubuntu = await checkQemu(fakeDoctorEnv(empty(), { osRelease: { ID: 'ubuntu', ID_LIKE: 'debian' } }));
  assert.equal(ubuntu.fix, 'apt-get install qemu-system-x86 qemu-utils');
  const other = await checkQemu(fakeDoctorEnv(empty(), { osRelease: { ID: 'gentoo' } }));
  assert.match(other.fix!, /qemu-system-x86 qemu-utils \(Debian package names\)/);
  assert.deepEqual(DEBIAN_OS_RELEASE.ID, 'debian');
});
