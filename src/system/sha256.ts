/**
 * sha256 of a file, streamed: in this process, or in a child process at idle CPU and I/O priority
 * (`nice -n 19`, `ionice -c3`) for work that must not take CPU from anything else, such as hashing a
 * snapshot's RAM image while the VMs restored from it boot. Both run the same function (the child is
 * sha256-main.js, this Node binary), so both give the same sum.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { run, which } from './exec.js';

/** The script the idle child runs: `node sha256-main.js FILE` prints the file's sha256. */
export const SHA256_MAIN = fileURLToPath(new URL('./sha256-main.js', import.meta.url));

export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The argv that runs `argv` at the lowest CPU priority and, where ionice is there, in the idle I/O class. */
export function idleArgv(argv: readonly string[]): string[] {
  return ['nice', '-n', '19', ...(which('ionice') ? ['ionice', '-c3'] : []), ...argv];
}

/**
 * sha256FileIdle: sha256File run in a child process at idle priority. `signal` ends the child; the
 * promise then rejects with the signal's reason.
 */
export async function sha256FileIdle(path: string, signal?: AbortSignal): Promise<string> {
  const r = await run(idleArgv([process.execPath, SHA256_MAIN, path]), { maxOutput: 4096, ...(signal ? { signal } : {}) }).catch((err: unknown) => {
    signal?.throwIfAborted();
    throw err;
  });
  signal?.throwIfAborted();
  const sum = r.stdout.trim();
  if (!/^[0-9a-f]{64}$/.test(sum)) throw new Error(`the sha256 child printed ${JSON.stringify(sum.slice(0, 80))} for ${path}`);
  return sum;
}
