/** `vm set` network flags on a running user-mode VM (fake driver): what is stored, and what the user is told. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { VMInfo } from '../api/types.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { tinyImageHome } from '../testing/tiny-image.js';

describe('vm set --nat/--no-nat in user mode (fake driver)', () => {
  let h: CliHarness;
  const show = async () => JSON.parse((await h.run(['--json', 'vm', 'show', 'box'])).stdout) as VMInfo;
  before(async () => {
    h = await tinyImageHome();
    const r = await h.run(['vm', 'create', '--name', 'box']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await h.run(['vm', 'delete', 'box']);
    await h.cleanup();
  });

  it('--nat on a user-mode VM is refused with the bridge-mode way out, and nothing changes', async () => {
    assert.equal((await show()).networkMode, 'user');
    const r = await h.run(['vm', 'set', 'box', '--nat']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--nat is not available in user mode yet/);
    assert.match(r.stderr, /--network bridge --nat/);
    assert.equal((await show()).spec.nat, false);
  });

  it('--no-nat on a running user-mode VM is stored and says it takes effect at the next start', async () => {
    const r = await h.run(['vm', 'set', 'box', '--no-nat']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^box: .*, no nat\n$/);
    assert.match(r.stderr, /box: --no-nat takes effect at the next start/);
  });

  it('a stopped VM gets it at its start, so nothing more is said', async () => {
    assert.equal((await h.run(['vm', 'stop', 'box'])).code, 0);
    const r = await h.run(['vm', 'set', 'box', '--no-nat']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /next start/);
    assert.equal((await show()).networkMode, undefined, 'a stopped VM has no network');
  });
});
