/**
 * The guest SSH client: argv for the system `ssh`, command execution, and readiness.
 * Every connection checks the guest against the host key banger pinned in its own known_hosts.
 */
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BangerError, type ErrorCode } from '../../api/errors.js';
import type { SSHTarget } from '../../api/types.js';
import { runAttached, runUnchecked, type RunResult } from '../../system/exec.js';
import { hostKeyAlias } from './known-hosts.js';

/** Exit status of `ssh` when ssh itself (not the remote command) failed. */
export const SSH_FAILURE_STATUS = 255;

export interface SSHArgvOptions {
  /** Remote argv; each element arrives in the guest as one argument. Absent or empty: a login shell. */
  command?: readonly string[];
  /**
   * Pseudo-terminal: `true` always (`-tt`), `false` never (`-T`), `'auto'` when the local stdin is a
   * terminal (`-t`). Default: `'auto'` without a command, `false` with one.
   */
  tty?: boolean | 'auto';
  /** Refuse to prompt. Default: on when no terminal is requested. */
  batch?: boolean;
  connectTimeoutS?: number;
  /** Where ssh writes its own diagnostics (`-E`), keeping them apart from the remote command's stderr. */
  logFile?: string;
  /** More ssh options, inserted before the destination. */
  extra?: readonly string[];
}

/** How to reach a VM's sshd with banger's key, checking the key pinned for the VM's id. */
export function makeTarget(
  paths: { sshKeyPath: string; knownHostsPath: string },
  vm: { name: string; id: string },
  address: { host: string; port?: number; user?: string },
): SSHTarget {
  return {
    vm: vm.name,
    host: address.host,
    port: address.port ?? 22,
    user: address.user ?? 'root',
    keyPath: paths.sshKeyPath,
    knownHostsPath: paths.knownHostsPath,
    hostKeyAlias: hostKeyAlias(vm.id),
  };
}

const SAFE_WORD = /^[A-Za-z0-9_@%+,./:-]+$/;

/** Quotes one argument for a POSIX shell: the shell reads it back as exactly `s`. */
export function shellQuote(s: string): string {
  if (SAFE_WORD.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A remote command line that a POSIX shell splits back into exactly `argv`. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** How long a shared connection outlives its last session. */
export const CONTROL_PERSIST_S = 600;

/**
 * Key exchanges offered, fastest first. A guest's sshd is reached over loopback or a host-only bridge, so
 * the post-quantum hybrid OpenSSH prefers by default buys nothing here, and its key generation costs a
 * good share of a second of guest CPU on every login under TCG. Every name is known to OpenSSH 7.4 and later.
 */
export const KEX_ALGORITHMS = 'curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256';

/** The argv for the system ssh to reach `target`. Pure. */
export function sshArgv(target: SSHTarget, opts: SSHArgvOptions = {}): string[] {
  const command = opts.command && opts.command.length > 0 ? opts.command : undefined;
  const tty = opts.tty ?? (command ? false : 'auto');
  const batch = opts.batch ?? tty === false;
  const o = (kv: string) => ['-o', kv];
  const argv = [
    'ssh',
    '-F',
    '/dev/null',
    '-i',
    target.keyPath,
    ...o('IdentitiesOnly=yes'),
    ...o(`UserKnownHostsFile=${target.knownHostsPath}`),
    ...o('GlobalKnownHostsFile=/dev/null'),
    ...o('StrictHostKeyChecking=yes'),
    ...o(`HostKeyAlias=${target.hostKeyAlias}`),
    ...o('UpdateHostKeys=no'),
    ...o('CheckHostIP=no'),
    ...o('PreferredAuthentications=publickey'),
    ...o(`KexAlgorithms=${KEX_ALGORITHMS}`),
    ...o('LogLevel=ERROR'),
  ];
  if (target.controlPath) argv.push(...o('ControlMaster=auto'), ...o(`ControlPath=${target.controlPath}`), ...o(`ControlPersist=${CONTROL_PERSIST_S}`));
  if (batch) argv.push(...o('BatchMode=yes'));
  if (opts.connectTimeoutS !== undefined) {
    argv.push(...o(`ConnectTimeout=${Math.max(1, Math.ceil(opts.connectTimeoutS))}`));
  }
  if (opts.logFile !== undefined) argv.push('-E', opts.logFile);
  argv.push('-p', String(target.port));
  argv.push(tty === true ? '-tt' : tty === 'auto' ? '-t' : '-T');
  if (opts.extra) argv.push(...opts.extra);
  argv.push('--', `${target.user}@${target.host}`);
  if (command) argv.push(shellJoin(command));
  return argv;
}

export type SSHFailureKind = 'host_key_mismatch' | 'host_key_unknown' | 'auth' | 'refused' | 'unreachable' | 'timeout' | 'closed' | 'other';

/** What ssh's own diagnostics say went wrong. */
export function classifySSHFailure(log: string): SSHFailureKind {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for \S+ has changed/i.test(log)) return 'host_key_mismatch';
  if (/No \S+ host key is known for|Host key verification failed/i.test(log)) return 'host_key_unknown';
  if (/Permission denied|Too many authentication failures|no more authentication methods/i.test(log)) return 'auth';
  if (/Connection refused/i.test(log)) return 'refused';
  if (/timed out/i.test(log)) return 'timeout';
  if (/No route to host|Network is unreachable|Could not resolve hostname|Host is down/i.test(log)) return 'unreachable';
  if (/Connection closed|Connection reset|kex_exchange_identification|Broken pipe/i.test(log)) return 'closed';
  return 'other';
}

/** ssh itself failed (exit status 255 with ssh's own diagnostics): the remote command may not have run. */
export class SSHError extends BangerError {
  constructor(
    readonly kind: SSHFailureKind,
    readonly vm: string,
    readonly diagnostics: string,
    message: string,
    hint?: string,
  ) {
    super(codeFor(kind), message, { hint });
    this.name = 'SSHError';
  }
}

function codeFor(kind: SSHFailureKind): ErrorCode {
  switch (kind) {
    case 'refused':
    case 'unreachable':
    case 'timeout':
    case 'closed':
      return 'unavailable';
    default:
      return 'operation_failed';
  }
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^@+$/.test(l))
      .pop() ?? ''
  );
}

