/** A VM as the SDK hands it out: its last known info, its lifecycle calls, commands and files over SSH. */
import type { ApiClient } from '../api/client.js';
import { ROUTES } from '../api/routes.js';
import type { Deleted, OpEvent, SSHTarget, VMInfo, VMState } from '../api/types.js';
import { sdkError } from './errors.js';
import { execStream, execText, SSHError, type Command, type ExecOptions, type ExecResult, type ExecStream, type Reach, type RemoteHop } from './exec.js';
import { VMFiles } from './files.js';
import { Operation, type CallOptions } from './operation.js';
import { VMWorkspace } from './workspace/vm-workspace.js';
import { VMSessions } from './sessions.js';

export interface StopOptions extends CallOptions {
  /** Kill the VM when it has not powered off after this many seconds (default 30). */
  timeoutSeconds?: number;
}

export class VM {
  /** Files in the guest, read and written over SSH. */
  readonly files: VMFiles;
  /** The git checkout copied into the VM: prepare, diff, export, apply. */
  readonly workspace: VMWorkspace;
  /** Long-running commands in the guest that outlive this process and the daemon. */
  readonly sessions: VMSessions;
  private targetPromise: Promise<SSHTarget> | undefined;

  constructor(
    private readonly client: () => Promise<ApiClient>,
    /** What the daemon said about the VM when this object was made or last refreshed. */
    public info: VMInfo,
    /** The remote host the guest ssh runs on, for a daemon reached through a remote context. */
    private readonly hop?: RemoteHop,
  ) {
    this.files = new VMFiles(info.name, () => this.reach());
    this.workspace = new VMWorkspace({
      name: info.name,
      client: () => this.client(),
      reach: () => this.reach(),
      fresh: async () => (await this.refresh()).info,
    });
    this.sessions = new VMSessions({ name: info.name, client: () => this.client(), reach: () => this.reach() });
  }

  get name(): string {
    return this.info.name;
  }

  get state(): VMState {
    return this.info.state;
  }

  /** Asks the daemon again; updates `info`. */
  async refresh(opts: CallOptions = {}): Promise<this> {
    try {
      this.info = await (await this.client()).call(ROUTES.vmShow, { name: this.name }, undefined, opts.signal ? { signal: opts.signal } : {});
      return this;
    } catch (err) {
      throw sdkError(err, opts.signal);
    }
  }

  start(opts: CallOptions = {}): Operation<this> {
    return this.lifecycle((c, emit, signal) => c.run(ROUTES.vmStart, { name: this.name }, undefined, emit, signal), opts);
  }

  /** Powers the VM off (not cancellable: aborting stops the wait, the daemon finishes it). */
  stop(opts: StopOptions = {}): Operation<this> {
    const body = opts.timeoutSeconds !== undefined ? { timeoutSeconds: opts.timeoutSeconds } : undefined;
    return this.lifecycle((c, emit, signal) => c.run(ROUTES.vmStop, { name: this.name }, body, emit, signal), opts);
  }

  restart(opts: CallOptions = {}): Operation<this> {
    return this.lifecycle((c, emit, signal) => c.run(ROUTES.vmRestart, { name: this.name }, undefined, emit, signal), opts);
  }

  /** Stops the VM and removes its disks (not cancellable). */
  delete(opts: CallOptions = {}): Operation<Deleted> {
    return new Operation(async (emit, signal) => {
      this.targetPromise = undefined;
      return (await this.client()).run(ROUTES.vmDelete, { name: this.name }, undefined, emit, signal);
    }, opts);
  }

  /** Runs a command; resolves with its output and exit status (a non-zero status is not an error). */
  async exec(command: Command, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.withTarget((t) => execText(t, command, opts), opts.signal);
  }

  /** Starts a command and streams its output (see ExecStream). */
  execStream(command: Command, opts: ExecOptions = {}): ExecStream {
    const s = execStream(this.reach(), command, opts);
    return { ...s, exit: s.exit.catch((err: unknown) => this.failed(err, opts.signal)) };
  }

  /** How to reach the VM's sshd (cached; asked again after a restart or a failed connection). */
  sshTarget(): Promise<SSHTarget> {
    if (!this.targetPromise) {
      const p = this.client().then((c) => c.call(ROUTES.vmSSH, { name: this.name }));
      this.targetPromise = p;
      p.catch(() => {
        if (this.targetPromise === p) this.targetPromise = undefined;
      });
    }
    return this.targetPromise;
  }

  private async reach(): Promise<Reach> {
    const target = await this.sshTarget();
    return this.hop ? { ...target, hop: this.hop } : target;
  }

  private async withTarget<T>(fn: (t: Reach) => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await fn(await this.reach());
    } catch (err) {
      return this.failed(err, signal);
    }
  }

  private failed(err: unknown, signal?: AbortSignal): never {
    if (err instanceof SSHError) this.targetPromise = undefined;
    throw sdkError(err, signal);
  }

  private lifecycle(call: (c: ApiClient, emit: (ev: OpEvent) => void, signal: AbortSignal) => Promise<VMInfo>, opts: CallOptions): Operation<this> {
    return new Operation(async (emit, signal) => {
      this.targetPromise = undefined;
      this.info = await call(await this.client(), emit, signal);
      return this;
    }, opts);
  }
}
