/** Option value parsers: bad values are usage errors (exit 2) with the rule in the message. */
import { InvalidArgumentError } from 'commander';
import { BangerError } from '../api/errors.js';
import { formatAllowEntry, parseAllowList } from '../model/egress.js';
import { parseSize } from '../model/size.js';
import { vmNameProblem } from '../model/vm-name.js';

export function intOption(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** --memory: MiB, or a size with a unit (2G). */
export function memoryOption(v: string): number {
  try {
    const bytes = parseSize(v);
    if (bytes % (1024 * 1024) !== 0) throw new InvalidArgumentError('memory must be a whole number of MiB');
    return bytes / (1024 * 1024);
  } catch (err) {
    if (err instanceof BangerError) throw new InvalidArgumentError(`${err.message}; ${err.hint ?? ''}`.trim());
    throw err;
  }
}

export function sizeOption(v: string): string {
  try {
    parseSize(v);
    return v;
  } catch (err) {
    if (err instanceof BangerError) throw new InvalidArgumentError(`${err.message}; ${err.hint ?? ''}`.trim());
    throw err;
  }
}

export function nameOption(v: string): string {
  const problem = vmNameProblem(v);
  if (problem) throw new InvalidArgumentError(problem);
  return v;
}

/** `--network user|bridge`. */
export function networkOption(v: string): 'user' | 'bridge' {
  if (v !== 'user' && v !== 'bridge') throw new InvalidArgumentError('use user or bridge');
  return v;
}

/** `--allow a,b` (repeatable): entries validated here, the bad one named; accumulates across uses. */
export function allowOption(v: string, prev?: string[]): string[] {
  try {
    return [...(prev ?? []), ...parseAllowList([v]).map(formatAllowEntry)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}
