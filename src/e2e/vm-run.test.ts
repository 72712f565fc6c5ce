/**
 * End to end through the built CLI with real QEMU: from an empty BANGER_HOME the first `vm run`
 * builds the default image, boots it and runs a command. One VM is then shared by most checks.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { banger, e2eSkipReason, processesUnder, killLeftovers } from '../testing/cli-process.js';
import { pidAlive } from '../system/proc.js';
import { runUnchecked } from '../system/exec.js';
import type { PingResult, VMInfo, VMStats } from '../api/types.js';
import { createHash, randomBytes } from 'node:crypto';
import { BangerError } from '../api/errors.js';
import { Banger } from '../sdk/index.js';
import { sshdUnavailable } from '../drivers/ssh/sshd-fixture.js';
import { startContextHost } from '../testing/context-host.js';
import { parseRootDf, ROOT_DF_COMMAND, ROOT_WRITE_1G_COMMAND, rootGrowthProblem } from '../testing/root-growth.js';

const skip = e2eSkipReason();

describe('vm run end to end', { skip }, () => {
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  before(() => {
    home = mkdtempSync('/tmp/be-');
    env = { BANGER_HOME: home };
    // No warm pool template builds here: warm.test.ts covers the pool.
    writeFileSync(join(home, 'config.toml'), 'warm_pool = false\n');
  });
  after(async () => {
    await banger(['vm', 'delete', 'shared'], env, 60_000);
    await banger(['daemon', 'stop'], env, 30_000);
    killLeftovers(home);
    rmSync(home, { recursive: true, force: true });
  });

  it('vm run --rm from an empty home builds the image, prints Debian 12 and leaves nothing behind', async () => {
    const r = await banger(['vm', 'run', '--rm', '--', 'cat', '/etc/os-release'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Debian GNU\/Linux 12 \(bookworm\)/);
    assert.match(r.stderr, /spec: \d+ vcpu \| \d+ MiB \| \d+[GM] disk/);
    assert.match(r.stderr, /ready in \d/);
    const list = await banger(['--json', 'vm', 'list'], env);
    assert.deepEqual(JSON.parse(list.stdout), []);
    assert.deepEqual(processesUnder(home), []);
    assert.deepEqual(readdirSync(join(home, 'state', 'vms')), []);
  });

  it('vm run -- sh -c "exit 7" exits 7 and keeps the VM running', async () => {
    const r = await banger(['vm', 'run', '--name', 'shared', '--root-size', '12G', '--', 'sh', '-c', 'exit 7'], env);
    assert.equal(r.code, 7, r.stderr);
    const show = JSON.parse((await banger(['--json', 'vm', 'show', 'shared'], env)).stdout) as VMInfo;
    assert.equal(show.state, 'running');
    assert.equal(show.dnsName, 'shared.vm');
  });

  it('vm exec and vm ssh return guest output and exit status', async () => {
    const host = await banger(['vm', 'exec', 'shared', '--', 'cat', '/etc/hostname'], env);
    assert.equal(host.code, 0, host.stderr);
    assert.equal(host.stdout.trim(), 'shared');
    const args = await banger(['vm', 'exec', 'shared', '--', 'printf', '%s|', 'two words', "it's", '$(id)'], env);
    assert.equal(args.stdout, "two words|it's|$(id)|");
    assert.equal((await banger(['vm', 'exec', 'shared', '--', 'sh', '-c', 'exit 3'], env)).code, 3);
    const ssh = await banger(['vm', 'ssh', 'shared', '--', 'uname', '-s'], env);
    assert.equal(ssh.code, 0, ssh.stderr);
    assert.equal(ssh.stdout.trim(), 'Linux');
    assert.equal((await banger(['vm', 'ssh', 'shared', '--', 'false'], env)).code, 1);
    const cfg = await banger(['ssh-config'], env);
    assert.equal(cfg.code, 0, cfg.stderr);
    const plain = await runUnchecked(['ssh', '-F', join(home, 'ssh_config'), 'shared.vm', 'hostname'], { timeoutMs: 60_000 });
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout.trim(), 'shared', 'plain ssh <name>.vm works with banger\'s ssh_config');
    const who = await banger(['vm', 'exec', 'shared', '--', 'sh', '-c', 'id -u; findmnt -no SOURCE /root'], env);
    assert.deepEqual(who.stdout.trim().split('\n'), ['0', '/dev/vdb']);
  });

  it('a login does not wait for root\'s systemd --user manager, which still comes up on its own', async () => {
    // Boot trimming makes user@.service Type=simple: the first ssh login of a boot no longer waits for the
    // manager's default.target, and `systemctl --user` answers once the manager is up.
    const script = [
      'systemctl show user@0.service -p Type --value',
      'for i in $(seq 120); do s=$(systemctl --user is-system-running 2>/dev/null); case "$s" in running|degraded) break;; esac; sleep 1; done',
      'echo "$s"',
      'journalctl -b -q -p warning -u user@0.service --no-pager | grep -c . || true',
    ].join('; ');
    const r = await banger(['vm', 'exec', 'shared', '--', 'sh', '-c', script], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['simple', 'running', '0'], 'Type, the user manager\'s state, warnings logged for user@0.service');
  });

  it('boots trimmed: through banger\'s initramfs /init, with the seed applied before the work disk and the keys after it', async () => {
    const script = [
      'readlink /run/systemd/system-generators/systemd-sysv-generator',
      'systemctl is-active banger-seed.service banger-seed-keys.service',
      'systemctl show banger-seed.service -p RequiresMountsFor --value',
      'stat -c %a /root/.ssh/authorized_keys',
    ].join('; ');
    const r = await banger(['vm', 'exec', 'shared', '--', 'sh', '-c', script], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['/dev/null', 'active', 'active', '', '600'], 'generator masked by the trimmed /init, both seed units done, the seed not waiting for /root, the key in place');
  });

  it('boots trimmed: the network card\'s driver loads in the initramfs and the seed puts the address on eth0 before networkd gets the card', async () => {
    const script = [
      "ip -4 -o addr show dev eth0 | awk '{print $4}'",
      'ip -4 route show default',
      "journalctl -b -u banger-seed.service -o cat --no-pager | grep -c 'left to systemd-networkd' || true",
    ].join('; ');
    const r = await banger(['vm', 'exec', 'shared', '--', 'sh', '-c', script], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.trim()), ['10.0.2.15/24', 'default via 10.0.2.2 dev eth0 proto static', '0'], 'the card keeps its kernel name, and the seed configured it (it says so when it leaves the card to networkd)');
  });

  it('boots trimmed: under emulation udev loads no module for the CPU\'s virtualization and SIMD crypto features, and modprobe still can', async () => {
    // TCG has no kvm-clock; a KVM guest lists it and loads these modules as the image would.
    const script = [
      'read -r c < /sys/devices/system/clocksource/clocksource0/available_clocksource; case " $c " in *" kvm-clock "*) echo kvm;; *) echo emulated;; esac',
      "grep -qw aes /proc/cpuinfo && grep -qwE 'svm|vmx' /proc/cpuinfo && echo has-features",
      "grep -cE '^(kvm|kvm_amd|kvm_intel|aesni_intel|sha256_ssse3|crc32_pclmul) ' /proc/modules || true",
      'm=kvm_amd; grep -qw vmx /proc/cpuinfo && m=kvm_intel; modprobe $m && grep -c "^$m " /proc/modules && modprobe -r $m kvm',
    ].join('; ');
    const r = await banger(['vm', 'exec', 'shared', '--', 'sh', '-c', script], env);
    assert.equal(r.code, 0, r.stderr);
    const [accel, features, loaded, explicit] = r.stdout.trim().split('\n');
    assert.equal(features, 'has-features', 'the CPU has the features whose modules udev would load');
    if (accel === 'emulated') assert.equal(loaded, '0', 'none of those modules was loaded on its own');
    else assert.notEqual(loaded, '0', 'under KVM they load as the image has it');
    assert.equal(explicit, '1', 'an explicit modprobe still loads a blacklisted module');
  });

  it('grows the root filesystem to the requested root size, so a 1 GB file fits', async () => {
    const df = await banger(['vm', 'exec', 'shared', '--', ...ROOT_DF_COMMAND], env);
    assert.equal(df.code, 0, df.stderr);
    const problem = rootGrowthProblem(parseRootDf(df.stdout), 12 * 1024 ** 3);
    assert.equal(problem, undefined, problem);
    const write = await banger(['vm', 'exec', 'shared', '--', ...ROOT_WRITE_1G_COMMAND], env);
    assert.equal(write.code, 0, write.stderr);
  });

  it('the SDK runs commands and moves files on the real guest', async () => {
    const sdk = new Banger({ env: { ...process.env, BANGER_HOME: home } });
    const vm = await sdk.vms.get('shared');
    const r = await vm.exec(['sh', '-c', 'cat; uname -s; exit 4'], { stdin: 'from the host\n' });
    assert.deepEqual([r.stdout, r.exitCode], ['from the host\nLinux\n', 4]);
    const data = randomBytes(3 * 1024 * 1024);
    await vm.files.write('/root/sdk/blob.bin', data, { mode: 0o600 });
    const back = await vm.files.read('/root/sdk/blob.bin');
    assert.equal(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(data).digest('hex'));
    await assert.rejects(sdk.vms.get('no-such-vm'), (e: unknown) => e instanceof BangerError && e.code === 'not_found');
  });

  it('drives the same daemon through an ssh context: vm exec, vm run --rm and the SDK hop through the host', async (t) => {
    const why = await sshdUnavailable();
    if (why) return t.skip(why);
    const local = mkdtempSync('/tmp/bl-');
    const host = await startContextHost(join(local, 'host'), home);
    const localEnv = { BANGER_HOME: local };
    try {
      assert.equal((await banger(['context', 'create', 'e2e', '--host', host.url, ...host.sshOpts], localEnv)).code, 0);
      const exec = await banger(['--context', 'e2e', 'vm', 'exec', 'shared', '--', 'uname', '-a'], localEnv);
      assert.equal(exec.code, 0, exec.stderr);
      assert.match(exec.stdout, /^Linux shared /);
      const run = await banger(['--context', 'e2e', 'vm', 'run', '--rm', '--', 'uname', '-a'], localEnv);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^Linux \S+ .*x86_64/);
      const sdk = new Banger({ context: 'e2e', env: { ...process.env, ...localEnv } });
      const r = await (await sdk.vms.get('shared')).exec('cat /etc/hostname');
      assert.equal(r.stdout.trim(), 'shared');
      const names = JSON.parse((await banger(['--json', 'vm', 'list'], env)).stdout) as VMInfo[];
      assert.deepEqual(names.map((v) => v.name), ['shared'], 'the --rm VM was made and removed on the remote daemon');
      assert.ok(!existsSync(join(local, 'run', 'bangerd.sock')), 'no local daemon was started');
    } finally {
      await banger(['context', 'rm', 'e2e'], localEnv);
      await host.stop();
      rmSync(local, { recursive: true, force: true });
    }
  });

  it('shows the VM in list, show, stats, health and logs', async () => {
    const list = await banger(['vm', 'list'], env);
    assert.match(list.stdout, /^NAME\s+STATE\s+IMAGE\s+IP\s+VCPU\s+MEM\s+AGE/);
    assert.match(list.stdout, /\nshared\s+running\s+debian-bookworm\s+127\.77\.\d+\.\d+:\d+/);
    const show = JSON.parse((await banger(['--json', 'vm', 'show', 'shared'], env)).stdout) as VMInfo;
    const dig = await runUnchecked(['dig', '@127.0.0.1', '-p', '42069', '+short', 'shared.vm'], { timeoutMs: 10_000 });
    assert.equal(dig.stdout.trim(), show.sshHost, 'shared.vm resolves to the VM\'s own loopback address through banger\'s DNS');
    const stats = JSON.parse((await banger(['--json', 'vm', 'stats', 'shared'], env)).stdout) as VMStats;
    assert.ok((stats.rssBytes ?? 0) > 50 * 1024 * 1024, 'the VM process uses memory');
    assert.ok(stats.pid && pidAlive(stats.pid));
    assert.equal(stats.counters, undefined, 'QEMU VMs have no hypervisor counters (only firecracker keeps them)');
    const health = await banger(['vm', 'health', 'shared'], env);
    assert.equal(health.code, 0);
    assert.match(health.stdout, /healthy/);
    const logs = await banger(['vm', 'logs', 'shared'], env);
    assert.match(logs.stdout, /Linux version/);
  });

  it('re-adopts a running VM after the daemon is killed with SIGKILL', async () => {
    const before = JSON.parse((await banger(['--json', 'daemon', 'status'], env)).stdout) as PingResult;
    const vm = JSON.parse((await banger(['--json', 'vm', 'show', 'shared'], env)).stdout) as VMInfo;
    process.kill(before.pid, 'SIGKILL');
    while (pidAlive(before.pid)) await new Promise((r) => setTimeout(r, 20));
    assert.ok(vm.pid && pidAlive(vm.pid), 'the VM outlives the daemon');
    const after = JSON.parse((await banger(['--json', 'vm', 'show', 'shared'], env)).stdout) as VMInfo;
    assert.equal(after.state, 'running');
    assert.equal(after.pid, vm.pid);
    const r = await banger(['vm', 'exec', 'shared', '--', 'true'], env);
    assert.equal(r.code, 0, r.stderr);
  });

  it('keeps files under /root across stop and start', async () => {
    assert.equal((await banger(['vm', 'exec', 'shared', '--', 'sh', '-c', 'echo kept > /root/persist.txt'], env)).code, 0);
    const stop = await banger(['vm', 'stop', 'shared'], env);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, /shared stopped/);
    const ssh = await banger(['vm', 'ssh', 'shared', '--', 'true'], env);
    assert.equal(ssh.code, 6);
    assert.match(ssh.stderr, /not running/);
    assert.match(ssh.stderr, /hint: start it with banger vm start shared/);
    const setRunning = await banger(['vm', 'set', 'shared', '--vcpu', '1'], env);
    assert.equal(setRunning.code, 0, 'a stopped VM takes new settings');
    const grow = await banger(['vm', 'set', 'shared', '--disk-size', '9G'], env);
    assert.equal(grow.code, 0, grow.stderr);
    assert.match(grow.stdout, /shared: 1 vcpu, \d+ MiB, 9G disk/);
    const shrink = await banger(['vm', 'set', 'shared', '--disk-size', '1G'], env);
    assert.equal(shrink.code, 2);
    assert.match(shrink.stderr, /can only grow/);
    const start = await banger(['vm', 'start', 'shared'], env);
    assert.equal(start.code, 0, start.stderr);
    const r = await banger(['vm', 'exec', 'shared', '--', 'cat', '/root/persist.txt'], env);
    assert.equal(r.stdout.trim(), 'kept');
    const facts = await banger(['vm', 'exec', 'shared', '--', 'sh', '-c', 'nproc; df -B1G --output=size /root | tail -1'], env);
    const [cpus, size] = facts.stdout.trim().split('\n').map((l) => Number(l.trim()));
    assert.equal(cpus, 1);
    assert.equal(size, 9, `the work disk grew to 9G (df says ${size}G)`);
    const busy = await banger(['vm', 'set', 'shared', '--memory', '2048'], env);
    assert.equal(busy.code, 2);
    assert.match(busy.stderr, /stop it first/);
  });

  it('refuses bad input with clear errors', async () => {
    const img = await banger(['vm', 'create', '--image', 'no-such-image'], env);
    assert.equal(img.code, 3);
    assert.match(img.stderr, /image "no-such-image" not found/);
    assert.match(img.stderr, /looked in local images \(debian-bookworm\); the image catalog/);
    const dup = await banger(['vm', 'create', '--name', 'shared'], env);
    assert.equal(dup.code, 4);
    assert.match(dup.stderr, /vm "shared" already exists/);
    const mem = await banger(['vm', 'create', '--memory', '64'], env);
    assert.equal(mem.code, 2);
    assert.match(mem.stderr, /memory 64 MiB is out of range/);
    const cpus = await banger(['vm', 'create', '--vcpu', '64'], env);
    assert.equal(cpus.code, 2);
    assert.match(cpus.stderr, /vcpu 64 is more than this host's \d+ CPUs/);
  });

  it('deleting a running VM leaves no QEMU process and no files', async () => {
    const vm = JSON.parse((await banger(['--json', 'vm', 'show', 'shared'], env)).stdout) as VMInfo;
    const r = await banger(['vm', 'delete', 'shared'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(vm.pid && !pidAlive(vm.pid));
    assert.deepEqual(processesUnder(home), []);
    assert.equal(existsSync(join(home, 'state', 'vms', vm.id)), false);
  });
});
