/** Property tests (fast-check, fixed seeds, 300+ malformed cases each) for durations and config.toml files. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'smol-toml';
import { BangerError } from '../api/errors.js';
import { parseDuration } from './duration.js';
import { loadConfig } from './load.js';
import { FIELDS } from './schema.js';

const RUNS = { seed: 1415, numRuns: 400 };
const dir = mkdtempSync('/tmp/bcfg-');
after(() => rmSync(dir, { recursive: true, force: true }));

const DURATION = /^\s*(0|(\d+(\.\d+)?(ms|s|m|h))+)\s*$/;

const badDuration = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 16 }).filter((s) => !DURATION.test(s)),
  fc.constantFrom('', '5', '-5s', '1d', 's', '5 s', '1h 30m', '1.5.2s', 'ms', '0s0', '+3m', '1e3s'),
  fc.tuple(fc.nat(), fc.stringMatching(/^[a-z]{1,3}$/).filter((u) => !['ms', 's', 'm', 'h'].includes(u))).map(([n, u]) => `${n}${u}`),
);

test('a malformed duration is not read as a time', () => {
  fc.assert(fc.property(badDuration, (s) => assert.equal(parseDuration(s), undefined, JSON.stringify(s))), RUNS);
});

test('a well-formed duration is a finite, non-negative number of milliseconds', () => {
  const good = fc.array(fc.tuple(fc.nat({ max: 1000 }), fc.constantFrom('ms', 's', 'm', 'h')), { minLength: 1, maxLength: 4 }).map((parts) => parts.map(([n, u]) => `${n}${u}`).join(''));
  fc.assert(fc.property(good, (s) => {
    const ms = parseDuration(s);
    assert.ok(ms !== undefined && Number.isFinite(ms) && ms >= 0, `${s} -> ${ms}`);
  }), { ...RUNS, numRuns: 100 });
});

/** A TOML value of a type the key does not take (every key has a string, integer or boolean default). */
function wrongTyped(def: unknown): fc.Arbitrary<unknown> {
  const arr = fc.array(fc.integer(), { maxLength: 3 });
  const table = fc.dictionary(fc.stringMatching(/^[a-z]{1,5}$/), fc.integer(), { maxKeys: 2 });
  if (typeof def === 'string') return fc.oneof(fc.integer(), fc.boolean(), arr, table);
  if (typeof def === 'number') return fc.oneof(fc.string(), fc.boolean(), fc.double({ noInteger: true, noNaN: true }), arr, table);
  return fc.oneof(fc.string(), fc.integer(), arr, table);
}

const keys = Object.keys(FIELDS) as (keyof typeof FIELDS)[];
const malformedConfig = fc.oneof(
  // a key this banger does not know
  fc.tuple(fc.stringMatching(/^[a-z][a-z_]{0,20}$/).filter((k) => !(k in FIELDS) && k !== 'vm_defaults' && k !== 'file_sync'), fc.string()).map(([k, v]) => stringify({ [k]: v })),
  // a known key with a value of the wrong type
  fc.constantFrom(...keys).chain((k) => wrongTyped(FIELDS[k].default).map((v) => stringify({ [k]: v }))),
  // a duration key with a malformed duration
  fc.tuple(fc.constantFrom('ssh_wait_timeout', 'auto_stop_stale_after', 'stats_poll_interval'), badDuration).map(([k, v]) => stringify({ [k]: v })),
  // text that is not TOML
  fc.tuple(fc.string({ maxLength: 30 }), fc.constantFrom('= =', '[[', 'x = "', '[a]\n[a]', 'k = 1\nk = 2')).map(([a, b]) => `${a}\n${b}\n`),
);

test('a malformed config.toml gives a bad_request naming the file, with a hint', () => {
  let n = 0;
  fc.assert(
    fc.property(malformedConfig, (text) => {
      const file = join(dir, `c${n++}.toml`);
      writeFileSync(file, text);
      let thrown: unknown;
      try {
        loadConfig(file, {});
      } catch (err) {
        thrown = err;
      }
      assert.ok(thrown instanceof BangerError, `${JSON.stringify(text)}: expected a typed error, got ${thrown === undefined ? 'a config' : (thrown instanceof Error ? thrown.message : JSON.stringify(thrown))}`);
      assert.equal(thrown.code, 'bad_request');
      assert.ok(thrown.message.includes(file), thrown.message);
      assert.ok(thrown.hint);
    }),
    RUNS,
  );
});

test('any text as config.toml gives a config or a bad_request, never another failure', () => {
  let n = 0;
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
      const file = join(dir, `r${n++}.toml`);
      writeFileSync(file, text);
      try {
        loadConfig(file, {});
      } catch (err) {
        assert.ok(err instanceof BangerError && err.code === 'bad_request', `${JSON.stringify(text)}: ${String(err)}`);
      }
    }),
    RUNS,
  );
});
