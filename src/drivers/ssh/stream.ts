/**
 * A command in the guest whose output is read while it runs (a session's output followed to its end),
 * over the same ssh (banger's key, the pinned host key, the VM's shared connection) as exec().
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BangerError } from '../../api/errors.js';
import type { SSHTarget } from '../../api/types.js';
import { spawnPiped } from '../../system/exec.js';
import { SSH_FAILURE_STATUS, sshArgv, sshFailure } from './client.js';

/** How much of the remote command's stderr is kept for an error message. */
const MAX_STDERR = 8 * 1024;

export interface StreamingExec {
  /** The remote command's stdout, as it comes. */
  stdout: Readable;
  /**
   * Its exit status and stderr once it ended (-1 when it was stopped with stop()); rejects with an
   * SSHError when ssh itself failed.
   */
  exit: Promise<{ code: number; stderr: string }>;
  /** Ends the command's ssh (the remote side ends when it next writes, or when its session ends). */
  stop: () => void;
}

export interface StreamingOptions {
  input?: string | Buffer;
  connectTimeoutS?: number;
}

export async function execStreaming(target: SSHTarget, command: readonly string[], opts: StreamingOptions = {}): Promise<StreamingExec> {
  if (command.length === 0) throw new TypeError('execStreaming needs a command');
  const work = await mkdtemp(join(tmpdir(), 'banger-ssh-'));
  const logFile = join(work, 'ssh.log');
  let child;
  try {
    child = spawnPiped(sshArgv(target, { command, tty: false, batch: true, connectTimeoutS: opts.connectTimeoutS ?? 10, logFile }));
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
  let stderr = '';
  let stopped = false;
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < MAX_STDERR) stderr += c.toString('utf8');
  });
  child.stdin.on('error', () => undefined);
  child.stdin.end(opts.input ?? '');
  const exit = new Promise<{ code: number | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code }));
  }).then(
    async ({ code }) => {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      await rm(work, { recursive: true, force: true });
      if (stopped) return { code: -1, stderr };
      if (code === null) throw new BangerError('operation_failed', `ssh to vm ${target.vm} was killed by a signal`);
      if (code === SSH_FAILURE_STATUS && log.trim() !== '') throw sshFailure(target, log);
      return { code, stderr };
    },
    async (err: unknown) => {
      await rm(work, { recursive: true, force: true });
      throw err;
    },
  );
  exit.catch(() => undefined);
  return {
    stdout: child.stdout,
    exit,
    stop: () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      stopped = true;
      child.kill('SIGTERM');
    },
  };
}
