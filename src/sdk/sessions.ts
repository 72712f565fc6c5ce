/**
 * A VM's guest sessions as the SDK offers them: start, list, show, stop, kill and remove through the
 * daemon; output, input and attach over the VM's ssh connection, reading and writing the session's
 * files in the guest (see the daemon's session scripts for their layout).
 */
import type { Readable, Writable } from 'node:stream';
import type { ApiClient } from '../api/client.js';
import { BangerError } from '../api/errors.js';
import { ROUTES } from '../api/routes.js';
import { terminalSizeProblem, type KillSessionRequest, type SessionInfo, type SessionTerminal, type StartSessionRequest } from '../api/sessions.js';
import type { Deleted, VMSignal } from '../api/types.js';
import { SESSION_ENDED, SESSION_NO_TTY, sessionOutputArgv, sessionResizeArgv, sessionSendArgv } from '../model/session-output.js';
import { sdkError } from './errors.js';
import { execStream, execText, type ExecStream, type Reach } from './exec.js';
import type { CallOptions } from './operation.js';

export interface SessionStartOptions extends CallOptions {
  /** Generated when absent. */
  name?: string;
  /** Working directory in the guest (default: the home directory). */
  cwd?: string;
  /** Run it on a terminal of this size (`true`: 24 by 80), for an interactive attach. */
  tty?: SessionTerminal | true;
}

export interface AttachOptions {
  /** Forwarded line by line (or as it comes) to the session's stdin; its end detaches. */
  input?: Readable;
  /** Where the session's output goes. */
  output: Writable;
  /** Aborting detaches (the session keeps running). */
  signal?: AbortSignal;
  /** Show only what the session writes from now on, not its output so far. */
  tail?: boolean;
  /** Show only the last this many bytes of its output so far (then what it writes). */
  tailBytes?: number;
}

export interface AttachResult {
  /** `ended` when the session ended while attached, `detached` otherwise. */
  reason: 'ended' | 'detached';
  session: SessionInfo;
}

export interface VMHandleForSessions {
  readonly name: string;
  client(): Promise<ApiClient>;
  reach(): Promise<Reach>;
}

export class VMSessions {
  constructor(private readonly vm: VMHandleForSessions) {}

