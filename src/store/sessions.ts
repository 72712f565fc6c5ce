/** The vm_sessions table: guest sessions of each VM (removed with their VM). */
import type { Database } from 'better-sqlite3';

export interface SessionRow {
  vmId: string;
  name: string;
  command: string[];
  cwd?: string;
  /** The systemd unit, when the guest ran it under systemd. */
  unit?: string;
  /** Its command runs on a pseudo-terminal in the guest. */
  tty?: boolean;
  startedAt: string;
  endedAt?: string;
  /** Absent while running, and for a session that ended without a status (lost). */
  exitStatus?: number;
}

interface Raw {
  vm_id: string;
  name: string;
  command_json: string;
  cwd: string | null;
  unit: string | null;
  started_at: string;
  ended_at: string | null;
  exit_status: number | null;
  tty: number;
}

function fromRaw(r: Raw): SessionRow {
  const row: SessionRow = { vmId: r.vm_id, name: r.name, command: JSON.parse(r.command_json) as string[], startedAt: r.started_at };
  if (r.cwd !== null) row.cwd = r.cwd;
  if (r.unit !== null) row.unit = r.unit;
  if (r.ended_at !== null) row.endedAt = r.ended_at;
  if (r.exit_status !== null) row.exitStatus = r.exit_status;
  if (r.tty === 1) row.tty = true;
  return row;
}

export class SessionRepo {
  constructor(private readonly db: Database) {}

  list(vmId: string): SessionRow[] {
    return (this.db.prepare('SELECT * FROM vm_sessions WHERE vm_id = ? ORDER BY started_at, name').all(vmId) as Raw[]).map(fromRaw);
  }

  get(vmId: string, name: string): SessionRow | undefined {
    const r = this.db.prepare('SELECT * FROM vm_sessions WHERE vm_id = ? AND name = ?').get(vmId, name) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /** VM ids with a session not recorded as ended. */
  vmsWithOpenSessions(): string[] {
    return (this.db.prepare('SELECT DISTINCT vm_id FROM vm_sessions WHERE ended_at IS NULL').all() as { vm_id: string }[]).map((r) => r.vm_id);
  }

  insert(row: SessionRow): void {
    this.db
      .prepare('INSERT INTO vm_sessions (vm_id, name, command_json, cwd, unit, started_at, ended_at, exit_status, tty) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(row.vmId, row.name, JSON.stringify(row.command), row.cwd ?? null, row.unit ?? null, row.startedAt, row.endedAt ?? null, row.exitStatus ?? null, row.tty ? 1 : 0);
  }

  /** Records that a session ended (once: a recorded end is not overwritten). */
  recordEnd(vmId: string, name: string, endedAt: string, exitStatus: number | undefined): boolean {
    const r = this.db
      .prepare('UPDATE vm_sessions SET ended_at = ?, exit_status = ? WHERE vm_id = ? AND name = ? AND ended_at IS NULL')
      .run(endedAt, exitStatus ?? null, vmId, name);
    return r.changes > 0;
  }

  delete(vmId: string, name: string): boolean {
    return this.db.prepare('DELETE FROM vm_sessions WHERE vm_id = ? AND name = ?').run(vmId, name).changes > 0;
  }
}
