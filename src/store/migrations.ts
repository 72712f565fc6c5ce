/** Forward-only numbered migrations. Never edit a published migration: add a new one. */
import type { Database } from 'better-sqlite3';

export interface Migration {
  id: number;
  name: string;
  up: (db: Database) => void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'baseline',
    up: (db) => {
      db.exec(`
        CREATE TABLE images (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL UNIQUE,
          managed INTEGER NOT NULL,
          distro TEXT NOT NULL DEFAULT '',
          arch TEXT NOT NULL DEFAULT 'x86_64',
          source TEXT NOT NULL DEFAULT '',
          dir TEXT,
          rootfs_path TEXT NOT NULL,
          work_seed_path TEXT,
          kernel_ref TEXT,
          kernel_path TEXT,
          initrd_path TEXT,
          modules_path TEXT,
          size_bytes INTEGER NOT NULL DEFAULT 0,
          meta_json TEXT NOT NULL DEFAULT '{}',
          created_at TEXT NOT NULL
        );
        CREATE TABLE kernels (
          name TEXT PRIMARY KEY,
          distro TEXT NOT NULL DEFAULT '',
          arch TEXT NOT NULL DEFAULT 'x86_64',
          kernel_version TEXT NOT NULL DEFAULT '',
          dir TEXT NOT NULL,
          kernel_path TEXT NOT NULL,
          initrd_path TEXT,
          modules_path TEXT,
          sha256 TEXT NOT NULL,
          initrd_sha256 TEXT,
          source TEXT NOT NULL DEFAULT '',
          imported_at TEXT NOT NULL
        );
        CREATE TABLE vms (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL UNIQUE,
          image_id TEXT NOT NULL,
          state TEXT NOT NULL,
          spec_json TEXT NOT NULL,
          runtime_json TEXT NOT NULL DEFAULT '{}',
          last_error TEXT,
          created_at TEXT NOT NULL,
          updated_at TEXT NOT NULL
        );
        CREATE TABLE settings (
          key TEXT PRIMARY KEY,
          value TEXT NOT NULL,
          updated_at TEXT NOT NULL
        );
      `);
    },
  },
  {
    id: 2,
    name: 'network leases',
    up: (db) => {
      db.exec(`
        CREATE TABLE network_leases (
          vm_id TEXT PRIMARY KEY REFERENCES vms(id) ON DELETE CASCADE,
          mode TEXT NOT NULL,
          mac TEXT NOT NULL UNIQUE,
          ip TEXT UNIQUE,
          tap TEXT UNIQUE,
          host_addr TEXT,
          host_port INTEGER,
          created_at TEXT NOT NULL,
          UNIQUE (host_addr, host_port)
        );
      `);
    },
  },
  {
    id: 3,
    name: 'vm workspaces',
    up: (db) => {
      // The git checkout a client copied into the VM (WorkspaceInfo as JSON), or NULL.
      db.exec('ALTER TABLE vms ADD COLUMN workspace_json TEXT');
    },
  },
  {
    id: 4,
    name: 'snapshots',
    up: (db) => {
      db.exec(`
        CREATE TABLE snapshots (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL UNIQUE,
          source_vm_id TEXT NOT NULL,
          source_vm_name TEXT NOT NULL,
          image_id TEXT NOT NULL,
          dir TEXT NOT NULL,
          manifest_json TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE TABLE vm_snapshot_deps (
          vm_id TEXT PRIMARY KEY REFERENCES vms(id) ON DELETE CASCADE,
          snapshot_id TEXT NOT NULL REFERENCES snapshots(id)
        );
      `);
    },
  },
  {
    id: 5,
    name: 'guest sessions',
    up: (db) => {
      // Long-running guest commands. The guest's files are the source of truth for a session's status;
      // ended_at and exit_status record what they said once it ended.
      db.exec(`
        CREATE TABLE vm_sessions (
          vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
          name TEXT NOT NULL,
          command_json TEXT NOT NULL,
          cwd TEXT,
          unit TEXT,
          started_at TEXT NOT NULL,
          ended_at TEXT,
          exit_status INTEGER,
          PRIMARY KEY (vm_id, name)
        );
      `);
    },
  },
  {
    id: 6,
    name: 'session terminals',
    up: (db) => {
      // 1: the session's command runs on a pseudo-terminal in the guest.
      db.exec('ALTER TABLE vm_sessions ADD COLUMN tty INTEGER NOT NULL DEFAULT 0');
    },
  },
];

export const LATEST_MIGRATION = MIGRATIONS[MIGRATIONS.length - 1]!.id;
