/** The network_leases table: each VM's MAC, address, tap and forwarded port, unique across VMs. */
import type { Database } from 'better-sqlite3';

export type LeaseMode = 'user' | 'tap';

export interface Lease {
  vmId: string;
  mode: LeaseMode;
  mac: string;
  /** The VM's own address: the guest's on a tap, its 127.77.x.y loopback address in user mode. */
  ip?: string;
  tap?: string;
  /** Host address and port the guest's sshd is forwarded to (user mode). */
  hostAddr?: string;
  hostPort?: number;
  createdAt: string;
}

interface Raw {
  vm_id: string;
  mode: string;
  mac: string;
  ip: string | null;
  tap: string | null;
  host_addr: string | null;
  host_port: number | null;
  created_at: string;
}

function fromRaw(r: Raw): Lease {
  const l: Lease = { vmId: r.vm_id, mode: r.mode as LeaseMode, mac: r.mac, createdAt: r.created_at };
  if (r.ip !== null) l.ip = r.ip;
  if (r.tap !== null) l.tap = r.tap;
  if (r.host_addr !== null) l.hostAddr = r.host_addr;
  if (r.host_port !== null) l.hostPort = r.host_port;
  return l;
}

/** Thrown when a value another VM holds was asked for; the caller picks another and retries. */
export class LeaseConflictError extends Error {
  constructor(readonly detail: string) {
    super(`lease conflict: ${detail}`);
    this.name = 'LeaseConflictError';
  }
}

export class LeaseRepo {
  constructor(private readonly db: Database) {}

  get(vmId: string): Lease | undefined {
    const r = this.db.prepare('SELECT * FROM network_leases WHERE vm_id = ?').get(vmId) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  list(): Lease[] {
    return (this.db.prepare('SELECT * FROM network_leases ORDER BY created_at').all() as Raw[]).map(fromRaw);
  }

  /** Inserts or replaces the VM's lease; a value held by another VM throws LeaseConflictError. */
  put(lease: Omit<Lease, 'createdAt'>): Lease {
    const createdAt = new Date().toISOString();
    try {
      this.db
        .prepare(
          `INSERT INTO network_leases (vm_id, mode, mac, ip, tap, host_addr, host_port, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(vm_id) DO UPDATE SET mode = excluded.mode, mac = excluded.mac, ip = excluded.ip, tap = excluded.tap,
             host_addr = excluded.host_addr, host_port = excluded.host_port`,
        )
        .run(lease.vmId, lease.mode, lease.mac, lease.ip ?? null, lease.tap ?? null, lease.hostAddr ?? null, lease.hostPort ?? null, createdAt);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new LeaseConflictError((err as Error).message);
      throw err;
    }
    return this.get(lease.vmId)!;
  }

  /** Forgets the forwarded port (the VM stopped) but keeps its MAC and address. */
  releasePort(vmId: string): void {
    this.db.prepare('UPDATE network_leases SET host_addr = NULL, host_port = NULL WHERE vm_id = ?').run(vmId);
  }

  delete(vmId: string): void {
    this.db.prepare('DELETE FROM network_leases WHERE vm_id = ?').run(vmId);
  }
}
