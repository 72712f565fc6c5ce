/** What every command gets: IO, global flags, the resolved layout and a daemon client. */
import type { Command } from 'commander';
import type { ApiClient } from '../api/client.js';
import type { Layout } from '../config/paths.js';
import { Banger } from '../sdk/banger.js';
import { clientLayout, ensureDaemon } from '../sdk/daemon.js';
import { selectContext, contextDirs, type Selected } from '../sdk/contexts/resolve.js';
import { SshTransport } from '../sdk/contexts/ssh-transport.js';
import { styleFor, type CliIO, type Style } from './io.js';

export interface GlobalOptions {
  json: boolean;
  debug: boolean;
  socket?: string;
  context?: string;
}

/** Thrown to end the CLI with a given exit status and no message (exit status pass-through). */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
    this.name = 'ExitStatus';
  }
}

export class CliContext {
  private clientPromise?: Promise<ApiClient>;
  private sdkInstance?: Banger;
  /** Arguments after `--` (a command for the guest), undefined when there was no `--`. */
  passthrough?: string[];
  readonly interrupt = new AbortController();
  private selectedContext?: Selected;
  private sshTransport?: SshTransport;

  constructor(
    readonly io: CliIO,
    private readonly root: Command,
  ) {}

  get globals(): GlobalOptions {
    const o = this.root.opts<{ json?: boolean; debug?: boolean; socket?: string; context?: string }>();
    return { json: Boolean(o.json), debug: Boolean(o.debug), ...(o.socket ? { socket: o.socket } : {}), ...(o.context ? { context: o.context } : {}) };
  }

  get out(): Style {
    return styleFor(this.io.stdout, this.io.env);
  }

  get err(): Style {
    return styleFor(this.io.stderr, this.io.env);
  }

  layout(): Layout {
    return clientLayout(this.io.env, this.globals.socket);
  }

  /** The context in effect (--context, BANGER_CONTEXT, the stored current one, or the local daemon). */
  context(): Selected {
    this.selectedContext ??= selectContext(this.io.env, this.globals.context);
    return this.selectedContext;
  }

  /** The ssh connection of a remote context; undefined for the local daemon. */
  transport(): SshTransport | undefined {
    const remote = this.context().remote;
    if (!remote) return undefined;
    const sock = this.globals.socket;
    this.sshTransport ??= new SshTransport(sock ? { ...remote, socket: sock } : remote, contextDirs(this.io.env).runtimeDir, this.io.env, Boolean(this.io.stdin.isTTY));
    return this.sshTransport;
  }

  /**
   * Over a remote context, runs this host-level command (`banger ARGS`) on the remote host instead, prints
   * what it printed and passes its exit status on; returns false for the local daemon.
   */
  async delegate(args: readonly string[]): Promise<boolean> {
    const t = this.transport();
    if (!t) return false;
    const g = this.globals;
    const r = await t.runBanger([...(g.json ? ['--json'] : []), ...(g.debug ? ['--debug'] : []), ...args]);
    this.io.stdout.write(r.stdout);
    this.io.stderr.write(r.stderr);
    if (r.code !== 0) throw new ExitStatus(r.code ?? 1);
    return true;
  }

  client(): Promise<ApiClient> {
    const t = this.transport();
    this.clientPromise ??= t ? t.connect() : ensureDaemon(this.layout(), { env: this.io.env, notice: (line) => this.io.stderr.write(line + '\n') });
    return this.clientPromise;
  }

  /** The SDK over the same daemon connection, for commands that use it. */
  sdk(): Banger {
    const hop = this.transport();
    this.sdkInstance ??= new Banger({ client: () => this.client(), ...(hop ? { hop } : {}) });
    return this.sdkInstance;
  }

  /** Writes a line to stderr unless --json asked for machine output only. */
  note(line: string): void {
    this.io.stderr.write(line + '\n');
  }
}

/** The suffix of the description of every command that is not built yet, so that --help says so. */
export const NOT_YET_AVAILABLE = '(not yet available)';

export const notAvailableYet = (what: string) => {
  return async (): Promise<void> => {
    const { BangerError } = await import('../api/errors.js');
    throw new BangerError('unavailable', `${what} is not available yet`, { hint: 'see banger --help for what works today' });
  };
};

/** Marks a command as not built yet: its description ends with "(not yet available)" and running it says so (exit 5). */
export function notBuiltYet(cmd: Command, description: string, what: string): Command {
  return cmd.description(`${description} ${NOT_YET_AVAILABLE}`).action(notAvailableYet(what));
}
