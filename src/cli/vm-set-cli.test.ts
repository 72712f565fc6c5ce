/** `vm set` on a running user-mode VM (fake driver): what is stored, and what the user is told. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { VMInfo } from '../api/types.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { tinyImageHome } from '../testing/tiny-image.js';

describe('vm set --nat in user mode (fake driver)', () => {
  let h: CliHarness;
  before(async () => {
    h = await tinyImageHome();
    const r = await h.run(['vm', 'create', '--name', 'box']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await h.run(['vm', 'delete', 'box']);
    await h.cleanup();
  });

  it('a running VM stores the change and says it takes effect at the next start', async () => {
    const shown = JSON.parse((await h.run(['--json', 'vm', 'show', 'box'])).stdout) as VMInfo;
    assert.equal(shown.networkMode, 'user');
    const r = await h.run(['vm', 'set', 'box', '--nat']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^box: .*, nat\n$/);
    assert.match(r.stderr, /box: --nat takes effect at the next start/);
    const back = await h.run(['vm', 'set', 'box', '--no-nat']);
    assert.match(back.stdout, /no nat\n$/);
    assert.match(back.stderr, /--no-nat takes effect at the next start/);
  });

  it('a stopped VM gets it at its start, so nothing more is said', async () => {
    assert.equal((await h.run(['vm', 'stop', 'box'])).code, 0);
    const r = await h.run(['vm', 'set', 'box', '--nat']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /next start/);
    const shown = JSON.parse((await h.run(['--json', 'vm', 'show', 'box'])).stdout) as VMInfo;
    assert.equal(shown.spec.nat, true);
    assert.equal(shown.networkMode, undefined, 'a stopped VM has no network');
  });
});
