import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';
import { STORED_STATES, TRANSITIONS, type StoredVMState } from '../../model/vm-state.js';
import { openStore } from '../../store/db.js';
import { VMRepo, type VMRow } from '../../store/vms.js';
import { IllegalTransitionError, VMLifecycle } from './lifecycle.js';
import { resolveVM } from './lookup.js';
import { BangerError } from '../../api/errors.js';

function row(id: string, name: string, state: StoredVMState = 'stopped'): VMRow {
  const now = new Date().toISOString();
  return { id, name, imageId: 'img', state, spec: { vcpu: 1, memoryMiB: 256, diskSizeBytes: 1 << 30, nat: false }, runtime: {}, createdAt: now, updatedAt: now };
}

describe('vm lifecycle and lookup', () => {
  let dir = '';
  let db: Database;
  let repo: VMRepo;
  before(() => {
    dir = mkdtempSync('/tmp/blc-');
    db = openStore(join(dir, 'state.db'));
    repo = new VMRepo(db);
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('allows exactly the moves in the table and refuses every other one without writing', () => {
    const lc = new VMLifecycle(repo);
    let n = 0;
    for (const from of STORED_STATES) {
      for (const to of STORED_STATES) {
        const id = (n++).toString(16).padStart(12, '0');
        repo.insert(row(id, `vm-${n}`, from));
        const legal = from === to || TRANSITIONS[from].includes(to);
        if (legal) {
          assert.equal(lc.transition(id, to, { lastError: 'boom' }).state, to, `${from} -> ${to}`);
          assert.equal(repo.get(id)!.state, to);
        } else {
          const before = repo.get(id)!;
          assert.throws(() => lc.transition(id, to), IllegalTransitionError, `${from} -> ${to} must be refused`);
          assert.deepEqual(repo.get(id), before, 'a refused move writes nothing');
        }
      }
    }
  });

  it('records lastError only for error, and the reason of a stop', () => {
    const lc = new VMLifecycle(repo);
    repo.insert(row('aaaaaaaaaaaa', 'errs', 'starting'));
    assert.equal(lc.transition('aaaaaaaaaaaa', 'error', { lastError: 'ssh timed out' }).lastError, 'ssh timed out');
    assert.equal(lc.transition('aaaaaaaaaaaa', 'starting').lastError, undefined);
    const stopped = lc.transition('aaaaaaaaaaaa', 'stopped', { reason: 'cancelled' });
    assert.equal(stopped.runtime.stoppedReason, 'cancelled');
    assert.equal(lc.transition('aaaaaaaaaaaa', 'starting').runtime.stoppedReason, undefined);
  });

  it('resolves exact names first, then full ids, then unique id prefixes; refuses ambiguous ones listing them', () => {
    repo.insert(row('beef00000001', 'one'));
    repo.insert(row('beef00000002', 'two'));
    repo.insert(row('cafe00000003', 'beef'));
    assert.equal(resolveVM(repo, 'one').id, 'beef00000001');
    assert.equal(resolveVM(repo, 'beef00000002').name, 'two');
    assert.equal(resolveVM(repo, 'beef').name, 'beef', 'an exact name wins over an id prefix');
    assert.equal(resolveVM(repo, 'cafe').name, 'beef');
    assert.throws(() => resolveVM(repo, 'beef0000'), (e: unknown) => e instanceof BangerError && e.code === 'bad_request' && /one \(beef00000001\), two \(beef00000002\)/.test(e.message));
    assert.throws(() => resolveVM(repo, 'caf'), (e: unknown) => e instanceof BangerError && e.code === 'not_found');
    assert.throws(() => resolveVM(repo, 'be%f'), (e: unknown) => e instanceof BangerError && e.code === 'not_found');
  });

  it('is the only code that writes a VM state', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const writers: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.js') && !p.endsWith('.test.js') && /\.writeState\(|UPDATE vms SET[^']*state/.test(readFileSync(p, 'utf8'))) writers.push(relative(root, p));
      }
    };
    walk(root);
    assert.deepEqual(writers.sort(), ['services/vms/lifecycle.js', 'store/vms.js']);
  });

  it('runs one locked operation at a time per VM and reports it busy meanwhile', async () => {
    const lc = new VMLifecycle(repo);
    const order: string[] = [];
    let release!: () => void;
    const first = lc.withLock('x', () => new Promise<void>((r) => (release = () => (order.push('first'), r()))));
    const second = lc.withLock('x', () => Promise.resolve(void order.push('second')));
    assert.equal(lc.isBusy('x'), true);
    assert.equal(lc.isBusy('y'), false);
    await new Promise((r) => setTimeout(r, 10));
    release();
    await Promise.all([first, second]);
    assert.deepEqual(order, ['first', 'second']);
    assert.equal(lc.isBusy('x'), false);
  });
});