/** The error for an ssh failure, with a message a user can act on. */
export function sshFailure(target: SSHTarget, diagnostics: string): SSHError {
  const kind = classifySSHFailure(diagnostics);
  const vm = target.vm;
  const where = `${target.host}:${target.port}`;
  switch (kind) {
    case 'host_key_mismatch':
      return new SSHError(
        kind,
        vm,
        diagnostics,
        `host key of vm ${vm} at ${where} does not match the key banger pinned for it: possible man-in-the-middle attack; refusing to connect`,
        `if the VM was rebuilt outside banger, delete and recreate it; banger's known_hosts is ${target.knownHostsPath}`,
      );
    case 'host_key_unknown':
      return new SSHError(
        kind,
        vm,
        diagnostics,
        `no host key is pinned for vm ${vm} (alias ${target.hostKeyAlias}); refusing to connect`,
        `restart the VM to have its host key pinned again: banger vm restart ${vm}`,
      );
    case 'auth':
      return new SSHError(
        kind,
        vm,
        diagnostics,
        `vm ${vm} refused banger's key for ${target.user}: ${firstLine(diagnostics)}`,
        `the guest's authorized_keys is set at start; try banger vm restart ${vm}`,
      );
    default:
      return new SSHError(kind, vm, diagnostics, `ssh to vm ${vm} at ${where} failed: ${firstLine(diagnostics) || 'unknown error'}`);
  }
}

export interface ExecOptions {
  /** Bytes for the remote command's stdin. */
  input?: string | Buffer;
  /** Kill ssh after this long. */
  timeoutMs?: number;
  signal?: AbortSignal;
  connectTimeoutS?: number;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  maxOutput?: number;
}

export interface ExecResult {
  /** The remote command's exit status. */
  code: number;
  stdout: string;
  stderr: string;
}

interface RawExec {
  result: RunResult;
  /** What ssh itself logged (not the remote command's stderr). */
  log: string;
}

/**
 * Runs ssh to `target`: the command in a session, or with `'connect'`, only the handshake and
 * authentication, after which ssh leaves the authenticated connection behind as the target's shared
 * connection (ControlPersist) and exits 0.
 */
