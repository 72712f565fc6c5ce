import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { openStore } from './db.js';
import { LeaseConflictError, LeaseRepo } from './leases.js';
import { VMRepo } from './vms.js';

describe('network leases', () => {
  let dir = '';
  let db: Database;
  before(() => {
    dir = mkdtempSync('/tmp/bls-');
    db = openStore(join(dir, 'state.db'));
    const vms = new VMRepo(db);
    for (const id of ['a00000000001', 'a00000000002']) {
      const now = new Date().toISOString();
      vms.insert({ id, name: `n${id.slice(-1)}`, imageId: 'i', state: 'stopped', spec: { vcpu: 1, memoryMiB: 256, diskSizeBytes: 1, nat: false }, runtime: {}, createdAt: now, updatedAt: now });
    }
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('never hands the same MAC, address, tap or forwarded port to two VMs', () => {
    const leases = new LeaseRepo(db);
    leases.put({ vmId: 'a00000000001', mode: 'tap', mac: '52:54:00:00:00:01', ip: '10.9.0.2', tap: 'tap-a', hostAddr: '127.0.0.1', hostPort: 2201 });
    const clash = (extra: object) => assert.throws(() => leases.put({ vmId: 'a00000000002', mode: 'tap', mac: '52:54:00:00:00:02', ...extra }), LeaseConflictError);
    clash({ mac: '52:54:00:00:00:01' });
    clash({ ip: '10.9.0.2' });
    clash({ tap: 'tap-a' });
    clash({ hostAddr: '127.0.0.1', hostPort: 2201 });
    assert.equal(leases.put({ vmId: 'a00000000002', mode: 'user', mac: '52:54:00:00:00:02', hostAddr: '127.0.0.1', hostPort: 2202 }).hostPort, 2202);
  });

  it('keeps the MAC when the port is released, and goes with its VM', () => {
    const leases = new LeaseRepo(db);
    leases.releasePort('a00000000002');
    assert.deepEqual(
      { mac: leases.get('a00000000002')?.mac, port: leases.get('a00000000002')?.hostPort },
      { mac: '52:54:00:00:00:02', port: undefined },
    );
    new VMRepo(db).delete('a00000000001');
    assert.equal(leases.get('a00000000001'), undefined, 'deleting the VM deletes its lease');
  });
});
