/** Opens the SQLite state store (WAL), applies migrations and classifies the schema. */
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { mkdirSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { LATEST_MIGRATION, MIGRATIONS, type Migration } from './migrations.js';

export type SchemaState = 'compatible' | 'migrations_needed' | 'incompatible' | 'missing';

export function openStore(path: string, migrations: readonly Migration[] = MIGRATIONS): Database {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db, migrations);
  return db;
}

function ensureMigrationsTable(db: Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
}

export function appliedMigrations(db: Database): number[] {
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'").get();
  if (!hasTable) return [];
  return (db.prepare('SELECT id FROM schema_migrations ORDER BY id').all() as { id: number }[]).map((r) => r.id);
}

export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): number[] {
  ensureMigrationsTable(db);
  const done = new Set(appliedMigrations(db));
  const known = new Set(migrations.map((m) => m.id));
  const unknown = [...done].filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new Error(`state store has migrations this build does not know (${unknown.join(', ')}); it was written by a newer banger`);
  }
  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.id)) continue;
    db.transaction(() => {
      m.up(db);
      db.prepare('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)').run(m.id, m.name, new Date().toISOString());
    })();
    applied.push(m.id);
  }
  return applied;
}

/** Classifies a store without changing it. */
export function inspectSchema(path: string, migrations: readonly Migration[] = MIGRATIONS): { state: SchemaState; applied: number[]; latest: number } {
  const latest = migrations[migrations.length - 1]?.id ?? LATEST_MIGRATION;
  if (!existsSync(path)) return { state: 'missing', applied: [], latest };
  const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  try {
    const applied = appliedMigrations(db);
    const known = new Set(migrations.map((m) => m.id));
    if (applied.some((id) => !known.has(id))) return { state: 'incompatible', applied, latest };
    if (migrations.some((m) => !applied.includes(m.id))) return { state: 'migrations_needed', applied, latest };
    return { state: 'compatible', applied, latest };
  } finally {
    db.close();
  }
}
