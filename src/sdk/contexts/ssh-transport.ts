/** Reaching a remote bangerd through the system ssh: one master connection, a local unix-socket forward to the daemon. */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../../api/client.js';
import { buildInfo } from '../../api/build-info.js';
import { tryPing } from '../../api/daemon-status.js';
import { BangerError, type ErrorEnvelope } from '../../api/errors.js';
import type { BuildInfo, PingResult } from '../../api/types.js';
import { writeFileAtomic } from '../../system/atomic-file.js';
import { lastLines, runUnchecked, type RunResult } from '../../system/exec.js';
import { hostLabel, parseSshUrl, type SshDestination, type StoredContext } from './store.js';

/** How long the master connection outlives the last command. */
export const MASTER_PERSIST_S = 600;
const CONNECT_TIMEOUT_S = 10;
/** The remote shell's status for "command not found". */
const NOT_FOUND_STATUS = 127;
/** How long a command waits for another one setting up the same context (then takes the lock over). */
const LOCK_WAIT_MS = 90_000;

export interface RemoteContext extends StoredContext {
  name: string;
}

/** A remote daemon's build against this CLI's: undefined when they can work together, else the error to show. */
export function versionMismatch(remote: BuildInfo, me: BuildInfo, host: string): BangerError | undefined {
  if (remote.version === me.version) return undefined;
  const older = compareVersions(remote.version, me.version) < 0 ? `banger on ${host}` : 'this CLI (banger on this machine)';
  return new BangerError('unavailable', `bangerd on ${host} is version ${remote.version}; this CLI is version ${me.version}`, {
    hint: `upgrade ${older} so both run the same version`,
  });
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export class SshTransport {
  readonly dest: SshDestination;
  readonly label: string;
  /** Private directory of this context's connection: control socket, forward socket, state. */
  readonly dir: string;
  readonly controlPath: string;
  readonly forwardPath: string;

  constructor(
    readonly context: RemoteContext,
    runtimeDir: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly interactive = false,
  ) {
    this.dest = parseSshUrl(context.host);
    this.label = hostLabel(this.dest);
    const id = createHash('sha256').update(JSON.stringify([context.name, context.host, context.socket ?? '', context.sshOptions ?? []])).digest('hex').slice(0, 12);
    this.dir = join(runtimeDir, 'ctx', id);
    this.controlPath = join(this.dir, 'ctl');
    this.forwardPath = join(this.dir, 'fwd.sock');
  }

  /** `ssh` with the context's options and the shared control path, up to the destination (without `--`). */
  sshArgv(extra: readonly string[] = []): string[] {
    const o = (kv: string) => ['-o', kv];
    const argv = ['ssh', ...o(`ControlPath=${this.controlPath}`), ...o(`ConnectTimeout=${CONNECT_TIMEOUT_S}`)];
    if (!this.interactive) argv.push(...o('BatchMode=yes'));
    for (const opt of this.context.sshOptions ?? []) argv.push(...o(opt));
    if (this.dest.port) argv.push('-p', String(this.dest.port));
    if (this.dest.user) argv.push('-l', this.dest.user);
    argv.push(...extra);
    return argv;
  }

  /** The argv running `command` (a shell command line) on the remote host over the master connection. */
  remoteCommand(command: string, tty: '-t' | '-tt' | '-T' = '-T'): string[] {
    return [...this.sshArgv([tty]), '--', this.dest.host, command];
  }

  private ssh(extra: readonly string[], command?: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return runUnchecked([...this.sshArgv(extra), '--', this.dest.host, ...(command ?? [])], { env: this.env, timeoutMs });
  }

  /** Whether the master connection is up. */
  async masterAlive(): Promise<boolean> {
    return (await this.ssh(['-O', 'check'])).code === 0;
  }

  /** Starts the master connection (authenticating once; later commands reuse it). */
  async startMaster(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const r = await this.ssh(['-M', '-N', '-f', '-o', `ControlPersist=${MASTER_PERSIST_S}`, '-o', 'StreamLocalBindUnlink=yes', '-o', 'ExitOnForwardFailure=yes']);
    if (r.code !== 0) {
      const why = lastLines(r.stderr, 1) || (r.timedOut ? 'timed out' : `ssh exited with status ${r.code ?? r.signal ?? '?'}`);
      throw new BangerError('unavailable', `cannot reach ${this.label} over ssh (context ${this.context.name}): ${why}`, {
        hint: `check that \`ssh ${this.dest.port ? `-p ${this.dest.port} ` : ''}${this.dest.user ? `${this.dest.user}@` : ''}${this.dest.host} true\` works (host, port, keys, known_hosts), or pick another context with --context`,
      });
    }
  }

  /** Runs `banger --json ... daemon ACTION` on the remote host; its parsed stdout. */
  async remoteBanger<T>(args: readonly string[]): Promise<T> {
    const sock = this.context.socket ? ['--socket', this.context.socket] : [];
    const r = await this.ssh(['-T'], ['banger', '--json', ...sock, ...args]);
    if (r.code === NOT_FOUND_STATUS || (r.code !== 0 && /banger: (command )?not found|banger: No such file/i.test(r.stderr))) throw this.notInstalled();
    if (r.code === 255 && !r.stdout) throw new BangerError('unavailable', `lost the ssh connection to ${this.label}: ${lastLines(r.stderr, 1)}`);
    if (r.code !== 0) throw remoteError(r, this.label);
    try {
      return JSON.parse(r.stdout) as T;
    } catch {
      throw new BangerError('unavailable', `banger on ${this.label} answered something that is not JSON: ${r.stdout.slice(0, 200)}`, {
        hint: `run \`ssh ${this.dest.host} banger --json daemon status\` to see what it prints`,
      });
    }
  }

  /**
   * Runs `banger ARGS` on the remote host and returns what it printed, for the commands about a host rather
   * than the daemon's API (daemon start|stop|status, doctor). Throws when banger is not installed there.
   */
  async runBanger(args: readonly string[]): Promise<RunResult> {
    if (!(await this.masterAlive())) await this.startMaster();
    const sock = this.context.socket ? ['--socket', this.context.socket] : [];
    const r = await this.ssh(['-T'], ['banger', ...sock, ...args].map(quote), 120_000);
    if (r.code === NOT_FOUND_STATUS) throw this.notInstalled();
    return r;
  }

  private notInstalled(): BangerError {
    return new BangerError('unavailable', `banger is not installed on ${this.label} (not on the PATH of a non-interactive ssh session)`, {
      hint: `install it there (npm install -g banger, or banger system install for a shared daemon); \`ssh ${this.dest.host} banger --version\` must work`,
    });
  }

  /** Forwards the local forward socket to `remoteSocket` through the master. */
  async forward(remoteSocket: string): Promise<void> {
    const statePath = join(this.dir, 'forward.json');
    let previous: string | undefined;
    try {
      previous = (JSON.parse(readFileSync(statePath, 'utf8')) as { remoteSocket?: string }).remoteSocket;
    } catch {
      /* no forward yet */
    }
    // A forward this master may still hold (its listener is the file removed below): cancel it first.
    if (previous !== undefined) await this.ssh(['-O', 'cancel', '-L', `${this.forwardPath}:${previous}`]);
    rmSync(this.forwardPath, { force: true });
    const r = await this.ssh(['-O', 'forward', '-L', `${this.forwardPath}:${remoteSocket}`]);
    if (r.code !== 0) {
      throw new BangerError('unavailable', `could not forward bangerd's socket ${remoteSocket} from ${this.label}: ${lastLines(r.stderr, 1) || `status ${r.code ?? '?'}`}`, {
        hint: `the ssh server on ${this.dest.host} must allow stream-local forwarding (AllowStreamLocalForwarding yes)`,
      });
    }
    writeFileAtomic(statePath, JSON.stringify({ remoteSocket }) + '\n', 0o600);
  }

  /**
   * A client for the remote daemon. Fast path: the forward is up and the daemon answers (no ssh process at
   * all). Otherwise: start the master if needed, start the daemon there on demand, forward its socket.
   */
  async connect(): Promise<ApiClient> {
    const client = new ApiClient(this.forwardPath);
    let ping = await tryPing(client, 5000);
    if (!ping) {
      ping = await this.locked(async () => {
        // Another banger may have set it all up while this one waited for the lock.
        const again = await tryPing(client, 5000);
        if (again) return again;
        if (!(await this.masterAlive())) await this.startMaster();
        const started = await this.remoteBanger<PingResult>(['daemon', 'start']);
        await this.forward(this.context.socket ?? started.socket);
        const ready = await tryPing(client, 5000);
        if (!ready) {
          throw new BangerError('unavailable', `bangerd on ${this.label} does not answer through the ssh forward`, {
            hint: `see \`ssh ${this.dest.host} banger daemon status\`; its socket must be readable by the ssh user`,
          });
        }
        return ready;
      });
    }
    const mismatch = versionMismatch(ping, buildInfo(), this.label);
    if (mismatch) throw mismatch;
    return client;
  }

  /** Runs `fn` holding this context's set-up lock (a directory), so parallel commands start one master. */
  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const lock = join(this.dir, 'setup.lock');
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        mkdirSync(lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        let stale = false;
        try {
          stale = Date.now() - statSync(lock).mtimeMs > LOCK_WAIT_MS;
        } catch {
          /* just released */
        }
        if (stale || Date.now() > deadline) rmSync(lock, { recursive: true, force: true });
        else await new Promise((r) => setTimeout(r, 100));
      }
    }
    try {
      return await fn();
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }

  /** Whether the remote daemon runs, without starting anything: the forward, else `banger daemon status` there. */
  async probe(): Promise<{ reachable: boolean; running: boolean; version?: string; error?: string }> {
    const ping = await tryPing(new ApiClient(this.forwardPath), 2000);
    if (ping) return { reachable: true, running: true, version: ping.version };
    try {
      if (!(await this.masterAlive())) await this.startMaster();
      const st = await this.remoteBanger<{ running: boolean; version?: string }>(['daemon', 'status']);
      return { reachable: true, running: st.running, ...(st.version ? { version: st.version } : {}) };
    } catch (err) {
      return { reachable: false, running: false, error: (err as Error).message };
    }
  }

  /** Ends the master connection and removes the private directory. */
  async close(): Promise<void> {
    await this.ssh(['-O', 'exit']).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Quotes one word for the remote POSIX shell. */
function quote(s: string): string {
  return /^[A-Za-z0-9_@%+,./:=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function remoteError(r: RunResult, host: string): BangerError {
  const line = r.stderr.split('\n').find((l) => l.startsWith('{"error"'));
  if (line) {
    try {
      const env = (JSON.parse(line) as { error: ErrorEnvelope }).error;
      const hint = env.hint ? `${env.hint} (on ${host})` : `if no daemon can start there, run banger system install on ${host}`;
      return new BangerError(env.code, `${host}: ${env.message}`, { hint });
    } catch {
      /* not an envelope */
    }
  }
  return new BangerError('unavailable', `banger on ${host} failed (status ${r.code ?? r.signal ?? '?'}): ${lastLines(r.stderr, 2) || 'no output'}`, {
    hint: `run banger daemon start on ${host} to see why; a shared daemon needs banger system install there`,
  });
}
