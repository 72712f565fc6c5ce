/** Small helpers shared by route modules. */
import type { Context } from 'hono';
import { badRequest } from '../api/errors.js';
import type { OperationStarted } from '../api/types.js';
import type { Operation } from './operations.js';

export async function jsonBody<T extends object>(c: Context): Promise<T> {
  const text = await c.req.text();
  if (text.trim() === '') return {} as T;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw badRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw badRequest('request body must be a JSON object');
  return v as T;
}

export function started(c: Context, op: Operation) {
  return c.json({ opId: op.id } satisfies OperationStarted, 202);
}

export function optionalInt(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw badRequest(`${field} must be a whole number`);
  return v;
}

export function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badRequest(`${field} must be a string`);
  return v;
}

export function optionalBool(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badRequest(`${field} must be true or false`);
  return v;
}

/** Long-lived responses (event streams, log follows) must not be cut by the server's idle timers. */
export function keepOpen(c: Context): void {
  const env = c.env as { incoming?: { socket?: { setTimeout(ms: number): void } } } | undefined;
  env?.incoming?.socket?.setTimeout(0);
}