async function runSSH(target: SSHTarget, command: readonly string[] | 'connect', opts: ExecOptions): Promise<RawExec> {
  const work = await mkdtemp(join(tmpdir(), 'banger-ssh-'));
  try {
    const logFile = join(work, 'ssh.log');
    const argv = sshArgv(target, {
      ...(command === 'connect' ? { extra: ['-f', '-N'] } : { command }),
      tty: false,
      batch: true,
      connectTimeoutS: opts.connectTimeoutS ?? 10,
      logFile,
    });
    const result = await runUnchecked(argv, {
      input: opts.input,
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      onLine: opts.onLine,
      maxOutput: opts.maxOutput,
    });
    let log = '';
    try {
      log = await readFile(logFile, 'utf8');
    } catch {
      /* ssh logged nothing */
    }
    return { result, log };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? Object.assign(new Error('operation cancelled'), { name: 'AbortError' });
}

/**
 * Runs `command` (an argv) in the guest and returns its exit status and output. A non-zero remote status
 * is returned, not thrown; an ssh failure (connection, host key, authentication) throws an SSHError.
 */
export async function exec(target: SSHTarget, command: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (command.length === 0) throw new TypeError('exec needs a command');
  const { result, log } = await runSSH(target, command, opts);
  if (opts.signal?.aborted) throw abortError(opts.signal);
  if (result.timedOut) {
    throw new BangerError('operation_failed', `command in vm ${target.vm} timed out after ${opts.timeoutMs ?? 0} ms: ${shellJoin(command)}`);
  }
  if (result.code === null) {
    throw new BangerError('operation_failed', `ssh to vm ${target.vm} was killed by ${result.signal ?? 'a signal'}`);
  }
  if (result.code === SSH_FAILURE_STATUS && log.trim() !== '') throw sshFailure(target, log);
  return { code: result.code, stdout: result.stdout, stderr: result.stderr };
}

export interface SessionOptions {
  /** Remote argv; absent: a login shell. */
  command?: readonly string[];
  /** Default: `'auto'` (a terminal when the local stdin is one). */
  tty?: boolean | 'auto';
  connectTimeoutS?: number;
  extra?: readonly string[];
}

/**
 * Runs ssh attached to this process's terminal (an interactive shell, or a command with live output).
 * Resolves with ssh's exit status: the remote status, or 255 when ssh itself failed.
 */
export function session(target: SSHTarget, opts: SessionOptions = {}): Promise<number> {
  return runAttached(
    sshArgv(target, {
      command: opts.command,
      tty: opts.tty ?? 'auto',
      connectTimeoutS: opts.connectTimeoutS ?? 10,
      extra: opts.extra,
    }),
  );
}

/** Ends the shared connection at the target's control path (`ssh -O exit`); a target without one has none. */
export async function endSharedConnection(target: SSHTarget): Promise<void> {
  if (!target.controlPath) return;
  await runUnchecked(sshArgv(target, { extra: ['-O', 'exit'], tty: false, batch: true }), { timeoutMs: 10_000 });
}

/** How long a probe waits for the greeting of a server that accepted the connection. */
const BANNER_WAIT_MS = 15_000;
/** While no connection has greeted, a fresh one is opened this often, up to PROBE_MAX_OPEN in one probe. */
export const PROBE_STAGGER_MS = 1000;
const PROBE_MAX_OPEN = 3;

/**
 * Resolves whether an SSH server greets on host:port within `timeoutMs`. Cheaper than spawning ssh, and
 * it does not hang on forwarders (such as QEMU's user-mode network) that accept before the guest listens.
 *
 * A connection opened before the guest's network was up waits out TCP's retransmission backoff (a
 * forwarder's or the host's: seconds) even once sshd listens, so while none has greeted a fresh one is
 * opened every PROBE_STAGGER_MS, three in all; the earlier ones stay open, because a busy guest's sshd
 * may take seconds to greet a connection it did accept. No more than that: QEMU's user-mode network
 * hands the guest every connection it was asked for once the guest is up, closed or not, and each costs
 * the guest an sshd. The first greeting wins; when every connection was refused or closed, the answer is no.
 */
export function bannerProbe(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve(false);
      return;
    }
    const open = new Set<Socket>();
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(stagger);
      signal?.removeEventListener('abort', onAbort);
      for (const s of open) s.destroy();
      open.clear();
      resolve(ok);
    };
    let opened = 0;
    const attempt = () => {
      if (opened >= PROBE_MAX_OPEN) return;
      opened++;
      const sock = connect({ host, port });
      open.add(sock);
      let seen = '';
      const drop = () => {
        if (!open.delete(sock)) return;
        sock.destroy();
        if (open.size === 0) finish(false);
      };
      sock.on('data', (b: Buffer) => {
        seen += b.toString('latin1');
        if (seen.length < 4) return;
        if (seen.startsWith('SSH-')) finish(true);
        else drop();
      });
      sock.once('error', drop);
      sock.once('close', drop);
    };
    const onAbort = () => finish(false);
    const timer = setTimeout(() => finish(false), Math.max(1, timeoutMs));
    const stagger = setInterval(attempt, PROBE_STAGGER_MS);
    signal?.addEventListener('abort', onAbort, { once: true });
    attempt();
  });
}

export interface WaitAttempt {
  attempt: number;
  elapsedMs: number;
  /** How far this attempt got. */
  stage: 'tcp' | 'ssh' | 'ready';
  /** Why it failed, when it did. */
  error?: string;
}

