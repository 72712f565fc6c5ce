/** Sizes: `4G`, `4GiB`, `512MiB`, `512M`, `4KiB`, `1T`; a bare number means MiB. Binary units throughout. */
import { badRequest } from '../api/errors.js';

const KiB = 1024;
const UNITS: Record<string, number> = {
  b: 1,
  k: KiB, kb: KiB, kib: KiB,
  m: KiB ** 2, mb: KiB ** 2, mib: KiB ** 2,
  g: KiB ** 3, gb: KiB ** 3, gib: KiB ** 3,
  t: KiB ** 4, tb: KiB ** 4, tib: KiB ** 4,
};

export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isInteger(input) || input <= 0) throw badSize(String(input));
    return input * KiB ** 2;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  if (!m) throw badSize(input);
  const value = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  const mult = unit === '' ? KiB ** 2 : UNITS[unit];
  if (mult === undefined) throw badSize(input);
  const bytes = Math.round(value * mult);
  if (!(bytes > 0) || !Number.isSafeInteger(bytes)) throw badSize(input);
  return bytes;
}

function badSize(input: string) {
  return badRequest(
    `invalid size ${JSON.stringify(input)}`,
    'use a number with a unit such as 512M, 512MiB, 4G or 4GiB (a bare number means MiB)',
  );
}

/** Formats bytes with the largest unit that divides it exactly (so parseSize(formatSize(n)) === n). */
export function formatSize(bytes: number): string {
  if (bytes === 0) return '0';
  for (const [unit, mult] of [['T', KiB ** 4], ['G', KiB ** 3], ['M', KiB ** 2], ['K', KiB]] as const) {
    if (bytes % mult === 0) return `${bytes / mult}${unit}`;
  }
  return `${bytes}B`;
}

/** Human display, rounded to one decimal: 1.5G, 300M. */
export function humanSize(bytes: number): string {
  for (const [unit, mult] of [['T', KiB ** 4], ['G', KiB ** 3], ['M', KiB ** 2], ['K', KiB]] as const) {
    if (bytes >= mult) {
      const v = bytes / mult;
      return `${v >= 10 || Number.isInteger(v) ? Math.round(v) : v.toFixed(1)}${unit}`;
    }
  }
  return `${bytes}B`;
}
