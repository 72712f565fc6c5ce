/** Property tests (fast-check, fixed seeds, 300+ malformed cases each) for VM names and sizes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BangerError } from '../api/errors.js';
import { parseSize } from './size.js';
import { MAX_VM_NAME_LEN, validateVMName } from './vm-name.js';

const RUNS = { seed: 1414, numRuns: 400 };

function assertBadRequest(fn: () => unknown, what: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  assert.ok(thrown instanceof BangerError, `${what}: expected a typed error, got ${thrown === undefined ? 'a result' : (thrown instanceof Error ? thrown.message : JSON.stringify(thrown))}`);
  assert.equal(thrown.code, 'bad_request', what);
  assert.ok(thrown.hint, `${what}: the error carries a hint`);
}

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/).filter((s) => !/^[0-9a-f]{12}$/.test(s));

const badName = fc.oneof(
  fc.constant(''),
  // a character outside a-z 0-9 -
  fc.tuple(label, fc.string({ minLength: 1, maxLength: 3 }).filter((s) => /[^a-z0-9-]/.test(s)), label).map(([a, b, c]) => a + b + c),
  label.map((s) => `-${s}`),
  label.map((s) => `${s}-`),
  fc.stringMatching(/^[a-z0-9]{64,80}$/),
  fc.stringMatching(/^[0-9a-f]{12}$/),
  fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => /[^a-z0-9-]/.test(s)),
);

test('a malformed VM name is refused with bad_request and a hint', () => {
  fc.assert(fc.property(badName, (name) => assertBadRequest(() => validateVMName(name), JSON.stringify(name))), RUNS);
});

test('a DNS-label VM name is accepted as given', () => {
  fc.assert(fc.property(label, (name) => assert.equal(validateVMName(name), name)), { ...RUNS, numRuns: 100 });
  assert.equal(MAX_VM_NAME_LEN, 63);
});

const GRAMMAR = /^\s*\d+(?:\.\d+)?\s*(?:[kmgt](?:i?b)?|b)?\s*$/i;

const badSize = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }).filter((s) => !GRAMMAR.test(s)),
  fc.constantFrom('', ' ', 'G', '-1G', '0', '0G', '0.0001B', '1.5.3G', '1e9', '0x10M', '4 GiBs', '∞', 'NaN'),
  fc.tuple(fc.nat(), fc.stringMatching(/^[a-z]{1,4}$/).filter((u) => !/^([kmgt](i?b)?|b)$/.test(u))).map(([n, u]) => `${n}${u}`),
  fc.bigInt({ min: 10n ** 16n, max: 10n ** 30n }).map((n) => `${n}T`),
);

test('a malformed, zero or absurdly large size is refused with bad_request and a hint', () => {
  fc.assert(fc.property(badSize, (s) => assertBadRequest(() => parseSize(s), JSON.stringify(s))), RUNS);
});

test('any size string gives either a whole positive byte count or bad_request', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 16 }), fc.tuple(fc.nat({ max: 10_000 }), fc.constantFrom('', 'K', 'M', 'G', 'GiB', 'b')).map(([n, u]) => `${n}${u}`)), (s) => {
      try {
        const bytes = parseSize(s);
        assert.ok(Number.isSafeInteger(bytes) && bytes > 0, `${JSON.stringify(s)} -> ${bytes}`);
        assert.match(s, GRAMMAR);
      } catch (err) {
        assert.ok(err instanceof BangerError && err.code === 'bad_request', `${JSON.stringify(s)}: ${String(err)}`);
      }
    }),
    RUNS,
  );
});
