/**
 * A feed of VM changes for live views (the web UI's event stream): every write to the vms table is
 * announced after it lands, whichever service method made it. Listeners get ids only and read the VM
 * again themselves, so what they show is always what the store holds.
 *
 * @module
 */
import type { Database } from 'better-sqlite3';
import type { WorkspaceInfo } from '../../api/types.js';
import { VMRepo, type VMRow } from '../../store/vms.js';

export type VMChange = { kind: 'changed'; id: string } | { kind: 'deleted'; id: string; name: string };

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

  get listenerCount(): number {
    return this.listeners.size;
  }
}

/** The vms repository, announcing each write on a VMChanges feed. */
export class ObservedVMRepo extends VMRepo {
  constructor(
    db: Database,
    private readonly changes: VMChanges,
  ) {
    super(db);
  }

  override insert(row: VMRow): void {
    super.insert(row);
    this.changes.emit({ kind: 'changed', id: row.id });
  }

  override update(id: string, patch: Partial<Pick<VMRow, 'spec' | 'runtime' | 'imageId'>>): VMRow {
    const row = super.update(id, patch);
    this.changes.emit({ kind: 'changed', id });
    return row;
  }

  override setWorkspace(id: string, ws: WorkspaceInfo | undefined): VMRow {
    const row = super.setWorkspace(id, ws);
    this.changes.emit({ kind: 'changed', id });
    return row;
  }

  override writeState(id: string, patch: Pick<VMRow, 'state'> & Partial<Pick<VMRow, 'runtime' | 'lastError'>>): VMRow {
    const row = super.writeState(id, patch);
    this.changes.emit({ kind: 'changed', id });
    return row;
  }

  override delete(id: string): void {
    const name = this.get(id)?.name;
    super.delete(id);
    if (name !== undefined) this.changes.emit({ kind: 'deleted', id, name });
  }
}
