/**
 * Reading the state store without changing it: which migrations it has, and whether this build can
 * use it. The only part of store/ that `banger doctor` may call (it opens the file read-only, so it
 * works while bangerd cannot start, and never migrates).
 */
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { LATEST_MIGRATION, MIGRATIONS, type Migration } from './migrations.js';

export type SchemaState = 'compatible' | 'migrations_needed' | 'incompatible' | 'missing';

export interface SchemaReport {
  state: SchemaState;
  applied: number[];
  latest: number;
}

export function appliedMigrations(db: Database): number[] {
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'").get();
  if (!hasTable) return [];
  return (db.prepare('SELECT id FROM schema_migrations ORDER BY id').all() as { id: number }[]).map((r) => r.id);
}

/** Classifies a store without changing it. */
export function inspectSchema(path: string, migrations: readonly Migration[] = MIGRATIONS): SchemaReport {
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
