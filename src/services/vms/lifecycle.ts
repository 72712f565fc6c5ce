/**
 * The one owner of VM state. Every state change goes through transition(), which refuses moves the
 * table in model/vm-state.ts does not list; nothing else writes a VM's state. Every mutating
 * operation on a VM runs inside withLock(id) from its first read to its last write.
 *
 * @module
 */
import { BangerError } from '../../api/errors.js';
import { canTransition, TRANSITIONS, type StoredVMState } from '../../model/vm-state.js';
import type { VMRepo, VMRow, VMRuntime } from '../../store/vms.js';
import { KeyedMutex } from '../keyed-mutex.js';

export class IllegalTransitionError extends BangerError {
  constructor(
    readonly vm: string,
    readonly from: StoredVMState,
    readonly to: StoredVMState,
  ) {
    super('internal', `vm ${vm}: illegal state change ${from} -> ${to} (allowed from ${from}: ${TRANSITIONS[from].join(', ') || 'none'})`);
  }
}

export interface TransitionOptions {
  /** Recorded as the runtime's stoppedReason when the VM moves to stopped. */
  reason?: string;
  /** Set for error; cleared by any other move. */
  lastError?: string;
  /** Replaces the runtime facts in the same write. */
  runtime?: VMRuntime;
}

export class VMLifecycle {
  private readonly locks = new KeyedMutex();

  constructor(private readonly repo: VMRepo) {}

  /** Moves a VM to `to`; a move the table does not allow throws and writes nothing. */
  transition(id: string, to: StoredVMState, opts: TransitionOptions = {}): VMRow {
    const cur = this.repo.get(id);
    if (!cur) throw new BangerError('not_found', `vm ${id} is gone`);
    if (cur.state !== to && !canTransition(cur.state, to)) throw new IllegalTransitionError(cur.name, cur.state, to);
    let runtime = opts.runtime ?? cur.runtime;
    if (to === 'stopped') runtime = { ...runtime, stoppedReason: opts.reason ?? 'stopped' };
    else if (to === 'starting') {
      const { stoppedReason: _gone, ...rest } = runtime;
      runtime = rest;
    }
    return this.repo.writeState(id, { state: to, runtime, lastError: to === 'error' ? (opts.lastError ?? 'unknown error') : undefined });
  }

  /** Runs fn holding the VM's lock; calls for one VM run one after another. */
  withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(id, fn);
  }

  /** True while an operation holds the VM's lock or waits for it. */
  isBusy(id: string): boolean {
    return this.locks.isHeld(id);
  }
}
