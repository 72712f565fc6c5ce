/**
 * A feed of VM changes for live views (the web UI's event stream): the vms repository announces every
 * write after it lands, whichever service method made it, and this feed passes it on. Listeners get ids
 * only and read the VM again themselves, so what they show is always what the store holds.
 *
 * @module
 */
import type { VMRowChange } from '../../store/vms.js';

export type VMChange = VMRowChange;

type Listener = (change: VMChange) => void;

export class VMChanges {
  private readonly listeners = new Set<Listener>();

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  emit(change: VMChange): void {
    for (const fn of this.listeners) {
      try {
        fn(change);
      } catch {
        /* a listener's failure is its own business; the write has landed */
      }
    }
  }
}
