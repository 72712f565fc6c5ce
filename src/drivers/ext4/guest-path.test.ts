import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ancestorsOf, guestPathProblem, parentOf, baseName, quote } from './guest-path.js';

test('guest paths must be absolute and plain', () => {
  assert.equal(guestPathProblem('/etc/hostname'), undefined);
  assert.equal(guestPathProblem('/'), undefined);
  assert.equal(guestPathProblem('/with space/ok'), undefined);
  for (const bad of ['', 'etc/x', '/a/../b', '/a/./b', '/a//b', '/a/', '/a"b', '/a\\b', '/a\nb', '/a\tb', `/${'x'.repeat(256)}`]) {
    assert.ok(guestPathProblem(bad), `expected a problem for ${JSON.stringify(bad)}`);
  }
});

test('quote refuses unsafe paths', () => {
  assert.equal(quote('/etc/a b'), '"/etc/a b"');
  assert.throws(() => quote('/etc/"x'), /invalid guest path/);
});

test('path helpers', () => {
  assert.deepEqual(ancestorsOf('/a/b/c'), ['/a', '/a/b']);
  assert.deepEqual(ancestorsOf('/a'), []);
  assert.equal(parentOf('/a/b'), '/a');
  assert.equal(parentOf('/a'), '/');
  assert.equal(baseName('/a/b'), 'b');
});
