/**
 * The Firecracker stand-in checked against Firecracker's own API description: it serves only
 * routes the description has, its refusals are 400 bodies of the description's Error schema,
 * the operations the description marks "Pre-boot only" are refused once the microVM started,
 * snapshot/create is refused unless the microVM is paused, and snapshot/load is taken only first
 * (after the logger and metrics at most), only for state of the same version whose files are there.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tinyVmlinux } from './fixture.js';
import { FirecrackerSchema } from './schema.js';
import { FirecrackerStandin, STANDIN_ROUTES } from './standin.js';
import { interpretTinyGuest } from './tiny-guest.js';
import { guestChannel } from '../../drivers/firecracker/vsock.js';
import { PROBE_MARKER, tinyVmlinux as probeVmlinux } from '../../drivers/firecracker/tiny-kernel.js';

const schema = FirecrackerSchema.load();
assert.ok(schema, 'firecracker-v1.16.1.yaml is part of the repository and must be found');

interface Answer {
  status: number;
  body: unknown;
}

function send(sock: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, method, path, headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as unknown) : undefined });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('the firecracker stand-in against the API description', () => {
  let work = '';
  const open: FirecrackerStandin[] = [];
  let n = 0;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-fcstandin-'));
    await writeFile(join(work, 'vmlinux'), tinyVmlinux());
  });
  after(async () => {
    for (const s of open) await s.close();
    await rm(work, { recursive: true, force: true });
  });

  /** A fresh stand-in on its own socket. */
  const fresh = async () => {
    const standin = new FirecrackerStandin({ schema: schema, powerOffDelayMs: 'ignore' });
    const sock = join(work, `api-${n++}.sock`);
    await standin.listen(sock);
    open.push(standin);
    return { standin, sock, call: (method: string, path: string, body?: unknown) => send(sock, method, path, body) };
  };

  /** Asserts a refusal: 400 whose body is what the description says a 400 of that operation carries. */
  const refused = (a: Answer, method: string, path: string, text?: RegExp) => {
    assert.equal(a.status, 400, `${method} ${path}: ${JSON.stringify(a.body)}`);
    const def = schema.responseDefinition(method, path, 400) ?? 'Error';
    assert.deepEqual(schema.problems(def, a.body), [], `${method} ${path}: the refusal body follows ${def}`);
    const fault = (a.body as { fault_message?: unknown }).fault_message;
    assert.equal(typeof fault, 'string');
    assert.ok((fault as string).length > 0);
    if (text) assert.match(fault as string, text);
  };

  const boot = async (call: (m: string, p: string, b?: unknown) => Promise<Answer>) => {
    assert.equal((await call('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 128 })).status, 204);
    assert.equal((await call('PUT', '/boot-source', { kernel_image_path: join(work, 'vmlinux'), boot_args: 'console=ttyS0' })).status, 204);
    assert.equal((await call('PUT', '/actions', { action_type: 'InstanceStart' })).status, 204);
  };

  it('serves only routes the description has', () => {
    const described = new Set(schema.routes().map(([m, t]) => `${m} ${t}`));
    assert.ok(described.size > 20, 'the description was read');
    for (const [m, t] of STANDIN_ROUTES) assert.ok(described.has(`${m} ${t}`), `${m} ${t} is not in the description`);
  });

  it('refuses routes it does not serve, and routes the description does not have, with an Error body', async () => {
    const { call } = await fresh();
    refused(await call('PUT', '/balloon', { amount_mib: 1, deflate_on_oom: false }), 'PUT', '/balloon', /Invalid request method and\/or path/);
    refused(await call('PUT', '/no-such-thing', {}), 'PUT', '/no-such-thing');
    refused(await call('DELETE', '/drives/root'), 'DELETE', '/drives/root');
  });

  it('refuses bodies that do not follow the definition (missing required field, unknown field, wrong type)', async () => {
    const { call } = await fresh();
    refused(await call('PUT', '/boot-source', { boot_args: 'x' }), 'PUT', '/boot-source', /kernel_image_path/);
    refused(await call('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 128, cpus: 2 }), 'PUT', '/machine-config', /cpus is not a field/);
    refused(await call('PUT', '/machine-config', { vcpu_count: 'one', mem_size_mib: 128 }), 'PUT', '/machine-config', /vcpu_count/);
    refused(await call('PUT', '/drives/root', { drive_id: 'other', is_root_device: false, path_on_host: '/x' }), 'PUT', '/drives/root', /does not match/);
    refused(await call('PUT', '/actions', {}), 'PUT', '/actions', /action_type/);
  });

  it('every operation the description marks "Pre-boot only" that it serves is refused after InstanceStart', async () => {
    const { call } = await fresh();
    const bodies: Record<string, unknown> = {
      '/boot-source': { kernel_image_path: join(work, 'vmlinux') },
      '/machine-config': { vcpu_count: 1, mem_size_mib: 128 },
      '/drives/{drive_id}': { drive_id: 'work', is_root_device: false, path_on_host: join(work, 'vmlinux') },
      '/network-interfaces/{iface_id}': { iface_id: 'eth1', host_dev_name: 'tap1' },
      '/vsock': { guest_cid: 3, uds_path: join(work, 'v.sock') },
      '/snapshot/load': { snapshot_path: join(work, 's.state'), mem_backend: { backend_type: 'File', backend_path: join(work, 's.mem') } },
    };
    const preBoot = schema.preBootOnly().filter(([m, t]) => STANDIN_ROUTES.some(([sm, st]) => sm === m && st === t));
    assert.ok(preBoot.length >= 6, `pre-boot operations found: ${JSON.stringify(preBoot)}`);
    await boot(call);
    for (const [m, t] of preBoot) {
      const path = t.replace('{drive_id}', 'work').replace('{iface_id}', 'eth1');
      assert.ok(t in bodies, `a body for ${m} ${t}`);
      refused(await call(m, path, bodies[t]), m, path, /not supported after starting the microVM|not allowed after/);
    }
    assert.equal(((await call('GET', '/')).body as { state: string }).state, 'Running');
  });

  it('snapshot/create only while paused; snapshot/load only as the first call', async () => {
    const { call } = await fresh();
    const create = { snapshot_path: join(work, 'a.state'), mem_file_path: join(work, 'a.mem'), snapshot_type: 'Full' };
    refused(await call('PUT', '/snapshot/create', create), 'PUT', '/snapshot/create', /not paused/);
    await boot(call);
    refused(await call('PUT', '/snapshot/create', create), 'PUT', '/snapshot/create', /not paused/);
    assert.equal((await call('PATCH', '/vm', { state: 'Paused' })).status, 204);
    assert.equal((await call('PUT', '/snapshot/create', create)).status, 204);

    const second = await fresh();
    assert.equal((await second.call('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 128 })).status, 204);
    refused(await second.call('PUT', '/snapshot/load', { snapshot_path: create.snapshot_path, mem_backend: { backend_type: 'File', backend_path: create.mem_file_path } }), 'PUT', '/snapshot/load', /not allowed after configuring/);
    const third = await fresh();
    const loaded = await third.call('PUT', '/snapshot/load', { snapshot_path: create.snapshot_path, mem_backend: { backend_type: 'File', backend_path: create.mem_file_path }, resume_vm: false });
    assert.equal(loaded.status, 204, JSON.stringify(loaded.body));
    assert.equal(((await third.call('GET', '/')).body as { state: string }).state, 'Paused');
  });

  it('snapshot/load refuses state of another version, overrides of interfaces it lacks, and drives whose files do not open', async () => {
    const { call } = await fresh();
    await writeFile(join(work, 'd.img'), Buffer.alloc(512));
    assert.equal((await call('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 128 })).status, 204);
    assert.equal((await call('PUT', '/boot-source', { kernel_image_path: join(work, 'vmlinux') })).status, 204);
    assert.equal((await call('PUT', '/drives/d', { drive_id: 'd', is_root_device: false, path_on_host: join(work, 'd.img') })).status, 204);
    assert.equal((await call('PUT', '/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: 'tap-a' })).status, 204);
    assert.equal((await call('PUT', '/actions', { action_type: 'InstanceStart' })).status, 204);
    assert.equal((await call('PATCH', '/vm', { state: 'Paused' })).status, 204);
    const saved = { snapshot_path: join(work, 'l.state'), mem_file_path: join(work, 'l.mem') };
    assert.equal((await call('PUT', '/snapshot/create', saved)).status, 204);
    const load = (extra: object = {}) => ({ snapshot_path: saved.snapshot_path, mem_backend: { backend_type: 'File', backend_path: saved.mem_file_path }, resume_vm: true, ...extra });

    const other = new FirecrackerStandin({ schema, powerOffDelayMs: 'ignore', version: '1.16.0' });
    const sock = join(work, `api-${n++}.sock`);
    await other.listen(sock);
    open.push(other);
    refused(await send(sock, 'PUT', '/snapshot/load', load()), 'PUT', '/snapshot/load', /made by Firecracker v1\.16\.1, and this is v1\.16\.0/);
    refused(await (await fresh()).call('PUT', '/snapshot/load', load({ network_overrides: [{ iface_id: 'eth1', host_dev_name: 'tap-b' }] })), 'PUT', '/snapshot/load', /no interface eth1/);
    refused(await (await fresh()).call('PUT', '/snapshot/load', { ...load(), mem_backend: { backend_type: 'File', backend_path: join(work, 'none.mem') } }), 'PUT', '/snapshot/load', /memory file/);
    await rm(join(work, 'd.img'));
    refused(await (await fresh()).call('PUT', '/snapshot/load', load()), 'PUT', '/snapshot/load', /backing file.*d\.img/);
    await writeFile(join(work, 'd.img'), Buffer.alloc(512));
    const ok = await fresh();
    assert.equal((await ok.call('PUT', '/logger', { log_path: join(work, 'l.log') })).status, 204, 'the logger may come before a load');
    assert.equal((await ok.call('PUT', '/snapshot/load', load({ network_overrides: [{ iface_id: 'eth0', host_dev_name: 'tap-b' }] }))).status, 204);
    const config = (await ok.call('GET', '/vm/config')).body as Record<string, { host_dev_name?: string }>;
    assert.equal(config['network-interfaces/eth0']?.host_dev_name, 'tap-b');
    refused(await ok.call('PUT', '/snapshot/load', load()), 'PUT', '/snapshot/load', /not supported after starting/);
  });

  it('the guest channel re-addresses the modelled NIC; a snapshot keeps the NIC as it was, and a load brings it back until the next readdress', async () => {
    const { standin, call } = await fresh();
    const vsock = join(work, `v-${n}.sock`);
    assert.equal((await call('PUT', '/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: 'tap-src', guest_mac: '02:fc:00:00:00:01' })).status, 204);
    assert.equal((await call('PUT', '/vsock', { guest_cid: 3, uds_path: vsock })).status, 204);
    await boot(call);
    assert.deepEqual(standin.guestNet, { mac: '02:fc:00:00:00:01' }, 'the guest boots with the configured MAC');
    assert.equal(await guestChannel(vsock, 'readdress 02:fc:00:00:00:01 10.213.0.5/24 10.213.0.1'), 'ok readdress eth0 02:fc:00:00:00:01 10.213.0.5/24\n');
    assert.equal(await guestChannel(vsock, 'readdress 02:fc:00:00:00:01 10.213.0.5/24'), 'error usage: readdress MAC CIDR GATEWAY [DNS...]\n');
    assert.match(await guestChannel(vsock, 'readdress 02:fc:00:00:00:01 10.213.0.5/24 10.9.0.1'), /^error gateway 10\.9\.0\.1 is outside 10\.213\.0\.5\/24/);
    assert.deepEqual(standin.guestNet, { mac: '02:fc:00:00:00:01', cidr: '10.213.0.5/24' }, 'refused lines change nothing');
    assert.equal((await call('PATCH', '/vm', { state: 'Paused' })).status, 204);
    const saved = { snapshot_path: join(work, 'g.state'), mem_file_path: join(work, 'g.mem') };
    assert.equal((await call('PUT', '/snapshot/create', saved)).status, 204);

    const child = await fresh();
    const childVsock = join(work, `v-${n}.sock`);
    const loaded = await child.call('PUT', '/snapshot/load', { snapshot_path: saved.snapshot_path, mem_backend: { backend_type: 'File', backend_path: saved.mem_file_path }, resume_vm: true, network_overrides: [{ iface_id: 'eth0', host_dev_name: 'tap-child' }], vsock_override: { uds_path: childVsock } });
    assert.equal(loaded.status, 204, JSON.stringify(loaded.body));
    assert.deepEqual(child.standin.guestNet, { mac: '02:fc:00:00:00:01', cidr: '10.213.0.5/24' }, 'a restored guest holds its source\'s MAC and address');
    assert.equal(await guestChannel(childVsock, 'readdress 02:fc:00:00:00:02 10.213.0.6/24 10.213.0.1 10.213.0.1'), 'ok readdress eth0 02:fc:00:00:00:02 10.213.0.6/24\n');
    assert.deepEqual(child.standin.guestNet, { mac: '02:fc:00:00:00:02', cidr: '10.213.0.6/24' });
    assert.deepEqual(standin.guestNet, { mac: '02:fc:00:00:00:01', cidr: '10.213.0.5/24' }, 'the source is untouched');
    assert.deepEqual(child.standin.requests.filter((r) => r.method === 'VSOCK').map((r) => r.reply), ['ok readdress eth0 02:fc:00:00:00:02 10.213.0.6/24']);

    const old = new FirecrackerStandin({ schema, powerOffDelayMs: 'ignore', guestBits: 6 });
    const oldSock = join(work, `api-${n++}.sock`);
    const oldVsock = join(work, `v-old-${n}.sock`);
    await old.listen(oldSock);
    open.push(old);
    assert.equal((await send(oldSock, 'PUT', '/snapshot/load', { snapshot_path: saved.snapshot_path, mem_backend: { backend_type: 'File', backend_path: saved.mem_file_path }, resume_vm: true, vsock_override: { uds_path: oldVsock } })).status, 204);
    assert.equal(await guestChannel(oldVsock, 'readdress 02:fc:00:00:00:03 10.213.0.7/24 10.213.0.1'), 'error unknown command\n', 'older guest bits do not know readdress');
    assert.match(await guestChannel(oldVsock, 'health'), /^ok \d/, 'health still answers');
  });

  it('answers GET / and GET /version with bodies of the description\'s InstanceInfo and FirecrackerVersion', async () => {
    const { call } = await fresh();
    const info = await call('GET', '/');
    assert.equal(info.status, 200);
    assert.deepEqual(schema.problems(schema.responseDefinition('GET', '/', 200)!, info.body), []);
    const version = await call('GET', '/version');
    assert.deepEqual(schema.problems(schema.responseDefinition('GET', '/version', 200)!, version.body), []);
  });

  it('runs no code: the probe kernel\'s serial marker is interpreted from its instructions; other code gets boot lines; a broken host writes nothing', async () => {
    assert.equal(interpretTinyGuest(probeVmlinux()), `${PROBE_MARKER}\n`);
    assert.equal(interpretTinyGuest(tinyVmlinux()), undefined, 'a nop first: not the probe\'s instructions');
    await writeFile(join(work, 'probe-vmlinux'), probeVmlinux());
    const consoleOf = async (kernel: string, guest?: 'hang') => {
      const lines: string[] = [];
      const standin = new FirecrackerStandin({ schema: schema, powerOffDelayMs: 'ignore', console: (l) => lines.push(l), ...(guest ? { guest } : {}) });
      const sock = join(work, `api-${n++}.sock`);
      await standin.listen(sock);
      open.push(standin);
      assert.equal((await send(sock, 'PUT', '/boot-source', { kernel_image_path: join(work, kernel) })).status, 204);
      assert.equal((await send(sock, 'PUT', '/actions', { action_type: 'InstanceStart' })).status, 204);
      await new Promise((r) => setTimeout(r, 50));
      return lines;
    };
    assert.deepEqual(await consoleOf('probe-vmlinux'), [PROBE_MARKER]);
    assert.match((await consoleOf('vmlinux')).join('\n'), /Linux version/);
    assert.deepEqual(await consoleOf('probe-vmlinux', 'hang'), []);
  });
});
