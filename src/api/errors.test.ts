import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BangerError, causeChain, MAX_CAUSE_CHARS, MAX_CAUSES, operationFailed, toBangerError } from './errors.js';

/** Shaped like src/system/exec.ts's errors (this module must not import them). */
function execShaped(tool: string, lastLine: string): Error {
  return Object.assign(new Error(`${tool} exited with status 1: ${lastLine}`), { name: 'ExecError', tool, lastLine });
}

describe('errors', () => {
  it('maps a failed host tool to operation_failed naming the tool and its last line', () => {
    const be = toBangerError(execShaped('qemu-img', 'qemu-img: Could not open backing file'));
    assert.equal(be.code, 'operation_failed');
    assert.equal(be.message, 'qemu-img failed: qemu-img: Could not open backing file');
    const missing = toBangerError(Object.assign(new Error('mkfs.ext4 was not found on PATH'), { name: 'ToolMissingError', tool: 'mkfs.ext4' }));
    assert.equal(missing.code, 'operation_failed');
    assert.match(missing.message, /^mkfs\.ext4 is not installed/);
    assert.match(missing.hint ?? '', /banger doctor/);
  });

  it('finds a tool failure behind a wrapping error', () => {
    const be = toBangerError(new Error('preparing disks', { cause: execShaped('cp', 'cp: No space left on device') }));
    assert.equal(be.code, 'operation_failed');
    assert.equal(be.message, 'preparing disks (cp failed: cp: No space left on device)');
  });

  it('keeps other errors internal', () => {
    assert.equal(toBangerError(new TypeError('x is undefined')).code, 'internal');
    assert.equal(toBangerError(Object.assign(new Error('no tool'), { name: 'ExecError' })).code, 'internal', 'a shape without tool is not a tool failure');
  });

  it('carries the cause chain in the envelope, bounded', () => {
    let inner: Error = new Error('x'.repeat(2000));
    for (let i = 0; i < 10; i++) inner = new Error(`level ${i}`, { cause: inner });
    const env = operationFailed('outer', undefined, inner).toEnvelope();
    assert.equal(env.causes?.length, MAX_CAUSES);
    assert.equal(env.causes?.[0], 'Error: level 9');
    assert.ok(causeChain(new Error('y'.repeat(2000))).every((c) => c.length <= MAX_CAUSE_CHARS));
    const lines = causeChain(new Error(Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n')))[0]!;
    assert.equal(lines, 'Error: line 0 | … | line 47 | line 48 | line 49');
  });

  it('rebuilds causes from an envelope, and omits them when there are none', () => {
    const env = new BangerError('internal', 'boom', { cause: new RangeError('deep') }).toEnvelope();
    assert.deepEqual(BangerError.fromEnvelope(env).causeMessages(), ['RangeError: deep']);
    assert.equal('causes' in new BangerError('not_found', 'no').toEnvelope(), false);
  });
});
