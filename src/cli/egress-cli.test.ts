/**
 * Egress flags through the CLI on VMs created with --no-start (nothing boots, no bridge is made):
 * --allow validation, where allowlists apply (bridge mode only), vm set --allow/--deny, [egress]
 * defaults and vm egress in both modes. The enforcement itself is in e2e/bridge-mode.test.ts.
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

  it('--allow in user mode is refused with the way to get bridge mode', async () => {
    const r = await h.run(['vm', 'create', '--no-start', '--image', 'stub', '--name', 'usr', '--allow', 'example.com']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--allow needs bridge mode/);
    assert.match(r.stderr, /--network bridge/);
    assert.equal((await h.run(['vm', 'show', 'usr'])).code, 3, 'nothing was created');
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

  it('user-mode VMs: vm egress says what applies; --allow/--deny on them are refused', async () => {
    const nat = await h.run(['vm', 'create', '--no-start', '--image', 'stub', '--name', 'um', '--nat']);
    assert.notEqual(nat.code, 0);
    assert.match(nat.stderr, /--nat is not available in user mode yet/);
    assert.match(nat.stderr, /--network bridge --nat/);
    assert.equal((await h.run(['vm', 'show', 'um'])).code, 3, 'nothing was created');
    const c = await h.run(['vm', 'create', '--no-start', '--image', 'stub', '--name', 'um']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal((await show('um')).spec.allow, undefined, '[egress] allow is for bridge-mode VMs');
    const j = JSON.parse((await h.run(['--json', 'vm', 'egress', 'um'])).stdout) as EgressReport;
    assert.equal(j.mode, 'user');
    assert.equal(j.nat, false);
    assert.match(j.note, /bridge mode/);
    const setNat = await h.run(['vm', 'set', 'um', '--nat']);
    assert.notEqual(setNat.code, 0);
    assert.match(setNat.stderr, /--nat is not available in user mode yet/);
    const s = await h.run(['vm', 'set', 'um', '--allow', 'example.com']);
    assert.notEqual(s.code, 0);
    assert.match(s.stderr, /user-mode networking; allowlists need bridge mode/);
  });
});
