/**
 * Guest sessions: long-running commands in a VM that outlive the client that started them and the
 * daemon. The guest's files are the source of truth for a session's state (see session-scripts.ts);
 * the store keeps what was asked (name, command, cwd, start) and, once seen, how it ended. Reads ask
 * the guest and write nothing; the end is recorded by the writers here: stop, kill, and a periodic
 * sweep of running VMs with open sessions.
 *
 * @module
 */
import { alreadyExists, BangerError, badRequest, notFound, notRunning, operationFailed, unavailable } from '../../api/errors.js';
import { DEFAULT_SESSION_TERMINAL, type KillSessionRequest, type SessionInfo, type SessionLogsQuery, type SessionState, type StartSessionRequest } from '../../api/sessions.js';
import type { Deleted, SSHTarget, VMSignal } from '../../api/types.js';
import { shellJoin, exec as sshExec } from '../../drivers/ssh/client.js';
import { generateName } from '../../model/namegen.js';
import { GUEST_SESSIONS_DIR, validateSessionName } from '../../model/session.js';
import type { SessionRepo, SessionRow } from '../../store/sessions.js';
import type { VMRow } from '../../store/vms.js';
import type { Logger } from '../../system/logger.js';
import { KeyedMutex } from '../keyed-mutex.js';
import { openOutput, sendInput, type SessionOutput } from './session-io.js';
import { REMOVE, RUNNER, SIGNAL, START, START_NO_SCRIPT, START_RUNNING, STATUS } from './session-scripts.js';
import { observe } from './view.js';
import type { VMServiceDeps } from './deps.js';

/** What the guest's files say about one session. */
export interface GuestStatus {
  state: 'running' | 'exited' | 'lost';
  exitStatus?: number;
  endedAt?: string;
}

/** Parses STATUS output. Pure. */
export function parseStatusLines(text: string): Map<string, GuestStatus> {
  const out = new Map<string, GuestStatus>();
  const iso = (epoch: string | undefined) => {
    const n = Number(epoch);
    return Number.isFinite(n) && n > 0 ? new Date(n * 1000).toISOString() : undefined;
  };
  for (const line of text.split('\n')) {
    const [name, state, a, b] = line.trim().split(/\s+/);
    if (!name) continue;
    if (state === 'running') out.set(name, { state });
    else if (state === 'exited' && a !== undefined && /^\d+$/.test(a)) {
      const endedAt = iso(b);
      out.set(name, { state, exitStatus: Number(a), ...(endedAt ? { endedAt } : {}) });
    } else if (state === 'lost') {
      const endedAt = iso(a);
      out.set(name, { state, ...(endedAt ? { endedAt } : {}) });
    }
  }
  return out;
}

/** A session as the API shows it: the store's row, with the guest's word when there is one. Pure. */
export function sessionView(vmName: string, row: SessionRow, guest: GuestStatus | undefined, vmRunning: boolean): SessionInfo {
  const info: SessionInfo = {
    name: row.name,
    vm: vmName,
    command: row.command,
    state: 'unknown',
    startedAt: row.startedAt,
    guestDir: `~/${GUEST_SESSIONS_DIR}/${row.name}`,
  };
  if (row.cwd !== undefined) info.cwd = row.cwd;
  if (row.unit !== undefined) info.unit = row.unit;
  if (row.tty) info.tty = true;
  let state: SessionState;
  let exitStatus = row.exitStatus;
  let endedAt = row.endedAt;
  if (row.endedAt !== undefined) state = row.exitStatus !== undefined ? 'exited' : 'lost';
  else if (guest) {
    state = guest.state;
    exitStatus = guest.exitStatus;
    endedAt = guest.endedAt;
  } else state = vmRunning ? 'lost' : 'unknown';
  info.state = state;
  if (endedAt !== undefined) info.endedAt = endedAt;
  if (exitStatus !== undefined) info.exitStatus = exitStatus;
  return info;
}