  private async api<T>(fn: (c: ApiClient) => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await fn(await this.vm.client());
    } catch (err) {
      throw sdkError(err, signal);
    }
  }

  /** Starts `command` (an argv) in the guest; it outlives this process and the daemon. */
  start(command: readonly string[], opts: SessionStartOptions = {}): Promise<SessionInfo> {
    const body: StartSessionRequest = {
      command: [...command],
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      ...(opts.tty !== undefined ? { tty: opts.tty } : {}),
    };
    return this.api((c) => c.run(ROUTES.vmSessionStart, { name: this.vm.name }, body, () => undefined, opts.signal), opts.signal);
  }

  list(opts: CallOptions = {}): Promise<SessionInfo[]> {
    return this.api((c) => c.call(ROUTES.vmSessionList, { name: this.vm.name }, undefined, opts.signal ? { signal: opts.signal } : {}), opts.signal);
  }

  show(session: string, opts: CallOptions = {}): Promise<SessionInfo> {
    return this.api((c) => c.call(ROUTES.vmSessionShow, { name: this.vm.name, session }, undefined, opts.signal ? { signal: opts.signal } : {}), opts.signal);
  }

  /** SIGTERM, then SIGKILL after `timeoutSeconds` (default 10); resolves with the recorded end. */
  stop(session: string, opts: CallOptions & { timeoutSeconds?: number } = {}): Promise<SessionInfo> {
    const body = opts.timeoutSeconds !== undefined ? { timeoutSeconds: opts.timeoutSeconds } : undefined;
    return this.api((c) => c.run(ROUTES.vmSessionStop, { name: this.vm.name, session }, body, () => undefined, opts.signal), opts.signal);
  }

  /** Sends a signal (default SIGKILL) to the session's command. */
  kill(session: string, sig?: VMSignal, opts: CallOptions = {}): Promise<SessionInfo> {
    const body: KillSessionRequest = sig !== undefined ? { signal: sig } : {};
    return this.api((c) => c.run(ROUTES.vmSessionKill, { name: this.vm.name, session }, body, () => undefined, opts.signal), opts.signal);
  }

  /** Forgets a session that has ended and removes its files in the guest. */
  remove(session: string, opts: CallOptions = {}): Promise<Deleted> {
    return this.api((c) => c.call(ROUTES.vmSessionDelete, { name: this.vm.name, session }, undefined, opts.signal ? { signal: opts.signal } : {}), opts.signal);
  }

  /** The session's output (stdout and stderr, interleaved); `follow` streams it until the session ends. */
  async logs(session: string, opts: { follow?: boolean; signal?: AbortSignal } = {}): Promise<ExecStream> {
    await this.show(session, opts);
    const reach = await this.api(() => this.vm.reach(), opts.signal);
    return execStream(reach, sessionOutputArgv(session, { follow: opts.follow ?? false }), opts.signal ? { signal: opts.signal } : {});
  }

  /** Writes `data` to the session's stdin (add the newline yourself for a line). */
  async send(session: string, data: string | Buffer, opts: CallOptions = {}): Promise<void> {
    await this.show(session, opts);
    const reach = await this.api(() => this.vm.reach(), opts.signal);
    const r = await execText(reach, sessionSendArgv(session), { stdin: data, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (r.exitCode === SESSION_ENDED) throw new BangerError('not_running', `session ${session} in vm ${this.vm.name} has ended`, { hint: `see its output with banger vm session logs ${this.vm.name} ${session}` });
    if (r.exitCode !== 0) throw new BangerError('operation_failed', `could not write to session ${session} in vm ${this.vm.name}: ${r.stderr.trim() || `exit status ${r.exitCode}`}`);
  }

  /**
   * Sets the size of a terminal session's terminal; its program gets SIGWINCH when the size changed
   * (with `redraw`, also when it did not: a full-screen program draws itself again).
   */
  async resize(session: string, size: { rows: number; cols: number }, opts: CallOptions & { redraw?: boolean } = {}): Promise<void> {
    const problem = terminalSizeProblem(size.rows, size.cols);
    if (problem) throw new BangerError('bad_request', problem);
    const reach = await this.api(() => this.vm.reach(), opts.signal);
    const r = await execText(reach, sessionResizeArgv(session, size, opts.redraw), opts.signal ? { signal: opts.signal } : {});
    if (r.exitCode === SESSION_ENDED) throw new BangerError('not_running', `session ${session} in vm ${this.vm.name} has ended`);
    if (r.exitCode === SESSION_NO_TTY) throw new BangerError('bad_request', `session ${session} in vm ${this.vm.name} has no terminal`, { hint: 'start it with --tty (tty: true) for one' });
    if (r.exitCode !== 0) throw new BangerError('operation_failed', `could not resize session ${session} in vm ${this.vm.name}: ${r.stderr.trim() || `exit status ${r.exitCode}`}`);
  }

  /**
   * Streams the session's output to `output` and forwards `input` to its stdin, until the session
   * ends (`ended`), `input` ends or `signal` aborts (`detached`: the session keeps running).
   */
  async attach(session: string, opts: AttachOptions): Promise<AttachResult> {
    const first = await this.show(session, opts.signal ? { signal: opts.signal } : {});
    if (first.state !== 'running') {
      throw new BangerError('not_running', `session ${session} in vm ${this.vm.name} is not running (${first.state})`, { hint: `see its output with banger vm session logs ${this.vm.name} ${session}` });
    }
    const reach = await this.api(() => this.vm.reach(), opts.signal);
    const detach = new AbortController();
    const onAbort = () => detach.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let reason: AttachResult['reason'] = 'detached';
    try {
      const out = execStream(reach, sessionOutputArgv(session, { follow: true, ...(opts.tail ? { tail: 0 } : opts.tailBytes !== undefined ? { tail: opts.tailBytes } : {}) }), { signal: detach.signal });
      const pump = (async () => {
        for await (const chunk of out.stdout) opts.output.write(chunk);
      })();
      let inputDone: Promise<unknown> = new Promise(() => undefined);
      if (opts.input) {
        const inp = execStream(reach, sessionSendArgv(session), { stdin: opts.input, signal: detach.signal });
        inputDone = inp.exit.catch(() => undefined);
      }
      const ended = out.exit.then(
        () => 'ended' as const,
        () => 'detached' as const,
      );
      reason = await Promise.race([ended, inputDone.then(() => 'detached' as const), new Promise<'detached'>((r) => detach.signal.addEventListener('abort', () => r('detached'), { once: true }))]);
      detach.abort();
      await pump.catch(() => undefined);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      detach.abort();
    }
    return { reason, session: await this.show(session) };
  }
}
