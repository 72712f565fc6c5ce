/** Opens the SQLite state store (WAL) and applies migrations. Reading without changing it: inspect.ts. */
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { appliedMigrations } from './inspect.js';
import { MIGRATIONS, type Migration } from './migrations.js';

export function openStore(path: string, migrations: readonly Migration[] = MIGRATIONS): Database {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = new BetterSqlite3(path);
  cacheStatements(db);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db, migrations);
  return db;
}

/** How many distinct SQL texts keep their prepared statement; the repositories use a few dozen. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * Makes db.prepare return the statement already prepared for the same SQL text: compiling a query
 * costs more than running it, and every API read runs a few. Statements are used synchronously and
 * none is switched to raw/pluck/expand mode, so sharing one is safe; SQLite re-prepares a statement
 * by itself after a schema change (migrations). The cache is bounded: past its size the oldest entry
 * is dropped.
 */
function cacheStatements(db: Database): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, Statement>();
  db.prepare = ((sql: string) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = prepare(sql);
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(sql, stmt);
    }
    return stmt;
  }) as Database['prepare'];
}

function ensureMigrationsTable(db: Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
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
