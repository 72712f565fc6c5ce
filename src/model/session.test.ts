import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BangerError } from '../api/errors.js';
import { sessionNameProblem, sessionUnit, validateSessionName } from './session.js';

describe('session names', () => {
  it('accepts DNS-label-like names up to 32 characters', () => {
    for (const n of ['web', 'agent-1', 'a', '0', 'x'.repeat(32)]) assert.equal(sessionNameProblem(n), undefined, n);
    assert.equal(validateSessionName('web'), 'web');
    assert.equal(sessionUnit('web'), 'banger-session-web');
  });
  it('refuses what would not be a safe unit or directory name, saying why', () => {
    assert.match(sessionNameProblem('')!, /required/);
    assert.match(sessionNameProblem('x'.repeat(33))!, /33 characters; max is 32/);
    assert.match(sessionNameProblem('-a')!, /cannot start or end with '-'/);
    assert.match(sessionNameProblem('a-')!, /cannot start or end with '-'/);
    assert.match(sessionNameProblem('a/b')!, /invalid character "\/" at position 1/);
    assert.match(sessionNameProblem('..')!, /invalid character "\."/);
    assert.match(sessionNameProblem('Web')!, /invalid character "W" at position 0/);
    assert.match(sessionNameProblem('a b')!, /invalid character " "/);
    assert.throws(() => validateSessionName('a_b'), (e: unknown) => e instanceof BangerError && e.code === 'bad_request' && /--name/.test(e.hint ?? ''));
  });
});
