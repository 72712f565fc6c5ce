import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROUTES } from '../api/routes.js';
import type { OpEvent, VMInfo } from '../api/types.js';
import { which } from '../system/exec.js';
import { CliHarness } from '../testing/cli-harness.js';
import { makeRegisterFiles, registerFixtureSkipReason } from '../testing/register-fixture.js';

const skip = registerFixtureSkipReason() ?? (which('qemu-img') ? undefined : 'qemu-img is not installed (apt-get install qemu-utils)');

/** stop, kill, set, delete and prune as operations, on VMs created with --no-start (nothing boots). */
describe('vm lifecycle operations without booting', { skip }, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'banger-ops-'));
  const h = new CliHarness();
  before(async () => {
    const files = await makeRegisterFiles(scratch);
    const reg = await h.run(['image', 'register', '--name', 'stub', '--rootfs', files.rootfs, '--kernel', files.kernel]);
    assert.equal(reg.code, 0, reg.stderr);
    for (const name of ['box', 'spare']) {
      const r = await h.run(['vm', 'create', '--no-start', '--image', 'stub', '--name', name, '--root-size', '4G']);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => {
    await h.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('vm stop prints the same line, and with --json the same VM on stdout and the events on stderr', async () => {
    const r = await h.run(['vm', 'stop', 'box']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'box stopped\n');
    const j = await h.run(['--json', 'vm', 'stop', 'box']);
    assert.equal(j.code, 0, j.stderr);
    const info = JSON.parse(j.stdout) as VMInfo;
    assert.equal(info.name, 'box');
    assert.equal(info.state, 'stopped');
    const events = j.stderr.trim().split('\n').map((l) => JSON.parse(l) as OpEvent);
    assert.deepEqual(events.map((e) => e.type), ['stage', 'stage_done', 'done']);
    const ops = await h.client().call(ROUTES.operationList, {});
    const stop = ops.find((o) => o.kind === 'vm.stop');
    assert.equal(stop?.cancellable, false);
    assert.equal(stop?.target, 'box');
  });

  it('vm stop and vm delete of an unknown VM fail at once with not_found (exit 3)', async () => {
    for (const verb of ['stop', 'delete', 'kill']) {
      const r = await h.run(['vm', verb, 'ghost']);
      assert.equal(r.code, 3, `${verb}: ${r.stderr}`);
      assert.match(r.stderr, /vm "ghost" not found/);
      assert.doesNotMatch(r.stderr, /\(op-/, 'no operation was started');
    }
  });

  it('vm kill of a stopped VM says it is not running (exit 6); a bad signal is a usage error', async () => {
    const r = await h.run(['vm', 'kill', 'box']);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /vm box is not running/);
    const s = await h.run(['vm', 'kill', '-s', 'SIGWINCH', 'box']);
    assert.equal(s.code, 2);
    assert.match(s.stderr, /--signal: unsupported signal "SIGWINCH"/);
  });

  it('vm set changes a stopped VM', async () => {
    const r = await h.run(['vm', 'set', 'box', '--vcpu', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^box: 1 vcpu, \d+ MiB, \d+[GM] disk, no nat\n$/);
  });

  it('vm delete and vm prune -f remove VMs', async () => {
    const d = await h.run(['vm', 'delete', 'box']);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stdout, 'deleted box\n');
    const p = await h.run(['--json', 'vm', 'prune', '-f']);
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual(JSON.parse(p.stdout), { deleted: ['spare'], skipped: [] });
    assert.deepEqual(JSON.parse((await h.run(['--json', 'vm', 'list'])).stdout), []);
  });
});
