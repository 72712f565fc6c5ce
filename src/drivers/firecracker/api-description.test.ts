/**
 * Every request the firecracker driver sends, checked against Firecracker's API description
 * (firecracker-v1.16.1.yaml, loaded here): the stand-in records each request of a full create,
 * start, stats, pause/resume, snapshot and stop, and each must name a method and path the
 * description has and carry a body valid for that operation's body schema.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { installStandin, standinSpec, tinyVmlinux } from '../../testing/firecracker/fixture.js';
import { FirecrackerSchema } from '../../testing/firecracker/schema.js';
import type { StandinRequest } from '../../testing/firecracker/standin.js';
import { FirecrackerDriver } from './driver.js';

const schema = FirecrackerSchema.load();
assert.ok(schema, 'firecracker-v1.16.1.yaml is part of the repository and must be found');

describe('firecracker driver requests follow the API description', () => {
  let work = '';
  let record = '';
  let requests: StandinRequest[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-fcdesc-'));
    await writeFile(join(work, 'vmlinux'), tinyVmlinux());
    record = join(work, 'requests.jsonl');
    const bin = await installStandin(join(work, 'bin'), { recordTo: record, powerOff: 50 });
    const d = new FirecrackerDriver({ bin, trackDirtyPages: true });
    const spec = await standinSpec(work, 'desc-a', join(work, 'desc-a', 'run'));
    const h = await d.launch({ ...spec, initrdPath: join(work, 'vmlinux') });
    assert.equal(await d.status(h), 'running');
    await d.metrics(h);
    const ops = d.snapshots;
    await ops.pause(h);
    await ops.resume(h);
    await d.createSnapshot(h, { statePath: join(work, 'a.state'), memPath: join(work, 'a.mem') }, { type: 'Diff' });
    await ops.pause(h);
    await ops.saveState(h, join(work, 'b.mem'));
    await ops.resume(h);
    assert.equal(await d.shutdown(h, { timeoutMs: 5000 }), 'graceful');
    const child = await standinSpec(work, 'desc-b', join(work, 'desc-b', 'run'));
    const r = await ops.restore({ ...child, network: { mode: 'tap', tap: 'tap-desc-b', mac: '02:fc:00:00:00:02' } }, join(work, 'b.mem'));
    await d.metrics(r);
    await d.kill(r);
    requests = (await readFile(record, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as StandinRequest);
  });

  after(() => rm(work, { recursive: true, force: true }));

  it('the stand-in recorded the whole configuration sequence, the actions and the snapshot calls', () => {
    const seen = new Set(requests.map((r) => `${r.method} ${r.path.replace(/^\/(drives|network-interfaces)\/.+/, '/$1/*')}`));
    for (const want of ['PUT /logger', 'PUT /metrics', 'PUT /machine-config', 'PUT /boot-source', 'PUT /drives/*', 'PUT /network-interfaces/*', 'PUT /vsock', 'PUT /actions', 'PATCH /vm', 'PUT /snapshot/create', 'PUT /snapshot/load', 'GET /']) {
      assert.ok(seen.has(want), `${want} was sent (sent: ${[...seen].join(', ')})`);
    }
    const actions = requests.filter((r) => r.path === '/actions').map((r) => (r.body as { action_type: string }).action_type);
    assert.deepEqual([...new Set(actions)].sort(), ['FlushMetrics', 'InstanceStart', 'SendCtrlAltDel']);
    assert.equal(requests.filter((r) => r.path.startsWith('/drives/')).length, 3);
  });

  it('every request names a method and path the description has, and every body validates against its schema', () => {
    assert.ok(requests.length >= 15, `${requests.length} requests recorded`);
    for (const r of requests) {
      const definition = schema.bodyDefinition(r.method, r.path);
      assert.notEqual(definition, null, `${r.method} ${r.path} is not in the description`);
      if (definition === undefined || definition === null) {
        assert.equal(r.body, undefined, `${r.method} ${r.path} takes no body`);
        continue;
      }
      assert.deepEqual(schema.problems(definition, r.body), [], `${r.method} ${r.path} body ${JSON.stringify(r.body)} against ${definition}`);
    }
  });

  it('every request was accepted (2xx), so the run did what the description allows', () => {
    const refused = requests.filter((r) => r.status >= 300);
    assert.deepEqual(refused, []);
  });

  it('the validator does catch a body that breaks the description (it is not vacuous)', () => {
    assert.notDeepEqual(schema.problems('Drive', { drive_id: 'root', path_on_host: '/x' }), [], 'is_root_device is required');
    assert.notDeepEqual(schema.problems('MachineConfiguration', { vcpu_count: 2, mem_size_mib: 256, smt: 'no' }), []);
    assert.notDeepEqual(schema.problems('Vsock', { guest_cid: 3, uds_path: '/v', vsock_id: 'x', extra: 1 }), []);
    assert.equal(schema.bodyDefinition('PUT', '/not-an-endpoint'), null);
  });
});
