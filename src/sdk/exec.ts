/** Commands in a VM over the system ssh (banger's key, pinned host key, shared connection): buffered or streamed, binary-safe. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { badRequest } from '../api/errors.js';
import type { SSHTarget } from '../api/types.js';
import { classifySSHFailure, shellJoin, SSH_FAILURE_STATUS, SSHError, sshArgv, sshFailure } from '../drivers/ssh/client.js';
import { spawnPiped } from '../system/exec.js';
import { abortReason, BangerError, ExecTimeoutError } from './errors.js';

export { SSHError };

/** An argv (each element one argument in the guest), or a string run by `sh -c`. */
export type Command = string | readonly string[];

export type StdinSource = string | Buffer | Readable | AsyncIterable<Buffer | string>;

export interface ExecOptions {
  /** Working directory in the guest. */
  cwd?: string;
  /** Extra environment variables for the command. */
  env?: Readonly<Record<string, string>>;
  /** Bytes for the command's stdin (it gets an empty stdin otherwise). */
  stdin?: StdinSource;
  /** Kill the command after this long: the call rejects with ExecTimeoutError. */
  timeoutMs?: number;
  /** Aborting kills the command; the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ExecBufferResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

export interface ExecStream {
  /** Output chunks as they arrive (buffered until read, so both may be read in any order). */
  stdout: AsyncIterable<Buffer>;
  stderr: AsyncIterable<Buffer>;
  /** The command's exit status; rejects like exec() does. */
  exit: Promise<number>;
}

/** The host a remote context's VMs live on: runs a command line there over the context's ssh connection. */
export interface RemoteHop {
  remoteCommand(command: string, tty: '-t' | '-tt' | '-T'): string[];
}

/** How to reach a VM's sshd: the daemon's target, and the remote host the guest ssh runs on for a remote context. */
export type Reach = SSHTarget & { hop?: RemoteHop };

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const WRAPPER = 'set -e; [ -z "$1" ] || cd -- "$1"; shift; while [ "$1" != "--" ]; do export "$1"; shift; done; shift; exec "$@"';

/** The argv run in the guest for `command` with `cwd` and `env` applied. Pure. */
export function remoteArgv(command: Command, opts: Pick<ExecOptions, 'cwd' | 'env'> = {}): string[] {
  const base = typeof command === 'string' ? ['sh', '-c', command] : [...command];
  if (base.length === 0 || (typeof command === 'string' && command.trim() === '')) throw badRequest('exec needs a command');
  const env = Object.entries(opts.env ?? {});
  for (const [k] of env) if (!ENV_NAME.test(k)) throw badRequest(`invalid environment variable name ${JSON.stringify(k)}`);
  if (opts.cwd === undefined && env.length === 0) return base;
  return ['sh', '-c', WRAPPER, 'sh', opts.cwd ?? '', ...env.map(([k, v]) => `${k}=${v}`), '--', ...base];
}

/**
 * Sessions at once on one VM. sshd allows 10 sessions on a shared connection (MaxSessions); the first
 * session runs alone so that it sets up the shared connection the others then use.
 */
const MAX_SESSIONS = 8;

class SessionGate {
  private active = 0;
  private warm = false;
  private readonly queue: (() => void)[] = [];

  async acquire(): Promise<void> {
    if (this.active < this.capacity()) {
      this.active++;
      return;
    }
    await new Promise<void>((r) => this.queue.push(r));
  }

  release(ok: boolean): void {
    if (ok) this.warm = true;
    this.active--;
    while (this.active < this.capacity() && this.queue.length > 0) {
      this.active++;
      this.queue.shift()!();
    }
  }

  private capacity(): number {
    return this.warm ? MAX_SESSIONS : 1;
  }
}

const gates = new Map<string, SessionGate>();
function gateFor(t: SSHTarget): SessionGate {
  const key = t.controlPath ?? `${t.user}@${t.host}:${t.port}`;
  let g = gates.get(key);
  if (!g) gates.set(key, (g = new SessionGate()));
  return g;
}

interface Sinks {
  stdout: (chunk: Buffer) => void;
  stderr: (chunk: Buffer) => void;
}

