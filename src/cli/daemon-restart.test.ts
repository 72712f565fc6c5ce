/**
 * A daemon killed in the middle of a create: the next daemon adopts the VM process and finishes the
 * readiness wait, so the VM ends running (fake driver, real daemon processes, real SSH).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OperationStarted, OperationSummary, PingResult, SSHTarget, VMInfo } from '../api/types.js';
import { exec as sshExec } from '../drivers/ssh/client.js';
import { mkfsFromDir } from '../drivers/ext4/mkfs.js';
import { pidAlive, signalProcess, waitForExit } from '../system/proc.js';
import { CliHarness } from '../testing/cli-harness.js';

describe('daemon killed mid-create', () => {
  const h = new CliHarness({ BANGER_FAKE_DRIVER: JSON.stringify({ bootDelayMs: 3000 }) });
  before(async () => {
    writeFileSync(join(h.home, 'config.toml'), 'ssh_wait_timeout = "30s"\ndefault_image_name = "tiny"\n');
    await mkfsFromDir(join(h.home, 'rootfs.ext4'), undefined, { label: 'tiny', sizeBytes: 8 * 1024 * 1024 });
    const kernel = Buffer.alloc(0x400);
    kernel.write('HdrS', 0x202, 'latin1');
    writeFileSync(join(h.home, 'vmlinuz'), kernel);
    const r = await h.run(['image', 'register', '--name', 'tiny', '--rootfs', join(h.home, 'rootfs.ext4'), '--kernel', join(h.home, 'vmlinuz')]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await h.run(['vm', 'delete', 'slow']);
    await h.cleanup();
  });

  it('the next daemon adopts the booting VM and marks it running once SSH answers', async () => {
    const client = h.client();
    const first = (await client.get<PingResult>('/ping')).pid;
    const { opId } = await client.post<OperationStarted>('/vms', { name: 'slow' });
    for (;;) {
      const s = await client.get<OperationSummary>(`/operations/${opId}`);
      assert.equal(s.state, 'running', JSON.stringify(s));
      if (s.stage === 'ssh') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const vmPid = (await client.get<VMInfo>('/vms/slow')).pid;
    signalProcess(first, 'SIGKILL');
    assert.ok(await waitForExit(first, 5000));

    const shown = await h.run(['--json', 'vm', 'show', 'slow']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.notEqual((await h.client().get<PingResult>('/ping')).pid, first, 'a new daemon answers');
    let info = JSON.parse(shown.stdout) as VMInfo;
    const deadline = Date.now() + 20_000;
    while (info.state !== 'running' && Date.now() < deadline) {
      assert.equal(info.state, 'starting', JSON.stringify(info));
      await new Promise((r) => setTimeout(r, 200));
      info = await h.client().get<VMInfo>('/vms/slow');
    }
    assert.equal(info.state, 'running');
    assert.ok(vmPid !== undefined && pidAlive(vmPid));
    const target = await h.client().get<SSHTarget>('/vms/slow/ssh');
    const exec = await sshExec(target, ['echo', 'adopted'], { timeoutMs: 20_000 });
    assert.equal(exec.stdout.trim(), 'adopted');
  });
});
