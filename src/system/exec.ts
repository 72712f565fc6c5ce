/**
 * The one module that starts processes. Every command is an argv array (never a shell string);
 * callers validate their own inputs, this module validates the argv shape.
 */
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams, type StdioOptions } from 'node:child_process';
import { accessSync, constants, openSync, closeSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with each line of stdout/stderr as it arrives. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Keep at most this many bytes of each stream (the tail). */
  maxOutput?: number;
}

export interface RunResult {
  argv: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export class ExecError extends Error {
  /** The program's name (no directory), as error messages name it. */
  readonly tool: string;
  /** The last non-empty line it printed (stderr, else stdout), or how it ended when it printed nothing. */
  readonly lastLine: string;

  constructor(
    readonly result: RunResult,
    message?: string,
  ) {
    super(message ?? `${result.argv[0] ?? '?'} exited with ${describeExit(result)}${tailOf(result.stderr || result.stdout)}`);
    this.name = 'ExecError';
    this.tool = basename(result.argv[0] ?? '?');
    this.lastLine = lastLines(result.stderr || result.stdout, 1) || `exited with ${describeExit(result)}`;
  }

  /** The last lines the tool printed, for error messages. */
  lastLines(n = 8): string {
    return lastLines(this.result.stderr || this.result.stdout, n);
  }
}

export class ToolMissingError extends Error {
  constructor(
    /** The program that was looked for, as the caller named it. */
    readonly tool: string,
  ) {
    super(`${tool} was not found on PATH`);
    this.name = 'ToolMissingError';
  }
}

function describeExit(r: RunResult): string {
  if (r.timedOut) return 'a timeout';
  if (r.signal) return `signal ${r.signal}`;
  return `status ${r.code ?? '?'}`;
}

export function lastLines(text: string, n: number): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines.slice(-n).join('\n');
}

function tailOf(text: string): string {
  const t = lastLines(text, 3);
  return t ? `: ${t}` : '';
}

export function checkArgv(argv: readonly string[]): void {
  if (argv.length === 0 || !argv[0]) throw new TypeError('argv must name a program');
  for (const a of argv) {
    if (typeof a !== 'string') throw new TypeError('argv entries must be strings');
    if (a.includes('\0')) throw new TypeError('argv entries must not contain NUL');
  }
}

/** Finds an executable on PATH (or checks an absolute path). */
export function which(cmd: string, path = process.env.PATH ?? '', opts: { systemDirs?: boolean } = {}): string | undefined {
  const searched = path.split(delimiter).filter((d) => d !== '');
  if (opts.systemDirs ?? true) searched.push('/usr/sbin', '/sbin');
  const dirs = cmd.includes('/') ? [''] : searched;
  for (const d of dirs) {
    const p = d ? join(d, cmd) : cmd;
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

function resolveProgram(argv: readonly string[]): string {
  const prog = argv[0]!;
  const found = which(prog);
  if (!found) throw new ToolMissingError(prog);
  return found;
}

/** Runs a program to completion, capturing its output. Rejects with ExecError on a non-zero exit. */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await runUnchecked(argv, opts);
  if (r.code !== 0) throw new ExecError(r);
  return r;
}

/** Runs a program to completion; a non-zero exit is returned, not thrown. */
export function runUnchecked(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  checkArgv(argv);
  const prog = resolveProgram(argv);
  const max = opts.maxOutput ?? 4 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(prog, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: opts.signal,
      argv0: argv[0],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const partial = { stdout: '', stderr: '' };
    const onData = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const s = chunk.toString('utf8');
      if (stream === 'stdout') stdout = (stdout + s).slice(-max);
      else stderr = (stderr + s).slice(-max);
      if (opts.onLine) {
        const text = partial[stream] + s;
        const lines = text.split(/\r?\n|\r/);
        partial[stream] = lines.pop() ?? '';
        for (const l of lines) opts.onLine(l, stream);
      }
    };
    child.stdout.on('data', onData('stdout'));
    child.stderr.on('data', onData('stderr'));
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      if (err.name === 'AbortError') {
        resolve({ argv: [...argv], code: null, signal: 'SIGTERM', stdout, stderr, timedOut });
        return;
      }
      reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (opts.onLine) {
        if (partial.stdout) opts.onLine(partial.stdout, 'stdout');
        if (partial.stderr) opts.onLine(partial.stderr, 'stderr');
      }
      resolve({ argv: [...argv], code, signal, stdout, stderr, timedOut });
    });
    child.stdin.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

export interface DetachedOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** File that receives stdout and stderr (appended). */
  logFile?: string;
  /** The file mode creation mask the program starts with (e.g. 0o077 so the sockets it makes are private). */
  umask?: number;
}

/** Starts a program that outlives this process (own session, no stdio ties). Returns its pid. */
export function spawnDetached(argv: readonly string[], opts: DetachedOptions = {}): number {
  checkArgv(argv);
  const prog = resolveProgram(argv);
  const fd = opts.logFile ? openSync(opts.logFile, 'a', 0o600) : 'ignore';
  // The child inherits the mask at spawn; spawn is synchronous, so it is restored right after.
  const previousMask = opts.umask === undefined ? undefined : process.umask(opts.umask);
  try {
    const child = spawn(prog, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
      argv0: argv[0],
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${argv[0]}`);
    return child.pid;
  } finally {
    if (previousMask !== undefined) process.umask(previousMask);
    if (typeof fd === 'number') closeSync(fd);
  }
}

/** A child started by spawnPiped: its three standard streams are pipes. */
export type PipedChild = ChildProcessWithoutNullStreams;

export interface PipedOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Start it in a session (and process group) of its own, so signals it sends to its process group
   * (mmdebstrap sends SIGHUP to its group when writing its output fails) do not reach this process.
   */
  ownSession?: boolean;
}

/**
 * Starts a program with stdin, stdout and stderr as pipes, for a caller that streams to and from it
 * (the fake driver's VMM hands each guest SSH connection to an `sshd -i`). The caller owns the child:
 * it ends its stdin or kills it, and listens for 'error' and 'close'.
 */
export function spawnPiped(argv: readonly string[], opts: PipedOptions = {}): PipedChild {
  checkArgv(argv);
  const prog = resolveProgram(argv);
  return spawn(prog, argv.slice(1), {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    argv0: argv[0],
    detached: opts.ownSession ?? false,
  });
}

export interface AttachedOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  stdio?: StdioOptions;
}

/** Runs a program attached to this terminal (ssh sessions). Resolves with its exit status. */
export function runAttached(argv: readonly string[], opts: AttachedOptions = {}): Promise<number> {
  checkArgv(argv);
  const prog = resolveProgram(argv);
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(prog, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: opts.stdio ?? 'inherit',
      argv0: argv[0],
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)));
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  const map: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return map[sig] ?? 1;
}
