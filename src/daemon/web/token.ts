/**
 * The web UI's access token: 32 random bytes, hex, made once per install and kept (mode 0600) in the
 * state directory. Whoever holds it may use the UI; `banger web` hands it out to the socket's owner.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../system/atomic-file.js';

const TOKEN = /^[0-9a-f]{64}$/;

/** The install's token, made (and written 0600) when there is none or the file does not hold one. */
export function ensureWebToken(path: string): string {
  try {
    const text = readFileSync(path, 'utf8').trim();
    if (TOKEN.test(text)) return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('hex');
  writeFileAtomic(path, token + '\n', 0o600);
  return token;
}

/** Constant-time comparison of a presented token with the install's. */
export function tokenMatches(presented: string | undefined, token: string): boolean {
  if (presented === undefined || presented.length !== token.length) return false;
  return timingSafeEqual(Buffer.from(presented), Buffer.from(token));
}
