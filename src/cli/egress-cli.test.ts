/**
 * Egress flags through the CLI on VMs created with --no-start (nothing boots, no bridge is made):
 * --allow validation, allowlists in both modes, vm set --allow/--deny, [egress]
 * defaults and vm egress in both modes. The enforcement is in e2e/bridge-mode.test.ts, e2e/user-net.test.ts and the proxy's tests.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EgressReport, VMInfo } from '../api/types.js';
import { which } from '../system/exec.js';
import { CliHarness } from '../testing/cli-harness.js';
import { makeRegisterFiles, registerFixtureSkipReason } from '../testing/register-fixture.js';

const skip = registerFixtureSkipReason() ?? (which('qemu-img') ? undefined : 'qemu-img is not installed (apt-get install qemu-utils)');

describe('egress flags without booting', { skip }, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'banger-egress-'));
  const h = new CliHarness();
  const show = async (name: string) => JSON.parse((await h.run(['--json', 'vm', 'show', name])).stdout) as VMInfo;
  before(async () => {
    writeFileSync(join(h.home, 'config.toml'), '[egress]\nallow = ["deb.debian.org"]\n');
    const files = await makeRegisterFiles(scratch);
    const reg = await h.run(['image', 'register', '--name', 'stub', '--rootfs', files.rootfs, '--kernel', files.kernel]);
    assert.equal(reg.code, 0, reg.stderr);
  });
  after(async () => {
    await h.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('a bad --allow entry is a usage error naming it, and nothing is created', async () => {
    for (const bad of ['exa mple.com', 'example.com,10.1.2.0/33', '*.*.org']) {
      const r = await h.run(['vm', 'create', '--no-start', '--image', 'stub', '--name', 'bad', '--network', 'bridge', '--allow', bad]);
      assert.equal(r.code, 2, r.stderr);
      const named = bad.split(',').pop()!;
      assert.ok(r.stderr.includes(named), `${bad}: ${r.stderr}`);
    }
    assert.equal((await h.run(['vm', 'show', 'bad'])).code, 3);
    const net = await h.run(['vm', 'create', '--no-start', '--image', 'stub', '--network', 'tap']);
    assert.equal(net.code, 2);
    assert.match(net.stderr, /user or bridge/);
  });

  it('--allow in user mode is kept (checked at the egress proxy); [egress] allow is the default there too', async () => {
    const r = await h.run(['vm', 'create', '--no-start', '--image', 'stub', '--name', 'usr', '--allow', 'Example.com']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await show('usr')).spec.allow, ['example.com']);
    assert.equal((await h.run(['vm', 'delete', 'usr'])).code, 0);
  });

  it('bridge VMs keep their allowlist in canonical form; [egress] allow is the default; vm set --allow/--deny edit it', async () => {
    const a = await h.run(['vm', 'create', '--no-start', '--image', 'stub', '--name', 'eb', '--network', 'bridge', '--allow', 'Example.COM,10.1.2.0/24', '--allow', '*.npmjs.org']);
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual((await show('eb')).spec.allow, ['example.com', '10.1.2.0/24', '*.npmjs.org']);
    const d = await h.run(['vm', 'create', '--no-start', '--image', 'stub', '--name', 'ed', '--network', 'bridge']);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual((await show('ed')).spec.allow, ['deb.debian.org'], 'the [egress] default');

    assert.equal((await h.run(['vm', 'set', 'eb', '--allow', '192.0.2.7', '--deny', 'example.com'])).code, 0);
    assert.deepEqual((await show('eb')).spec.allow, ['10.1.2.0/24', '*.npmjs.org', '192.0.2.7']);
    const miss = await h.run(['vm', 'set', 'eb', '--deny', 'nothere.org']);
    assert.notEqual(miss.code, 0);
    assert.match(miss.stderr, /"nothere\.org" is not in the allowlist of vm eb/);
    assert.deepEqual((await show('eb')).spec.allow, ['10.1.2.0/24', '*.npmjs.org', '192.0.2.7'], 'a refused change changes nothing');

    const e = await h.run(['vm', 'egress', 'eb']);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /eb: bridge mode, not running, nat off/);
    assert.match(e.stdout, /allowlist: 10\.1\.2\.0\/24, \*\.npmjs\.org, 192\.0\.2\.7/);
  });

  it('user-mode VMs: --nat is stored, vm egress says how it applies, vm set --allow/--deny edit the allowlist', async () => {
    const nat = await h.run(['vm', 'create', '--no-start', '--image', 'stub', '--name', 'um', '--nat']);
    assert.equal(nat.code, 0, nat.stderr);
    assert.equal((await show('um')).spec.nat, true);
    const j = JSON.parse((await h.run(['--json', 'vm', 'egress', 'um'])).stdout) as EgressReport;
    assert.equal(j.mode, 'user');
    assert.equal(j.nat, true);
    assert.equal(j.running, false);
    assert.deepEqual(j.allow, ['deb.debian.org'], 'the [egress] default');
    assert.match(j.note, /only the allowlist, checked by name or address at banger's proxy/);
    assert.match(j.note, /other traffic needs bridge mode/);
    assert.equal((await h.run(['vm', 'set', 'um', '--allow', '*.npmjs.org', '--deny', 'deb.debian.org'])).code, 0);
    assert.deepEqual((await show('um')).spec.allow, ['*.npmjs.org']);
  });
});
