/**
 * A daemon killed in the middle of a create: the next daemon adopts the VM process and finishes the
 * readiness wait, so the VM ends running (fake driver, real daemon processes, real SSH).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { OperationStarted, OperationSummary, PingResult, SSHTarget, VMInfo } from '../api/types.js';
import { exec as sshExec } from '../drivers/ssh/client.js';
import { pidAlive, signalProcess, waitForExit } from '../system/proc.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { tinyImageHome } from '../testing/tiny-image.js';

describe('daemon killed mid-create', () => {
  let h: CliHarness;
  before(async () => {
    h = await tinyImageHome({ bootDelayMs: 3000 });
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
