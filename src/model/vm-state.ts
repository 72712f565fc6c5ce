/**
 * The states a VM moves through and the moves that are legal. The table is data; the one function
 * that writes a state (services/vms/lifecycle.ts) refuses anything it does not list.
 *
 *     created ──► starting ──► running ──► stopping ──► stopped
 *        │           │            │                      │  ▲
 *        └──► stopped└──► error ◄─┴──────────────────────┘  │
 *                         └────────────────► starting ──────┘
 *
 * `paused`: the process lives with its CPUs stopped (running <-> paused). `suspended`: the memory and
 * device state were saved to the VM's directory and the process ended (running/paused -> stopping ->
 * suspended); a start loads that state again, a stop discards it.
 *
 * `broken` never reaches the store: the API shows it for a VM whose files or image are missing.
 *
 * @module
 */

import type { VMState } from '../api/types.js';

export type { VMState };
export type StoredVMState = Exclude<VMState, 'broken'>;

export const STORED_STATES: readonly StoredVMState[] = ['created', 'starting', 'running', 'paused', 'stopping', 'stopped', 'suspended', 'error'];

/** States in which a hypervisor process may exist for the VM. */
export const ACTIVE_STATES: ReadonlySet<VMState> = new Set<VMState>(['starting', 'running', 'paused', 'stopping']);

export function isActive(state: VMState): boolean {
  return ACTIVE_STATES.has(state);
}

/** from -> the states it may move to. */
export const TRANSITIONS: Readonly<Record<StoredVMState, readonly StoredVMState[]>> = {
  // disks prepared and left stopped (--no-start), booting, or failed before booting
  created: ['starting', 'stopped', 'error'],
  // ready (SSH answered), failed, cancelled or the process died while booting
  starting: ['running', 'error', 'stopped', 'stopping'],
  // stop requested, the process went away, or it was found broken
  running: ['paused', 'stopping', 'stopped', 'error'],
  // CPUs stopped: resumed, stopped (or suspended through stopping), or the process went away
  paused: ['running', 'stopping', 'stopped', 'error'],
  stopping: ['stopped', 'suspended', 'error'],
  stopped: ['starting', 'error'],
  // memory saved on disk: started again (restored), or the saved state discarded
  suspended: ['starting', 'stopped', 'error'],
  // a failed VM can be started again or have its leftovers stopped
  error: ['starting', 'stopping', 'stopped'],
};

export function canTransition(from: StoredVMState, to: StoredVMState): boolean {
  return TRANSITIONS[from].includes(to);
}
