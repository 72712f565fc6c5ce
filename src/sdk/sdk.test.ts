/** The SDK against a real daemon with the fake driver: create, exec, files, cancellation, error codes. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { CliHarness } from '../testing/cli-harness.js';
import { tinyImageHome } from '../testing/tiny-image.js';
import { Banger, BangerError, type OpEvent, type VM } from './index.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('sdk', () => {
  let h: CliHarness;
  let banger: Banger;
  let vm: VM;

  before(async () => {
    h = await tinyImageHome({ bootDelayMs: 3000 });
    banger = await Banger.connect({ env: h.env });
  });
  after(async () => {
    await banger.vms.delete('box').then(undefined, () => undefined);
    await h.cleanup();
  });

  it('cancelling a create through its AbortSignal leaves no VM', async () => {
    const ac = new AbortController();
    const op = banger.vms.create({ name: 'gone' }, { signal: ac.signal });
    const seen: OpEvent[] = [];
    for await (const ev of op.events) {
      seen.push(ev);
      if (ev.type === 'stage' && ev.stage === 'ssh') ac.abort();
    }
    await assert.rejects(op, (err: Error) => err.name === 'AbortError');
    assert.ok(seen.some((e) => e.type === 'stage'), 'progress events arrive');
    assert.deepEqual(await banger.vms.list(), []);
  });

  it('creates a VM and runs a command with stdin', async () => {
    const op = banger.vms.create({ name: 'box' });
    const stages: string[] = [];
    for await (const ev of op.events) if (ev.type === 'stage') stages.push(ev.stage);
    vm = await op;
    assert.equal(vm.state, 'running');
    assert.ok(stages.length > 0);
    const r = await vm.exec(['cat'], { stdin: 'hello from stdin\n' });
    assert.deepEqual(r, { stdout: 'hello from stdin\n', stderr: '', exitCode: 0 });
  });

  it('passes exit codes, cwd and env through; a string is a shell command', async () => {
    assert.equal((await vm.exec(['sh', '-c', 'echo oops >&2; exit 7'])).exitCode, 7);
    const r = await vm.exec('echo "$GREETING" && pwd', { cwd: '/tmp', env: { GREETING: "it's me" } });
    assert.deepEqual(r, { stdout: "it's me\n/tmp\n", stderr: '', exitCode: 0 });
  });

  it('streams output chunks and the exit status', async () => {
    const s = vm.execStream(['sh', '-c', 'for i in 1 2 3; do echo $i; done; echo err >&2; exit 3']);
    let out = '';
    for await (const c of s.stdout) out += c.toString();
    let err = '';
    for await (const c of s.stderr) err += c.toString();
    assert.equal(await s.exit, 3);
    assert.equal(out, '1\n2\n3\n');
    assert.equal(err, 'err\n');
  });

  it('writes a 5 MB binary file and reads the same bytes back', async () => {
    const data = randomBytes(5 * 1024 * 1024);
    const path = join(h.home, 'guest', 'blob.bin');
    await vm.files.write(path, data, { mode: 0o600 });
    const back = await vm.files.read(path);
    assert.equal(back.length, data.length);
    assert.equal(sha256(back), sha256(data));
    const entries = await vm.files.list(join(h.home, 'guest'));
    assert.deepEqual(entries, [{ name: 'blob.bin', type: 'file', sizeBytes: data.length, mode: 0o600 }]);
  });

  it('errors carry the CLI codes', async () => {
    await assert.rejects(banger.vms.get('nope'), (err: unknown) => err instanceof BangerError && err.code === 'not_found');
    await assert.rejects(vm.files.read(join(h.home, 'missing')), (err: unknown) => err instanceof BangerError && err.code === 'not_found');
    await assert.rejects(banger.vms.delete('nope'), (err: unknown) => err instanceof BangerError && err.code === 'not_found');
  });

  it('images.available lists the image catalog with a pulled flag', async () => {
    const cat = await banger.images.available();
    assert.deepEqual(cat.map((e) => [e.name, e.kind, e.pulled, e.catalog]), [['debian-bookworm', 'recipe', false, 'built in']]);
  });

  it('banger vm exec (built on the SDK) copies output and passes the exit status through', async () => {
    const r = await h.run(['vm', 'exec', 'box', '--', 'sh', '-c', 'echo out; echo err >&2; exit 5']);
    assert.deepEqual(r, { code: 5, stdout: 'out\n', stderr: 'err\n' });
    const missing = await h.run(['vm', 'exec', 'nope', '--', 'true']);
    assert.equal(missing.code, 3, missing.stderr);
  });

  it('vms.run creates a VM, runs one command, and with rm deletes it', async () => {
    const r = await banger.vms.run({ name: 'once', cmd: ['sh', '-c', 'cat; exit 2'], stdin: 'piped', rm: true });
    assert.deepEqual(r, { vm: 'once', stdout: 'piped', stderr: '', exitCode: 2 });
    assert.deepEqual((await banger.vms.list()).map((v) => v.name), ['box']);
  });

  it('runs many commands at once on one VM', async () => {
    const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => vm.exec(['echo', String(i)])));
    rs.forEach((r, i) => assert.deepEqual(r, { stdout: `${i}\n`, stderr: '', exitCode: 0 }));
  });
});