export interface WaitOptions {
  /** Overall deadline. Default 90 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Pause between attempts. Default 500 ms. */
  intervalMs?: number;
  onAttempt?: (a: WaitAttempt) => void;
  /** Consecutive authentication refusals tolerated before giving up. Default 3. */
  maxAuthFailures?: number;
  /**
   * Check for the SSH greeting before each attempt (default true). Off where sshd is known to listen
   * (a guest restored from saved state): the probe's connection makes a TCG guest's sshd start a child
   * for nothing, and the attempt itself reports a server that is not there yet.
   */
  probe?: boolean;
  /**
   * What the handshake that proves readiness runs (default `true`), so work the caller does next in the
   * guest costs no login of its own. It must be safe to run again: an attempt whose ssh failed is retried.
   */
  command?: readonly string[];
}

/**
 * Waits until an SSH handshake with the guest succeeds against its pinned host key and runs the command
 * (`true` unless told; with no command and a shared connection to open, authentication alone). Resolves with what the command did: any exit status but ssh's own failure counts
 * as ready. A host key that does not match (or is not pinned) fails at once: it is never retried.
 */
export async function waitForSSH(target: SSHTarget, opts: WaitOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const intervalMs = opts.intervalMs ?? 500;
  const maxAuth = opts.maxAuthFailures ?? 3;
  const started = Date.now();
  const deadline = started + timeoutMs;
  const signal = opts.signal;
  let attempt = 0;
  let lastError = 'no attempt finished';
  let authFailures = 0;

  for (;;) {
    if (signal?.aborted) throw abortError(signal);
    attempt++;
    const remaining = deadline - Date.now();
    const report = (stage: WaitAttempt['stage'], error?: string) => {
      if (error !== undefined) lastError = error;
      opts.onAttempt?.({ attempt, elapsedMs: Date.now() - started, stage, ...(error !== undefined ? { error } : {}) });
    };

    if (remaining > 0) {
      // A closed port answers at once; an sshd that accepted may need seconds to greet on a busy TCG guest
      // (it re-executes itself per connection), so the greeting gets up to BANNER_WAIT_MS.
      const open = opts.probe === false || (await bannerProbe(target.host, target.port, Math.min(remaining, BANNER_WAIT_MS), signal));
      if (signal?.aborted) throw abortError(signal);
      if (!open) {
        report('tcp', `no ssh server answers on ${target.host}:${target.port} yet`);
      } else {
        const left = Math.max(1, deadline - Date.now());
        // With nothing to run and a shared connection to make, authenticating is the proof; the
        // connection it leaves serves what runs next (no second handshake, no session opened for nothing).
        const connectOnly = opts.command === undefined && target.controlPath !== undefined && !existsSync(target.controlPath);
        const { result, log } = await runSSH(target, connectOnly ? 'connect' : (opts.command ?? ['true']), {
          signal,
          timeoutMs: left + 1000,
          connectTimeoutS: Math.min(10, Math.ceil(left / 1000)),
        });
        if (signal?.aborted) throw abortError(signal);
        // 255 is ssh's own failure, unless ssh logged nothing and a command of the caller's chose it.
        const sshFailed = result.code === SSH_FAILURE_STATUS && (log.trim() !== '' || opts.command === undefined);
        if (result.code !== null && !result.timedOut && !sshFailed) {
          report('ready');
          return { code: result.code, stdout: result.stdout, stderr: result.stderr };
        }
        if (result.timedOut || result.code === null) {
          report('ssh', 'ssh handshake did not finish in time');
        } else {
          const err = sshFailure(target, log || result.stderr);
          report('ssh', firstLine(log || result.stderr) || `ssh exited with status ${result.code}`);
          if (err.kind === 'host_key_mismatch' || err.kind === 'host_key_unknown') throw err;
          if (err.kind === 'auth') {
            if (++authFailures >= maxAuth) throw err;
          } else {
            authFailures = 0;
          }
        }
      }
    }

    const wait = Math.min(intervalMs, deadline - Date.now());
    if (wait <= 0) break;
    try {
      await sleep(wait, undefined, { signal });
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      throw err;
    }
  }

  const seconds = Math.round(timeoutMs / 100) / 10;
  throw new BangerError(
    'operation_failed',
    `vm ${target.vm} did not become reachable over ssh within ${seconds}s (last error: ${lastError})`,
    {
      hint: `sshd in the guest is the likely culprit: look at \`banger vm logs ${target.vm}\`; \`banger vm start ${target.vm}\` tries again and \`banger vm delete ${target.vm}\` cleans up`,
    },
  );
}
