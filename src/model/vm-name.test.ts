import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateVMName, vmNameProblem } from './vm-name.js';
import { generateName } from './namegen.js';
import { BangerError } from '../api/errors.js';

describe('vm names', () => {
  it('accepts DNS labels', () => {
    for (const n of ['a', 'dev-box', 'x1', '0', 'a'.repeat(63)]) assert.equal(vmNameProblem(n), undefined, n);
  });
  it('gives the exact rule each bad name breaks', () => {
    assert.equal(vmNameProblem(''), 'vm name is required');
    assert.equal(vmNameProblem('a'.repeat(64)), `vm name "${'a'.repeat(64)}" is 64 characters; max is 63 (DNS label limit)`);
    assert.equal(vmNameProblem('-box'), `vm name "-box" cannot start or end with '-'`);
    assert.equal(vmNameProblem('box-'), `vm name "box-" cannot start or end with '-'`);
    assert.equal(vmNameProblem('Dev'), `vm name "Dev" has invalid character "D" at position 0 (allowed: lowercase a-z, 0-9, '-')`);
    assert.equal(vmNameProblem('a_b'), `vm name "a_b" has invalid character "_" at position 1 (allowed: lowercase a-z, 0-9, '-')`);
    assert.equal(vmNameProblem('a.b'), `vm name "a.b" has invalid character "." at position 1 (allowed: lowercase a-z, 0-9, '-')`);
  });
  it('throws bad_request with a hint', () => {
    assert.throws(() => validateVMName('Bad'), (e: unknown) => e instanceof BangerError && e.code === 'bad_request' && Boolean(e.hint));
  });
  it('generates valid names that avoid taken ones', () => {
    const taken = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const n = generateName((x) => taken.has(x));
      assert.equal(vmNameProblem(n), undefined, n);
      assert.ok(!taken.has(n), `collision on ${n}`);
      taken.add(n);
    }
  });
  it('still finds a name when every adjective-noun pair is taken', () => {
    const n = generateName((x) => !/-\d+$/.test(x), 50);
    assert.match(n, /^[a-z]+-[a-z]+-\d+$/);
  });
});
