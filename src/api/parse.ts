/** Reading a JSON request body field by field; every problem is a bad_request that names the field. */
import { badRequest } from './errors.js';

export type Fields = Record<string, unknown>;

const VERSION_HINT = 'the CLI and daemon versions may differ; run banger daemon stop and retry';

/**
 * The body as an object of known fields. An absent body is `{}`. A field the request does not define is refused
 * (not ignored): a newer client's field must not be dropped silently by an older daemon.
 */
export function fieldsOf(body: unknown, known: readonly string[], what: string): Fields {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest(`the ${what} request body must be a JSON object`);
  const b = body as Fields;
  const extra = Object.keys(b).filter((k) => !known.includes(k));
  if (extra.length > 0) {
    const list = extra.map((k) => JSON.stringify(k)).join(', ');
    throw badRequest(
      `unknown field${extra.length > 1 ? 's' : ''} ${list} in the ${what} request`,
      known.length > 0 ? `known fields: ${known.join(', ')}; ${VERSION_HINT}` : `this request takes no body; ${VERSION_HINT}`,
    );
  }
  return b;
}

/** null counts as absent, as a missing field does. */
const absent = (v: unknown): v is undefined | null => v === undefined || v === null;

export function optString(b: Fields, field: string): string | undefined {
  const v = b[field];
  if (absent(v)) return undefined;
  if (typeof v !== 'string') throw badRequest(`${field} must be a string`);
  return v;
}

export function reqString(b: Fields, field: string, hint?: string): string {
  const v = optString(b, field);
  if (v === undefined || v === '') throw badRequest(`${field} is required`, hint);
  return v;
}

export function optInt(b: Fields, field: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = b[field];
  if (absent(v)) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw badRequest(`${field} must be a whole number`);
  if (v < min || v > max) throw badRequest(`${field} must be a whole number from ${min} to ${max}`);
  return v;
}

export function optBool(b: Fields, field: string): boolean | undefined {
  const v = b[field];
  if (absent(v)) return undefined;
  if (typeof v !== 'boolean') throw badRequest(`${field} must be true or false`);
  return v;
}

/** An array of strings (each one checked by the service that reads it). */
export function optStringList(b: Fields, field: string): string[] | undefined {
  const v = b[field];
  if (absent(v)) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw badRequest(`${field} must be an array of strings`);
  return v;
}

/** A size string such as `8G` (the grammar of model/size.ts), kept as given; the service checks its range before any work starts. */
export function optSize(b: Fields, field: string): string | undefined {
  const v = optString(b, field);
  if (v === undefined) return undefined;
  if (!/^\s*\d+(?:\.\d+)?\s*(?:[kmgt](?:i?b)?|b)?\s*$/i.test(v)) {
    throw badRequest(`${field} must be a size such as "8G", got ${JSON.stringify(v)}`, 'use a number with a unit such as 512M, 4G or 4GiB (a bare number means MiB)');
  }
  return v;
}

/** Copies the defined values only, so request objects never carry `undefined` fields. */
export function defined<T extends object>(o: { [K in keyof T]: T[K] | undefined }): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}