/** Runs `argv` in the guest, handing output to `sinks`; resolves with the remote exit status. */
async function run(target: Reach, argv: readonly string[], opts: ExecOptions, sinks: Sinks, collected?: () => ExecResult): Promise<number> {
  const signal = opts.signal;
  if (signal?.aborted) throw abortReason(signal);
  const gate = gateFor(target);
  await gate.acquire();
  let ok = false;
  const work = await mkdtemp(join(tmpdir(), 'banger-sdk-'));
  try {
    const logFile = join(work, 'ssh.log');
    // Through a remote hop the guest ssh runs on the remote host: its diagnostics arrive on stderr.
    const child = spawnPiped(
      target.hop
        ? target.hop.remoteCommand(shellJoin(sshArgv(target, { command: argv, tty: false, batch: true, connectTimeoutS: 10 })), '-T')
        : sshArgv(target, { command: argv, tty: false, batch: true, connectTimeoutS: 10, logFile }),
    );
    const errTail: Buffer[] = [];
    if (target.hop) {
      child.stderr.on('data', (c: Buffer) => {
        errTail.push(c);
        if (errTail.length > 16) errTail.shift();
      });
    }
    let timedOut = false;
    const kill = () => child.kill('SIGKILL');
    const timer = opts.timeoutMs !== undefined ? setTimeout(() => ((timedOut = true), kill()), opts.timeoutMs) : undefined;
    signal?.addEventListener('abort', kill, { once: true });
    child.stdout.on('data', sinks.stdout);
    child.stderr.on('data', sinks.stderr);
    child.stdin.on('error', () => undefined);
    const src = opts.stdin;
    let piped: Readable | undefined;
    if (src === undefined) child.stdin.end();
    else if (typeof src === 'string' || Buffer.isBuffer(src)) child.stdin.end(src);
    else {
      piped = src instanceof Readable ? src : Readable.from(src);
      piped.pipe(child.stdin);
    }
    const status = await new Promise<{ code: number | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve({ code }));
    }).finally(() => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      if (piped) {
        piped.unpipe(child.stdin);
        if (piped !== src) piped.destroy();
        else piped.pause();
      }
    });
    if (signal?.aborted) throw abortReason(signal);
    if (timedOut) {
      const partial = collected?.() ?? { stdout: '', stderr: '' };
      throw new ExecTimeoutError(target.vm, opts.timeoutMs ?? 0, partial.stdout, partial.stderr);
    }
    if (status.code === null) throw new BangerError('operation_failed', `ssh to vm ${target.vm} was killed by a signal`);
    if (status.code === SSH_FAILURE_STATUS) {
      const log = target.hop ? Buffer.concat(errTail).toString('utf8') : await readFile(logFile, 'utf8').catch(() => '');
      if (log.trim() !== '' && (!target.hop || classifySSHFailure(log) !== 'other')) throw sshFailure(target, log);
    }
    ok = true;
    return status.code;
  } finally {
    gate.release(ok);
    await rm(work, { recursive: true, force: true });
  }
}

/** Runs a command and collects its output as Buffers. A non-zero exit status is returned, not thrown. */
export async function execBuffer(target: Reach, command: Command, opts: ExecOptions = {}): Promise<ExecBufferResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const text = () => ({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), exitCode: -1 });
  const exitCode = await run(target, remoteArgv(command, opts), opts, { stdout: (c) => out.push(c), stderr: (c) => err.push(c) }, text);
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), exitCode };
}

/** Runs a command and collects its output as UTF-8 text. */
export async function execText(target: Reach, command: Command, opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await execBuffer(target, command, opts);
  return { stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), exitCode: r.exitCode };
}

/** Chunks in arrival order, buffered until read; iteration ends when the stream does. */
class ChunkQueue implements AsyncIterable<Buffer> {
  private readonly chunks: Buffer[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  push = (c: Buffer): void => {
    this.chunks.push(c);
    this.notify();
  };

  end(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const c = this.chunks.shift();
      if (c) {
        yield c;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

/** Starts a command and returns its output as async iterables of chunks and its exit status as a promise. */
export function execStream(target: Reach | Promise<Reach>, command: Command, opts: ExecOptions = {}): ExecStream {
  const stdout = new ChunkQueue();
  const stderr = new ChunkQueue();
  const exit = (async () => {
    try {
      return await run(await target, remoteArgv(command, opts), opts, { stdout: stdout.push, stderr: stderr.push });
    } finally {
      stdout.end();
      stderr.end();
    }
  })();
  exit.catch(() => undefined);
  return { stdout, stderr, exit };
}
