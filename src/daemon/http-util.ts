/** Small helpers shared by route modules. */
import type { Context } from 'hono';
import { badRequest } from '../api/errors.js';

/** The request body as parsed JSON; an empty body is undefined (the route's parser decides what that means). */
export async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Long-lived responses (event streams, log follows) must not be cut by the server's idle timers. */
export function keepOpen(c: Context): void {
  const env = c.env as { incoming?: { socket?: { setTimeout(ms: number): void } } } | undefined;
  env?.incoming?.socket?.setTimeout(0);
}

/** A yes/no query parameter: absent, 0 or false is no; 1 or true is yes; anything else is refused. */
export function flagQuery(value: string | undefined, name: string): boolean {
  if (value === undefined || value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw badRequest(`query parameter ${name}=${JSON.stringify(value)} is not a yes/no value`, `use ${name}=1 or leave it out`);
}
