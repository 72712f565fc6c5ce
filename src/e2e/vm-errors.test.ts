/**
 * VM failure paths through the built CLI and the API, booting the host kernel with a tiny initramfs
 * that never runs sshd (seconds under TCG, no image build).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../api/client.js';
import type { OperationStarted, OperationSummary, VMInfo } from '../api/types.js';
import { mkfsFromDir } from '../drivers/ext4/mkfs.js';
import { buildFixtureInitrd, findHostKernel } from '../drivers/qemu/fixture.js';
import { which } from '../system/exec.js';
import { banger, processesUnder } from '../testing/cli-process.js';

const kernel = findHostKernel();
const skip = !which('qemu-system-x86_64')
  ? 'qemu-system-x86_64 is not installed'
  : typeof kernel === 'string'
    ? `no host kernel to boot: ${kernel} (scripts/install-deps.sh --test installs one)`
    : undefined;

describe('vm failure paths', { skip }, () => {
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  before(async () => {
    if (typeof kernel === 'string') return;
    home = mkdtempSync('/tmp/bf-');
    env = { BANGER_HOME: home };
    writeFileSync(join(home, 'config.toml'), 'ssh_wait_timeout = "6s"\nwarm_pool = false\n[vm_defaults]\nvcpu = 1\nmemory_mib = 512\ndisk_size = "256M"\n');
    await buildFixtureInitrd(kernel, join(home, 'initrd.img'));
    await mkfsFromDir(join(home, 'rootfs.ext4'), undefined, { label: 'fixture', sizeBytes: 16 * 1024 * 1024 });
    const r = await banger(['image', 'register', '--name', 'fixture', '--rootfs', join(home, 'rootfs.ext4'), '--kernel', kernel.kernel, '--initrd', join(home, 'initrd.img')], env);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await banger(['daemon', 'stop'], env, 30_000);
    for (const pid of processesUnder(home)) process.kill(pid, 'SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  it('a guest that never answers SSH gives a timeout naming the VM and vm logs, and is kept', async () => {
    const r = await banger(['vm', 'run', '--name', 'mute', '--image', 'fixture', '--rm', '--', 'true'], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /vm mute did not become reachable over ssh within 6s/);
    assert.match(r.stderr, /banger vm logs mute/);
    const show = JSON.parse((await banger(['--json', 'vm', 'show', 'mute'], env)).stdout) as VMInfo;
    assert.equal(show.name, 'mute', '--rm does not delete a VM whose SSH wait failed');
    assert.equal(show.state, 'error', 'a VM whose SSH never answered is not running');
    assert.match(show.lastError ?? '', /did not become reachable over ssh/);
    assert.deepEqual(processesUnder(home), [], 'its process is ended');
    const logs = await banger(['vm', 'logs', 'mute'], env);
    assert.match(logs.stdout, /Linux version/, 'the console log of the failed boot is kept');
    const exec = await banger(['vm', 'exec', 'mute', '--', 'true'], env);
    assert.equal(exec.code, 6, exec.stderr);
    assert.match(exec.stderr, /vm mute failed to start/);
    assert.match(exec.stderr, /banger vm logs mute/);
  });

  it('refuses to delete an image a VM uses, naming the VM', async () => {
    const r = await banger(['image', 'delete', 'fixture'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /mute/);
  });

  it('delete removes every file of a failed VM', async () => {
    const before = JSON.parse((await banger(['--json', 'vm', 'show', 'mute'], env)).stdout) as VMInfo;
    const k = await banger(['vm', 'kill', 'mute'], env);
    assert.equal(k.code, 6, 'a VM with no process cannot be killed');
    const d = await banger(['vm', 'delete', 'mute'], env);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(existsSync(join(home, 'state', 'vms', before.id)), false);
  });

  it('cancelling a create removes the VM and its process', async () => {
    const client = new ApiClient(join(home, 'run', 'bangerd.sock'));
    const { opId } = await client.post<OperationStarted>('/vms', { name: 'cancelme', image: 'fixture' });
    for (;;) {
      const s = await client.get<OperationSummary>(`/operations/${opId}`);
      if (s.stage === 'ssh' || s.state !== 'running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await client.delete(`/operations/${opId}`);
    let s: OperationSummary;
    do {
      await new Promise((r) => setTimeout(r, 100));
      s = await client.get<OperationSummary>(`/operations/${opId}`);
    } while (s.state === 'running');
    assert.equal(s.state, 'cancelled');
    const list = JSON.parse((await banger(['--json', 'vm', 'list'], env)).stdout) as VMInfo[];
    assert.deepEqual(list.map((v) => v.name), []);
    assert.deepEqual(processesUnder(home), []);
    assert.deepEqual(readdirSync(join(home, 'state', 'vms')), []);
  });

  it('says QEMU is missing with the apt-get line (exit 5)', async () => {
    const other = mkdtempSync('/tmp/bq-');
    try {
      const env2 = { BANGER_HOME: other };
      writeFileSync(join(other, 'config.toml'), 'qemu_bin = "/nonexistent/qemu-system-x86_64"\nwarm_pool = false\n');
      const reg = await banger(['image', 'register', '--name', 'fixture', '--rootfs', join(home, 'rootfs.ext4'), '--kernel', (kernel as { kernel: string }).kernel, '--initrd', join(home, 'initrd.img')], env2);
      assert.equal(reg.code, 0, reg.stderr);
      const r = await banger(['vm', 'create', '--image', 'fixture', '--name', 'noqemu'], env2);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /\/nonexistent\/qemu-system-x86_64 was not found/);
      assert.match(r.stderr, /apt-get install qemu-system-x86 qemu-utils/);
      const list = JSON.parse((await banger(['--json', 'vm', 'list'], env2)).stdout) as VMInfo[];
      assert.deepEqual(list, [], 'nothing half-made is left');
    } finally {
      await banger(['daemon', 'stop'], { BANGER_HOME: other }, 30_000);
      rmSync(other, { recursive: true, force: true });
    }
  });
});
