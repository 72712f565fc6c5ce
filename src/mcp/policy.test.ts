/** The MCP policy and output truncation, without a daemon. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkCreate, checkDelete, imageFor, owned, PolicyRefusal, vmName, type Policy } from './policy.js';
import { truncate } from './tools.js';

const policy: Policy = { allowImages: ['tiny'], maxVms: 2, allowDelete: false, namePrefix: 'mcp-' };

describe('mcp policy', () => {
  it('names VMs with the prefix and owns only those', () => {
    assert.equal(vmName(policy, 'box'), 'mcp-box');
    assert.equal(vmName(policy, 'mcp-box'), 'mcp-box');
    assert.match(vmName(policy, undefined), /^mcp-[0-9a-f]{6}$/);
    assert.ok(owned(policy, 'mcp-box') && !owned(policy, 'dev'));
  });

  it('refuses images outside the list, VMs over the limit, and deletes under --no-delete', () => {
    assert.throws(() => checkCreate(policy, 'debian-bookworm', 0), PolicyRefusal);
    assert.throws(() => checkCreate(policy, 'tiny', 2), /at most 2/);
    assert.doesNotThrow(() => checkCreate(policy, undefined, 1));
    assert.equal(imageFor(policy, undefined), 'tiny');
    assert.throws(() => checkDelete(policy), /--no-delete/);
  });

  it('cuts long output and says how much was cut', () => {
    assert.equal(truncate('short', 10), 'short');
    assert.equal(truncate('x'.repeat(15), 10), `${'x'.repeat(10)}\n[output truncated: 5 bytes cut]`);
  });
});
