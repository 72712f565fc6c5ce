/** The detach keys of an interactive attach: docker's notation, and spotting them in what is typed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DetachMatcher, describeDetachKeys, parseDetachKeys } from './detach-keys.js';

describe('detach keys', () => {
  it('reads ctrl-X and single characters, comma-separated; refuses anything else', () => {
    assert.deepEqual([...parseDetachKeys('ctrl-]')], [0x1d]);
    assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [0x10, 0x11]);
    assert.deepEqual([...parseDetachKeys('ctrl-@,ctrl-\\,ctrl-_,x')], [0, 0x1c, 0x1f, 0x78]);
    assert.throws(() => parseDetachKeys('ctrl-1'), /not a control key/);
    assert.throws(() => parseDetachKeys('alt-x'), /not a key/);
    assert.throws(() => parseDetachKeys(''), /not a key/);
    assert.equal(describeDetachKeys('ctrl-p,ctrl-q'), 'Ctrl-P Ctrl-Q');
  });

  it('passes every other byte on, holds a partial match back, and gives it up when the next key differs', () => {
    const m = new DetachMatcher(parseDetachKeys('ctrl-p,ctrl-q'));
    assert.deepEqual(m.push(Buffer.from('ab\x10')), { forward: Buffer.from('ab'), detached: false });
    assert.deepEqual(m.push(Buffer.from('c')), { forward: Buffer.from('\x10c'), detached: false });
    assert.deepEqual(m.push(Buffer.from('\x10\x10')), { forward: Buffer.from('\x10'), detached: false });
    assert.deepEqual(m.push(Buffer.from('\x11rest')), { forward: Buffer.alloc(0), detached: true });
    const one = new DetachMatcher(parseDetachKeys('ctrl-]'));
    assert.deepEqual(one.push(Buffer.from('ls\r\x1d')), { forward: Buffer.from('ls\r'), detached: true });
    assert.deepEqual(new DetachMatcher(parseDetachKeys('ctrl-]')).push(Buffer.from('\x03')), { forward: Buffer.from('\x03'), detached: false });
  });
});