/** The guest argv of START for a request. Pure. */
export function startArgv(name: string, req: StartSessionRequest): string[] {
  const base = ['sh', '-c', START, 'sh', name, req.cwd ?? '', RUNNER];
  if (req.tty === undefined) return [...base, '', ...req.command];
  const t = req.tty === true ? DEFAULT_SESSION_TERMINAL : { ...DEFAULT_SESSION_TERMINAL, ...req.tty };
  return [...base, `${t.rows} ${t.cols} ${t.term}`, shellJoin(req.command)];
}

export interface SessionDeps {
  vmDeps: VMServiceDeps;
  repo: SessionRepo;
  /** The VM's row (resolving a reference) and its ssh target (throwing not_running unless it runs). */
  find: (ref: string) => VMRow;
  sshTarget: (ref: string) => SSHTarget;
  logger: Logger;
}

const PROBE_TIMEOUT_MS = 15_000;
const DEFAULT_STOP_GRACE_S = 10;
/** How often open sessions of running VMs are checked for their end. */
export const SWEEP_INTERVAL_MS = 20_000;

export class GuestSessions {
  private readonly locks = new KeyedMutex();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: SessionDeps) {}

  private running(row: VMRow): boolean {
    return observe(this.deps.vmDeps, row).state === 'running';
  }

  private async guestStatus(target: SSHTarget, name?: string): Promise<Map<string, GuestStatus>> {
    const r = await sshExec(target, ['sh', '-c', STATUS, 'sh', ...(name ? [name] : [])], { timeoutMs: PROBE_TIMEOUT_MS });
    if (r.code !== 0) throw operationFailed(`could not read the sessions of vm ${target.vm}: ${r.stderr.trim() || `exit status ${r.code}`}`);
    return parseStatusLines(r.stdout);
  }

  private rowOf(vm: VMRow, name: string): SessionRow {
    const row = this.deps.repo.get(vm.id, name);
    if (!row) throw notFound(`vm ${vm.name} has no session ${JSON.stringify(name)}`, `list them with banger vm session list ${vm.name}`);
    return row;
  }

  /** Every session of a VM; the guest is asked when the VM runs. Writes nothing. */
  async list(ref: string): Promise<SessionInfo[]> {
    const vm = this.deps.find(ref);
    const rows = this.deps.repo.list(vm.id);
    const running = this.running(vm);
    const guest = running && rows.some((r) => r.endedAt === undefined) ? await this.guestStatus(this.deps.sshTarget(vm.id)) : new Map<string, GuestStatus>();
    return rows.map((r) => sessionView(vm.name, r, guest.get(r.name), running));
  }

  /** One session; the guest is asked when the VM runs and the session's end is not recorded. Writes nothing. */
  async show(ref: string, name: string): Promise<SessionInfo> {
    const vm = this.deps.find(ref);
    const row = this.rowOf(vm, name);
    const running = this.running(vm);
    const guest = running && row.endedAt === undefined ? (await this.guestStatus(this.deps.sshTarget(vm.id), name)).get(name) : undefined;
    return sessionView(vm.name, row, guest, running);
  }

  /** A session's output from an offset or its last bytes; following, until it ends. Writes nothing. */
  output(ref: string, name: string, q: SessionLogsQuery): Promise<SessionOutput> {
    const vm = this.deps.find(ref);
    this.rowOf(vm, name);
    return openOutput(this.deps.sshTarget(vm.id), name, q);
  }

  /** Writes to a running session's stdin; resolves with the bytes written. */
  async send(ref: string, name: string, data: string): Promise<{ sent: number }> {
    const vm = this.deps.find(ref);
    const row = this.rowOf(vm, name);
    const target = this.deps.sshTarget(vm.id);
    if (row.endedAt !== undefined) throw notRunning(`session ${name} in vm ${vm.name} has ended`, `see its output with banger vm session logs ${vm.name} ${name}`);
    return { sent: await sendInput(target, name, data) };
  }

  /** Checks a start request before its operation begins: bad names, duplicates, a VM that is not running. */
  precheck(ref: string, req: StartSessionRequest): void {
    const vm = this.deps.find(ref);
    if (req.name !== undefined) {
      validateSessionName(req.name);
      this.refuseDuplicate(vm, req.name);
    }
    this.deps.sshTarget(vm.id);
  }

  /** Checks a stop or kill before its operation begins: the session exists and its VM runs. */
  precheckExisting(ref: string, name: string): void {
    const vm = this.deps.find(ref);
    this.rowOf(vm, name);
    this.deps.sshTarget(vm.id);
  }

  private refuseDuplicate(vm: VMRow, name: string): void {
    const existing = this.deps.repo.get(vm.id, name);
    if (!existing) return;
    const hint = existing.endedAt === undefined ? `stop it with banger vm session stop ${vm.name} ${name}, then remove it with banger vm session rm ${vm.name} ${name}` : `remove it with banger vm session rm ${vm.name} ${name}, or pick another --name`;
    throw alreadyExists(`vm ${vm.name} already has a session named ${name}`, hint);
  }

  start(ref: string, req: StartSessionRequest): Promise<SessionInfo> {
    const vmId = this.deps.find(ref).id;
    return this.locks.run(vmId, async () => {
      const vm = this.deps.find(vmId);
      const target = this.deps.sshTarget(vm.id);
      const name = req.name !== undefined ? validateSessionName(req.name) : generateName((n) => this.deps.repo.get(vm.id, n) !== undefined);
      this.refuseDuplicate(vm, name);
      const startedAt = new Date().toISOString();
      const r = await sshExec(target, startArgv(name, req), { timeoutMs: 60_000 });
      if (r.code === START_RUNNING) {
        throw alreadyExists(`a session named ${name} still runs in vm ${vm.name} (not known to banger)`, `end it in the guest, or pick another --name`);
      }
      if (r.code === START_NO_SCRIPT) {
        throw unavailable(`vm ${vm.name} has no script (util-linux), which gives a session its terminal`, 'install util-linux in the image, or start the session without --tty');
      }
      if (r.code !== 0) throw operationFailed(`could not start session ${name} in vm ${vm.name}: ${r.stderr.trim() || `exit status ${r.code}`}`);
      const unit = /^unit (\S+)$/m.exec(r.stdout)?.[1];
      const row: SessionRow = { vmId: vm.id, name, command: [...req.command], startedAt, ...(req.cwd !== undefined ? { cwd: req.cwd } : {}), ...(unit && unit !== '-' ? { unit } : {}), ...(req.tty !== undefined ? { tty: true } : {}) };
      try {
        this.deps.repo.insert(row);
      } catch (err) {
        if (!this.deps.vmDeps.repo.get(vm.id)) throw new BangerError('not_found', `vm ${vm.name} was deleted meanwhile`, { cause: err });
        throw err;
      }
      this.deps.logger.info('session started', { vm: vm.name, session: name, unit: unit ?? '-' });
      const guest = (await this.guestStatus(target, name).catch(() => new Map<string, GuestStatus>())).get(name);
      return sessionView(vm.name, row, guest, true);
    });
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves once the session ended, its status recorded. */
  stop(ref: string, name: string, opts: { timeoutSeconds?: number } = {}): Promise<SessionInfo> {
    return this.signal(ref, name, 'SIGTERM', opts.timeoutSeconds ?? DEFAULT_STOP_GRACE_S, 'SIGKILL');
  }

  /** Sends a signal (default SIGKILL); when it ends the session within 5 s its status is recorded. */
  kill(ref: string, name: string, req: KillSessionRequest = {}): Promise<SessionInfo> {
    const sig = req.signal ?? 'SIGKILL';
    const ends = !['SIGSTOP', 'SIGCONT'].includes(sig);
    return this.signal(ref, name, sig, ends ? 5 : 0, '');
  }

  private signal(ref: string, name: string, first: VMSignal, waitS: number, then: VMSignal | ''): Promise<SessionInfo> {
    const vmId = this.deps.find(ref).id;
    return this.locks.run(vmId, async () => {
      const vm = this.deps.find(vmId);
      const row = this.rowOf(vm, name);
      const target = this.deps.sshTarget(vm.id);
      if (row.endedAt !== undefined) return sessionView(vm.name, row, undefined, true);
      const sig = (s: string) => s.replace(/^SIG/, '');
      const r = await sshExec(target, ['sh', '-c', `${SIGNAL}\n${STATUS}`, 'sh', name, sig(first), String(waitS), then === '' ? '' : sig(then)], {
        timeoutMs: (waitS + 30) * 1000,
      });
      if (r.code !== 0) throw operationFailed(`could not signal session ${name} in vm ${vm.name}: ${r.stderr.trim() || `exit status ${r.code}`}`);
      const guest = parseStatusLines(r.stdout).get(name);
      const ended = this.recordIfEnded(vm, row, guest);
      return sessionView(vm.name, ended, guest, true);
    });
  }

  /** Records the end the guest reported; returns the row as stored now. */
  private recordIfEnded(vm: VMRow, row: SessionRow, guest: GuestStatus | undefined): SessionRow {
    if (row.endedAt !== undefined) return row;
    const end = guest ?? { state: 'lost' as const };
    if (end.state === 'running') return row;
    const endedAt = end.endedAt ?? new Date().toISOString();
    if (this.deps.repo.recordEnd(vm.id, row.name, endedAt, end.exitStatus)) {
      this.deps.logger.info('session ended', { vm: vm.name, session: row.name, exitStatus: end.exitStatus ?? 'none' });
    }
    return this.deps.repo.get(vm.id, row.name) ?? row;
  }

  /** Forgets an ended session and removes its guest files (when the VM runs). */
  remove(ref: string, name: string): Promise<Deleted> {
    const vmId = this.deps.find(ref).id;
    return this.locks.run(vmId, async () => {
      const vm = this.deps.find(vmId);
      const row = this.rowOf(vm, name);
      if (this.running(vm)) {
        const target = this.deps.sshTarget(vm.id);
        const guest = row.endedAt === undefined ? (await this.guestStatus(target, name)).get(name) : undefined;
        if (guest?.state === 'running') {
          throw badRequest(`session ${name} in vm ${vm.name} is still running`, `stop it first: banger vm session stop ${vm.name} ${name}`);
        }
        const r = await sshExec(target, ['sh', '-c', REMOVE, 'sh', name], { timeoutMs: PROBE_TIMEOUT_MS });
        if (r.code !== 0) throw operationFailed(`could not remove the files of session ${name} in vm ${vm.name}: ${r.stderr.trim()}`);
      }
      this.deps.repo.delete(vm.id, name);
      return { deleted: name };
    });
  }

  /** Records the end of every open session of running VMs whose guest says it ended. */
  async sweep(): Promise<void> {
    for (const vmId of this.deps.repo.vmsWithOpenSessions()) {
      const vm = this.deps.vmDeps.repo.get(vmId);
      if (!vm || !this.running(vm)) continue;
      await this.locks
        .run(vmId, async () => {
          const open = this.deps.repo.list(vmId).filter((r) => r.endedAt === undefined);
          if (open.length === 0) return;
          const guest = await this.guestStatus(this.deps.sshTarget(vmId));
          for (const r of open) this.recordIfEnded(vm, r, guest.get(r.name));
        })
        .catch((err: unknown) => this.deps.logger.debug('session sweep skipped a vm', { vm: vm.name, error: err }));
    }
  }

  startSweeping(intervalMs = SWEEP_INTERVAL_MS): void {
    if (this.timer) return;
    let busy = false;
    this.timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.sweep().finally(() => (busy = false));
    }, intervalMs);
    this.timer.unref();
  }

  stopSweeping(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
