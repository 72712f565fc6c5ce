/** The vms table: durable spec and runtime of each VM. */
import type { Database, Statement } from 'better-sqlite3';
import type { VMSpec, WorkspaceInfo } from '../api/types.js';
import type { StoredVMState } from '../model/vm-state.js';

export interface VMRuntime {
  driver?: string;
  accel?: string;
  network?: 'user' | 'tap';
  sshHost?: string;
  sshPort?: number;
  ip?: string;
  startedAt?: string;
  stoppedReason?: string;
}

export interface VMRow {
  id: string;
  name: string;
  imageId: string;
  state: StoredVMState;
  spec: VMSpec;
  runtime: VMRuntime;
  lastError?: string;
  /** The checkout last copied into the VM (recorded by the client that copied it). */
  workspace?: WorkspaceInfo;
  createdAt: string;
  updatedAt: string;
}

interface Raw {
  id: string;
  name: string;
  image_id: string;
  state: string;
  spec_json: string;
  runtime_json: string;
  last_error: string | null;
  workspace_json: string | null;
  created_at: string;
  updated_at: string;
}

function fromRaw(r: Raw): VMRow {
  const row: VMRow = {
    id: r.id,
    name: r.name,
    imageId: r.image_id,
    state: r.state as StoredVMState,
    spec: JSON.parse(r.spec_json) as VMSpec,
    runtime: JSON.parse(r.runtime_json) as VMRuntime,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.last_error) row.lastError = r.last_error;
  if (r.workspace_json) row.workspace = JSON.parse(r.workspace_json) as WorkspaceInfo;
  return row;
}

/** A write to the vms table, as announced to the repository's listener (live views). */
export type VMRowChange = { kind: 'changed'; id: string } | { kind: 'deleted'; id: string; name: string };

export class VMRepo {
  /** `onChange` hears of every write after it lands (ids only: listeners read the row again). */
  constructor(
    private readonly db: Database,
    private readonly onChange?: (change: VMRowChange) => void,
  ) {}

  list(): VMRow[] {
    return (this.db.prepare('SELECT * FROM vms ORDER BY created_at').all() as Raw[]).map(fromRaw);
  }

  /**
   * Changes whenever any table changed, through this connection or another: a cheap check that lets a
   * reader cache what it derived from the store (the DNS zone) without polling the rows.
   */
  changeStamp(): string {
    this.stampStmt ??= this.db.prepare('SELECT total_changes() AS n, (SELECT data_version FROM pragma_data_version) AS d');
    const r = this.stampStmt.get() as { n: number; d: number };
    return `${r.n}/${r.d}`;
  }

  private stampStmt: Statement | undefined;

  get(id: string): VMRow | undefined {
    const r = this.db.prepare('SELECT * FROM vms WHERE id = ?').get(id) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  byName(name: string): VMRow | undefined {
    const r = this.db.prepare('SELECT * FROM vms WHERE name = ?').get(name) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /** VMs whose id starts with prefix (a literal prefix: LIKE wildcards in it match nothing). */
  withIdPrefix(prefix: string): VMRow[] {
    if (!/^[0-9a-f]+$/.test(prefix)) return [];
    return (this.db.prepare("SELECT * FROM vms WHERE substr(id, 1, ?) = ? ORDER BY created_at").all(prefix.length, prefix) as Raw[]).map(fromRaw);
  }

  nameTaken(name: string): boolean {
    return this.db.prepare('SELECT 1 FROM vms WHERE name = ?').get(name) !== undefined;
  }

  usingImage(imageId: string): string[] {
    return (this.db.prepare('SELECT name FROM vms WHERE image_id = ? ORDER BY name').all(imageId) as { name: string }[]).map((r) => r.name);
  }

  insert(row: VMRow): void {
    this.db
      .prepare('INSERT INTO vms (id, name, image_id, state, spec_json, runtime_json, last_error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(row.id, row.name, row.imageId, row.state, JSON.stringify(row.spec), JSON.stringify(row.runtime), row.lastError ?? null, row.createdAt, row.updatedAt);
    this.onChange?.({ kind: 'changed', id: row.id });
  }

  /** Changes what a VM is (spec, runtime facts, image); its state changes only through writeState. */
  update(id: string, patch: Partial<Pick<VMRow, 'spec' | 'runtime' | 'imageId'>>): VMRow {
    return this.write(id, patch);
  }

  /** Records (or with undefined, forgets) the VM's workspace; not a state change. */
  setWorkspace(id: string, ws: WorkspaceInfo | undefined): VMRow {
    const cur = this.get(id);
    if (!cur) throw new Error(`vm ${id} vanished from the store`);
    const updatedAt = new Date().toISOString();
    this.db.prepare('UPDATE vms SET workspace_json = ?, updated_at = ? WHERE id = ?').run(ws ? JSON.stringify(ws) : null, updatedAt, id);
    const next: VMRow = { ...cur, updatedAt };
    if (ws) next.workspace = ws;
    else delete next.workspace;
    this.onChange?.({ kind: 'changed', id });
    return next;
  }

  /** Only the lifecycle module calls this; it checks the move against the transition table first. */
  writeState(id: string, patch: Pick<VMRow, 'state'> & Partial<Pick<VMRow, 'runtime' | 'lastError'>>): VMRow {
    return this.write(id, patch);
  }

  private write(id: string, patch: Partial<Pick<VMRow, 'state' | 'spec' | 'runtime' | 'lastError' | 'imageId'>>): VMRow {
    const cur = this.get(id);
    if (!cur) throw new Error(`vm ${id} vanished from the store`);
    const next: VMRow = { ...cur, ...patch, updatedAt: new Date().toISOString() };
    if ('lastError' in patch && patch.lastError === undefined) delete next.lastError;
    this.db
      .prepare('UPDATE vms SET image_id = ?, state = ?, spec_json = ?, runtime_json = ?, last_error = ?, updated_at = ? WHERE id = ?')
      .run(next.imageId, next.state, JSON.stringify(next.spec), JSON.stringify(next.runtime), next.lastError ?? null, next.updatedAt, id);
    this.onChange?.({ kind: 'changed', id });
    return next;
  }

  delete(id: string): void {
    const name = this.onChange ? this.get(id)?.name : undefined;
    this.db.prepare('DELETE FROM vms WHERE id = ?').run(id);
    if (name !== undefined) this.onChange?.({ kind: 'deleted', id, name });
  }
}
