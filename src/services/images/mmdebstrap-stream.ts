/**
 * mmdebstrap writing the tree as a tar stream on its stdout, read as it comes (no tarball on disk).
 * Its progress lines arrive on stderr. It runs in a session of its own: when writing the tar fails
 * it sends SIGHUP to its whole process group, which must not include bangerd.
 * Cancelling, or a reader that gives up, sends it SIGTERM and closes the pipe. mmdebstrap defers
 * SIGTERM until the package installation in progress is done, which can take minutes, so after a
 * grace period its whole process group gets SIGKILL; the caller then removes the chroot it left.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { operationFailed, unavailable } from '../../api/errors.js';
import { spawnPiped, ToolMissingError, type PipedChild } from '../../system/exec.js';
import { signalGroup } from '../../system/proc.js';
import { throwIfCancelled, type OpContext } from '../op-context.js';
import { checkKeyring, MMDEBSTRAP_MISSING, mmdebstrapArgv, mmdebstrapFailure, MmdebstrapProgress, type MmdebstrapPlan } from './mmdebstrap.js';

export interface StreamOptions {
  /** mmdebstrap's TMPDIR: where it builds the chroot before packing it. */
  tmpdir: string;
  /** How long a stopped mmdebstrap may take to clean up before its process group is killed (default 10 s). */
  graceMs?: number;
}

/** Runs mmdebstrap with format tar to stdout and hands the stream to `consume`; resolves with what it returns. */
export async function streamMmdebstrap<T>(plan: MmdebstrapPlan, consume: (tar: Readable) => Promise<T>, ctx: OpContext, opts: StreamOptions): Promise<T> {
  if (plan.format !== 'tar' || plan.target !== '-') throw new TypeError('streamMmdebstrap needs format tar and target "-"');
  checkKeyring(plan);
  const progress = new MmdebstrapProgress(ctx);
  let child: PipedChild;
  try {
    child = spawnPiped(mmdebstrapArgv(plan), { env: { ...process.env, TMPDIR: opts.tmpdir }, ownSession: true });
  } catch (err) {
    if (err instanceof ToolMissingError) throw unavailable(...MMDEBSTRAP_MISSING);
    throw err;
  }
  const tail: string[] = [];
  createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (l) => {
    progress.line(l);
    tail.push(l);
    if (tail.length > 12) tail.shift();
  });
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError ??= err));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  // The pipe is destroyed with an error so a reader waiting for more of the tar fails instead of waiting forever.
  let killTimer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    if (killTimer) return;
    child.kill('SIGTERM');
    const err = new Error('mmdebstrap was stopped');
    if (ctx.signal.aborted) err.name = 'AbortError';
    child.stdout.destroy(err);
    killTimer = setTimeout(() => {
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    }, opts.graceMs ?? 10_000);
  };
  ctx.signal.addEventListener('abort', stop, { once: true });
  if (ctx.signal.aborted) stop();
  child.stdin.end();

  let running = true;
  child.on('exit', () => (running = false));
  let result: T | undefined;
  let readError: Error | undefined;
  /** The reader failed while mmdebstrap was still running (not because its output broke off). */
  let readerFirst = false;
  try {
    result = await consume(child.stdout);
  } catch (err) {
    readError = err instanceof Error ? err : new Error(String(err));
    readerFirst = running;
    stop();
  }
  const end = await exited;
  clearTimeout(killTimer);
  ctx.signal.removeEventListener('abort', stop);
  throwIfCancelled(ctx.signal);
  if (end.code !== 0) {
    const how = end.signal ? `signal ${end.signal}` : `status ${end.code ?? '?'}`;
    // A reader that failed first stopped mmdebstrap: its error is the cause, mmdebstrap's exit only the echo.
    if (readerFirst && readError) throw readError;
    throw mmdebstrapFailure(plan, progress, tail.join('\n') || `mmdebstrap exited with ${how}`, spawnError);
  }
  if (readError) throw readError;
  if (spawnError) throw operationFailed(`mmdebstrap: ${spawnError.message}`, undefined, spawnError);
  return result as T;
}
