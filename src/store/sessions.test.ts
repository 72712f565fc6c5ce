import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openStore } from './db.js';
import { SessionRepo } from './sessions.js';
import { scratchDir } from '../testing/scratch-dir.js';

const db = () => {
  const d = openStore(join(scratchDir('banger-sess-'), 'state.db'));
  const now = new Date().toISOString();
  for (const id of ['aaaaaaaaaaaa', 'bbbbbbbbbbbb']) {
    d.prepare('INSERT INTO vms (id, name, image_id, state, spec_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(id, `vm-${id.slice(0, 1)}`, 'img', 'running', '{}', now, now);
  }
  return d;
};

describe('session store', () => {
  it('keeps a session per VM and name; a second one of the same name in the same VM is refused', () => {
    const d = db();
    const repo = new SessionRepo(d);
    repo.insert({ vmId: 'aaaaaaaaaaaa', name: 'web', command: ['python3', '-m', 'http.server'], cwd: '/root/repo', unit: 'banger-session-web', startedAt: '2026-01-01T00:00:00.000Z' });
    repo.insert({ vmId: 'bbbbbbbbbbbb', name: 'web', command: ['true'], startedAt: '2026-01-01T00:00:01.000Z' });
    assert.throws(() => repo.insert({ vmId: 'aaaaaaaaaaaa', name: 'web', command: ['x'], startedAt: '2026-01-01T00:00:02.000Z' }), /UNIQUE/);
    assert.deepEqual(repo.get('aaaaaaaaaaaa', 'web'), {
      vmId: 'aaaaaaaaaaaa',
      name: 'web',
      command: ['python3', '-m', 'http.server'],
      cwd: '/root/repo',
      unit: 'banger-session-web',
      startedAt: '2026-01-01T00:00:00.000Z',
    });
    assert.deepEqual(repo.get('bbbbbbbbbbbb', 'web')?.command, ['true']);
    assert.throws(() => repo.insert({ vmId: 'cccccccccccc', name: 'web', command: ['x'], startedAt: 'now' }), /FOREIGN KEY/);
  });
  it('records an end once; lists open sessions; removes a VM\'s sessions with the VM', () => {
    const d = db();
    const repo = new SessionRepo(d);
    repo.insert({ vmId: 'aaaaaaaaaaaa', name: 'a', command: ['a'], startedAt: '2026-01-01T00:00:00.000Z' });
    repo.insert({ vmId: 'aaaaaaaaaaaa', name: 'b', command: ['b'], startedAt: '2026-01-01T00:00:01.000Z' });
    assert.deepEqual(repo.vmsWithOpenSessions(), ['aaaaaaaaaaaa']);
    assert.equal(repo.recordEnd('aaaaaaaaaaaa', 'a', '2026-01-01T00:01:00.000Z', 3), true);
    assert.equal(repo.recordEnd('aaaaaaaaaaaa', 'a', '2026-01-01T00:02:00.000Z', 9), false, 'a recorded end stays');
    assert.equal(repo.get('aaaaaaaaaaaa', 'a')?.exitStatus, 3);
    assert.equal(repo.recordEnd('aaaaaaaaaaaa', 'b', '2026-01-01T00:01:00.000Z', undefined), true);
    assert.equal(repo.get('aaaaaaaaaaaa', 'b')?.exitStatus, undefined, 'lost: ended without a status');
    assert.deepEqual(repo.vmsWithOpenSessions(), []);
    assert.deepEqual(repo.list('aaaaaaaaaaaa').map((r) => r.name), ['a', 'b']);
    d.prepare('DELETE FROM vms WHERE id = ?').run('aaaaaaaaaaaa');
    assert.deepEqual(repo.list('aaaaaaaaaaaa'), []);
    assert.equal(repo.delete('aaaaaaaaaaaa', 'a'), false);
  });
});
