/**
 * Shared pieces of the API fuzz suites: arbitraries for values of the wrong type and bodies that are
 * not JSON objects, and the check that a request was refused with the typed error envelope (a 4xx
 * status, at once or as the error event of the operation it started).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERROR_CODES, HTTP_STATUS, type ErrorCode } from '../api/errors.js';
import { API_PREFIX, type OpEvent } from '../api/types.js';
import { rawRequest } from './raw-http.js';

export const anyJson = fc.jsonValue({ maxDepth: 2 });
export const notString = anyJson.filter((v) => typeof v !== 'string' && v !== null);
export const notInt = anyJson.filter((v) => v !== null && !(typeof v === 'number' && Number.isInteger(v)));
export const notBool = anyJson.filter((v) => typeof v !== 'boolean' && v !== null);
export const notStringList = anyJson.filter((v) => v !== null && !(Array.isArray(v) && v.every((x) => typeof x === 'string')));
export const notObject = fc.oneof(fc.array(anyJson, { maxLength: 3 }), fc.string(), fc.integer(), fc.boolean()).map((v) => JSON.stringify(v));
export const notJson = fc.oneof(
  fc.constantFrom('{', '{"name":', '[1,', 'nul', '{"a":1}}', "{'name':'x'}"),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter((s) => {
    try {
      JSON.parse(s);
      return false;
    } catch {
      return s.trim() !== '';
    }
  }),
);

/** A field name that is none of `known`, with any value. */
export function unknownField(known: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(fc.stringMatching(/^[a-zA-Z_]{1,12}$/).filter((k) => !known.includes(k)), anyJson).map(([k, v]) => ({ [k]: v }));
}

/** An object body with one field set to each of the given values; JSON text. */
export function oneField(field: string, values: fc.Arbitrary<unknown>, base: Record<string, unknown> = {}): fc.Arbitrary<string> {
  return values.map((v) => JSON.stringify({ ...base, [field]: v }));
}

/** Malformed size strings (the grammar of model/size.ts), zero and absurd sizes. */
export const badSize = fc.oneof(
  fc.string({ maxLength: 10 }).filter((s) => !/^\s*\d+(\.\d+)?\s*([kmgt](i?b)?|b)?\s*$/i.test(s)),
  fc.constantFrom('0', '0G', '99999999999999T', '-1G', '1e9'),
);

/** Reads an operation's NDJSON events to its end. */
async function operationEnd(socket: string, opId: string): Promise<OpEvent> {
  const r = await rawRequest(socket, 'GET', `${API_PREFIX}/operations/${opId}/events`, undefined, 60_000);
  const events = r.text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as OpEvent);
  const last = events[events.length - 1];
  assert.ok(last, `operation ${opId} sent no events`);
  return last;
}

function checkEnvelope(env: { code?: unknown; message?: unknown }, allowed: readonly ErrorCode[], what: string): void {
  assert.ok(ERROR_CODES.includes(env.code as ErrorCode), what);
  assert.ok(allowed.includes(env.code as ErrorCode), what);
  const status = HTTP_STATUS[env.code as ErrorCode];
  assert.ok(status >= 400 && status < 500, what);
  assert.equal(typeof env.message, 'string', what);
}

/**
 * Sends the request and checks it was refused with one of `allowed` (each a 4xx code): at once, with
 * the envelope and the code's status, or, for an operation the daemon accepted, as its error event.
 */
export async function expectRefused(socket: string, method: string, path: string, body: string | undefined, allowed: readonly ErrorCode[]): Promise<void> {
  const r = await rawRequest(socket, method, path, body);
  const what = `${method} ${path} ${body ?? ''} -> ${r.status} ${r.text}`;
  let env: { code?: unknown; message?: unknown; opId?: unknown };
  try {
    env = r.json() as typeof env;
  } catch {
    assert.fail(`not a JSON envelope: ${what}`);
  }
  if (r.status === 202 && typeof env.opId === 'string') {
    const end = await operationEnd(socket, env.opId);
    assert.equal(end.type, 'error', `${what}: the operation ended with ${JSON.stringify(end)}`);
    if (end.type === 'error') checkEnvelope(end.error, allowed, `${what}: ${JSON.stringify(end.error)}`);
    return;
  }
  checkEnvelope(env, allowed, what);
  if (r.status !== 405 && r.status !== 413) assert.equal(r.status, HTTP_STATUS[env.code as ErrorCode], what);
}
