/**
 * `vm fork`: the children's names and guest branches, and restoring them concurrently with
 * all-or-nothing semantics. At most FORK_PARALLEL children restore at once; when one fails, the
 * others still restoring are cancelled, none not yet started is started, and every child (the failed
 * one too) is removed, so a failed fork leaves no child behind. The caller does the restoring and
 * removing (VM state stays with the VM service); this module only orders them.
 *
 * @module
 */
import { BangerError, badRequest } from '../../api/errors.js';
import type { OpContext } from '../op-context.js';

/** How many children restore at the same time. */
export const FORK_PARALLEL = 4;

/** The children's names: `<prefix>-1` ... `<prefix>-<count>`. */
export function childNames(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
}

/** The branch of child number n (1-based): `{n}` in the template replaced by n. */
export function childBranch(template: string, n: number): string {
  return template.replaceAll('{n}', String(n));
}

/**
 * Refuses a branch name git would refuse (the rules of `git check-ref-format --branch`), naming the
 * rule; checked in the daemon before the fork starts, so no guest is touched for a bad name.
 */
export function checkBranchName(name: string): void {
  const bad = (why: string) => badRequest(`--branch ${JSON.stringify(name)} is not a valid branch name: ${why}`, 'use letters, digits, - _ / . and {n} for the child number, e.g. --branch try-{n}');
  if (name === '' || name === '@') throw bad('it is empty or "@"');
  if (name.startsWith('-')) throw bad('it starts with "-"');
  if ([...name].some((c) => c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f) || /[~^:?*[\\]/.test(name)) throw bad('it contains a space, a control character or one of ~ ^ : ? * [ \\');
  if (name.includes('..') || name.includes('@{') || name.includes('//')) throw bad('it contains "..", "@{" or "//"');
  if (name.startsWith('/') || name.endsWith('/') || name.endsWith('.')) throw bad('it starts or ends with "/", or ends with "."');
  if (name.split('/').some((c) => c.startsWith('.') || c.endsWith('.lock'))) throw bad('a part starts with "." or ends with ".lock"');
}

/** A child's view of the fork's context: its stages and lines carry its name, and it has its own cancellation. */
export function childContext(ctx: OpContext, name: string, signal: AbortSignal): OpContext {
  return {
    signal,
    stage: (id, label, fn) => ctx.stage(`${name}:${id}`, `${name}: ${label}`, fn),
    progress: (current, total, unit) => ctx.progress(current, total, unit),
    log: (message, level) => ctx.log(message.startsWith(`${name}:`) ? message : `${name}: ${message}`, level),
  };
}

export interface ChildWork<T> {
  /** Restores one child until it is ready; on failure it may leave the child (kept for its console), which remove then takes. */
  restore(name: string, n: number, ctx: OpContext): Promise<T>;
  /** Removes a child whatever its state; a child that does not exist is fine. */
  remove(name: string): Promise<void>;
}

/**
 * Restores the named children, at most `parallel` at once, in name order in the result. On the
 * first failure the fork is undone (see the module doc) and a BangerError names the child that
 * failed, why, and that the others were removed.
 */
export async function restoreChildren<T>(names: string[], work: ChildWork<T>, ctx: OpContext, parallel = FORK_PARALLEL): Promise<T[]> {
  const cancel = new AbortController();
  const onAbort = () => cancel.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const results: T[] = new Array<T>(names.length);
  let failure: { name: string; err: unknown } | undefined;
  let next = 0;
  const worker = async () => {
    while (!failure && !cancel.signal.aborted && next < names.length) {
      const i = next++;
      const name = names[i]!;
      try {
        results[i] = await work.restore(name, i + 1, childContext(ctx, name, cancel.signal));
      } catch (err) {
        if (!failure && !cancel.signal.aborted) failure = { name, err };
        cancel.abort();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, names.length)) }, worker));
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
  if (!failure && !ctx.signal.aborted) return results;
  const others = names.filter((n) => n !== failure?.name);
  const leftovers: string[] = [];
  for (const name of names) {
    await work.remove(name).catch((err: unknown) => {
      leftovers.push(`${name} (${(err as Error).message})`);
    });
  }
  const cause = failure?.err;
  const why = cause instanceof Error ? cause.message : 'cancelled';
  const head = failure ? `child ${failure.name} failed: ${why}` : 'the fork was cancelled';
  const removed = leftovers.length === 0 ? `all ${names.length} children were removed${others.length && failure ? ` (${others.join(', ')} too)` : ''}` : `could not remove ${leftovers.join(', ')}`;
  const code = cause instanceof BangerError ? cause.code : 'operation_failed';
  const hint = leftovers.length ? `remove them with banger vm delete ${leftovers.map((l) => l.split(' ')[0]).join(' ')}` : (cause instanceof BangerError && cause.hint && !cause.hint.startsWith('the VM is kept') ? cause.hint : 'run the fork again; the daemon log has the failed child\'s console');
  throw new BangerError(code, `${head}; ${removed}`, { hint, cause });
}
