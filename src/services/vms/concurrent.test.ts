/**
 * Many VMs at once (fake driver): 20 creates and then 20 deletes, all sent together, each succeed, and
 * the home is sound afterwards (store rows, processes, disks, leases: testing/invariants.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { invariantViolations } from '../../testing/invariants.js';
import { tinyImageHome } from '../../testing/tiny-image.js';

const COUNT = 20;

test(`${COUNT} VMs created and deleted concurrently leave the store and disk consistent`, async () => {
  const h = await tinyImageHome({}, { sshWaitTimeout: '5m' });
  try {
    const names = Array.from({ length: COUNT }, (_, i) => `many-${i}`);
    const created = await Promise.all(names.map((n) => h.run(['vm', 'create', '--name', n])));
    created.forEach((r, i) => assert.equal(r.code, 0, `create ${names[i]}:\n${r.stderr}`));
    const list = JSON.parse((await h.run(['--json', 'vm', 'list'])).stdout) as { name: string; state: string }[];
    assert.deepEqual(list.map((v) => v.name).sort(), [...names].sort());
    assert.ok(list.every((v) => v.state === 'running'), JSON.stringify(list));
    assert.deepEqual(invariantViolations(h.layout), [], 'after the creates');

    const deleted = await Promise.all(names.map((n) => h.run(['vm', 'delete', n])));
    deleted.forEach((r, i) => assert.equal(r.code, 0, `delete ${names[i]}:\n${r.stderr}`));
    assert.deepEqual(JSON.parse((await h.run(['--json', 'vm', 'list'])).stdout), []);
    assert.deepEqual(readdirSync(h.layout.vmsDir), [], 'no VM directory is left');
    assert.deepEqual(invariantViolations(h.layout), [], 'after the deletes');
  } finally {
    await h.cleanup();
  }
});
