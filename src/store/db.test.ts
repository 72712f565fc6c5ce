import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openStore } from './db.js';
import { inspectSchema } from './inspect.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { scratchDir } from '../testing/scratch-dir.js';

const tmp = () => join(scratchDir('banger-db-'), 'state.db');

describe('state store', () => {
  it('opens in WAL mode with every migration applied', () => {
    const p = tmp();
    assert.equal(inspectSchema(p).state, 'missing');
    const db = openStore(p);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
    const s = inspectSchema(p);
    assert.equal(s.state, 'compatible');
    assert.deepEqual(s.applied, MIGRATIONS.map((m) => m.id));
  });
  it('applies only new migrations, forward', () => {
    const p = tmp();
    openStore(p).close();
    const extra: Migration = { id: 999, name: 'extra', up: (db) => db.exec('CREATE TABLE extra (x INTEGER)') };
    assert.equal(inspectSchema(p, [...MIGRATIONS, extra]).state, 'migrations_needed');
    const db = openStore(p, [...MIGRATIONS, extra]);
    db.prepare('INSERT INTO extra (x) VALUES (1)').run();
    db.close();
    assert.equal(inspectSchema(p, [...MIGRATIONS, extra]).state, 'compatible');
    assert.equal(inspectSchema(p).state, 'incompatible');
    assert.throws(() => openStore(p), /newer banger/);
  });
  it('rolls back a failing migration', () => {
    const p = tmp();
    const broken: Migration = { id: 500, name: 'broken', up: (db) => { db.exec('CREATE TABLE half (x INTEGER)'); throw new Error('boom'); } };
    assert.throws(() => openStore(p, [...MIGRATIONS, broken]), /boom/);
    const db = openStore(p);
    const half = db.prepare("SELECT name FROM sqlite_master WHERE name='half'").get();
    assert.equal(half, undefined);
    db.close();
  });
});
