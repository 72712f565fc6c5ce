/**
 * The fake driver: the shared conformance suite, then what only it offers — real SSH with the seed's
 * keys, the failure knobs (noSsh, crashAfterMs, ignorePowerdown, bootDelayMs), ownProcesses, raw roots.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { BangerError } from '../../api/errors.js';
import { run, spawnDetached } from '../../system/exec.js';
import { findProcesses, isAlive, signalProcess, waitForExit } from '../../system/proc.js';
import { runDriverConformance } from '../conformance.case.js';
import { parseHandle, type LaunchSpec, type VMHandle } from '../hypervisor.js';
import { bannerProbe, exec, SSHError, waitForSSH, type WaitAttempt } from '../ssh/client.js';
import { generateHostKey } from '../ssh/keys.js';
import { hostAliases, pin } from '../ssh/known-hosts.js';
import { sshdUnavailable } from '../ssh/sshd-fixture.js';
import { controlRequest } from './control.js';
import { CRASH_LINE, READY_LINE } from './console.js';
import { FakeDriver } from './driver.js';
import { fakeFixture } from '../../testing/fake-driver-fixture.js';
import { behaviourFor, fakeDriverEnabled, knobsFromEnv } from './options.js';

const skip = await sshdUnavailable();

runDriverConformance({ makeDriver: () => new FakeDriver(), fixture: fakeFixture(), skip });

const isBangerError = (code: string) => (err: unknown) => err instanceof BangerError && err.code === code;

async function waitForText(path: string, text: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await readFile(path, 'utf8').catch(() => '')).includes(text)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`"${text}" did not appear in ${path}`);
}

describe('fake driver', { skip }, () => {
  const fx = fakeFixture();
  let work = '';
  const handles: VMHandle[] = [];
  const processesIn = (dir: string) => findProcesses((argv) => argv.some((a) => a.includes(dir)));

  const launch = async (driver: FakeDriver, vmId: string, runDir = join(work, vmId)): Promise<[LaunchSpec, VMHandle]> => {
    const spec = await fx.spec(vmId, runDir);
    const handle = await driver.launch(spec);
    handles.push(handle);
    return [spec, handle];
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-fake-'));
    await fx.prepare(work);
  });

  after(async () => {
    for (const h of handles) await new FakeDriver().kill(h).catch(() => undefined);
    for (const pid of processesIn(work)) signalProcess(pid, 'SIGKILL');
    await rm(work, { recursive: true, force: true });
  });

  it("serves real SSH with the seed disk's host key once the boot delay is over", async () => {
    const driver = new FakeDriver({ bootDelayMs: 1500 });
    const [spec, handle] = await launch(driver, 'ssh-a');
    const target = await fx.sshTarget(spec);
    const attempts: WaitAttempt[] = [];
    await waitForSSH(target, { timeoutMs: 15_000, intervalMs: 100, onAttempt: (a) => attempts.push(a) });
    assert.equal(attempts[0]?.stage, 'tcp', 'nothing answers during the boot delay');
    assert.equal(attempts.at(-1)?.stage, 'ready');
    assert.match(await readFile(spec.consoleLog, 'utf8'), new RegExp(READY_LINE));

    assert.deepEqual(await exec(target, ['sh', '-c', 'echo hello; echo oops >&2; exit 3']), { code: 3, stdout: 'hello\n', stderr: 'oops\n' });

    // A client that pinned some other key is refused: the guest really presents the seed's key.
    const otherKnownHosts = join(work, 'other_known_hosts');
    await pin(otherKnownHosts, hostAliases({ name: spec.name, id: spec.vmId }), (await generateHostKey()).publicKey);
    await assert.rejects(
      waitForSSH({ ...target, knownHostsPath: otherKnownHosts }, { timeoutMs: 10_000 }),
      (err: unknown) => err instanceof SSHError && err.kind === 'host_key_mismatch',
    );

    await driver.kill(handle);
    assert.deepEqual(processesIn(spec.runDir), []);
    assert.equal(await bannerProbe(target.host, target.port, 500), false, 'the ssh port closes with the vmm');
  });

  it('noSsh keeps the guest from answering SSH, for the listed vms only', async () => {
    const driver = new FakeDriver({ noSsh: ['ssh-mute'] });
    const [spec, handle] = await launch(driver, 'ssh-mute');
    await waitForText(spec.consoleLog, READY_LINE);
    await assert.rejects(waitForSSH(await fx.sshTarget(spec), { timeoutMs: 2000, intervalMs: 200 }), /did not become reachable over ssh/);
    assert.equal(await driver.status(handle), 'running');
    assert.equal(await driver.shutdown(handle, { timeoutMs: 5000 }), 'graceful');
  });

  it('crashAfterMs makes the vmm exit by itself', async () => {
    const driver = new FakeDriver({ crashAfterMs: 300 });
    const [spec, handle] = await launch(driver, 'crash');
    assert.ok(await waitForExit(handle.pid, 5000), 'the vmm exits');
    assert.equal(await driver.status(handle), 'gone');
    assert.equal(await driver.adopt(handle), false);
    assert.match(await readFile(spec.consoleLog, 'utf8'), new RegExp(CRASH_LINE));
    assert.equal(await driver.shutdown(handle, { timeoutMs: 1000 }), 'gone');
    await assert.rejects(stat(handle.controlSocket), 'stale run files are removed');
  });

  it('ignorePowerdown forces the kill path', async () => {
    const driver = new FakeDriver({ ignorePowerdown: true });
    const [spec, handle] = await launch(driver, 'stubborn');
    await waitForText(spec.consoleLog, READY_LINE);
    assert.equal(await driver.shutdown(handle, { timeoutMs: 300 }), 'killed');
    assert.equal(isAlive(handle.pid), false);
    assert.deepEqual(processesIn(spec.runDir), []);
  });

  it('reports paused and unresponsive vms', async () => {
    const driver = new FakeDriver({ controlTimeoutMs: 300 });
    const [, handle] = await launch(driver, 'states');
    assert.equal((await controlRequest(handle.controlSocket, 'pause', { timeoutMs: 2000 })).status, 'paused');
    assert.equal(await driver.status(handle), 'paused');
    await controlRequest(handle.controlSocket, 'cont', { timeoutMs: 2000 });
    assert.equal(await driver.status(handle), 'running');
    signalProcess(handle.pid, 'SIGSTOP');
    try {
      assert.equal(await driver.status(handle), 'unresponsive');
      assert.equal(await driver.adopt(handle), false);
    } finally {
      signalProcess(handle.pid, 'SIGCONT');
    }
    assert.equal(await driver.shutdown(handle, { timeoutMs: 5000 }), 'graceful');
  });

  it('keeps a vm running after the launching process exits, and refuses to start it twice', async () => {
    const spec = await fx.spec('survivor', join(work, 'survivor'));
    const script = join(work, 'launch.mjs');
    const driverUrl = pathToFileURL(join(import.meta.dirname, 'driver.js')).href;
    await writeFile(
      script,
      `import { FakeDriver } from ${JSON.stringify(driverUrl)};\n` +
        `const h = await new FakeDriver().launch(${JSON.stringify(spec)});\n` +
        `process.stdout.write(JSON.stringify(h));\n`,
    );
    const out = await run([process.execPath, script], { timeoutMs: 30_000 });
    const handle = parseHandle(JSON.parse(out.stdout));
    assert.ok(handle);
    handles.push(handle);
    const driver = new FakeDriver();
    assert.equal(await driver.adopt(handle), true);
    assert.equal(await driver.status(handle), 'running');
    await assert.rejects(driver.launch(spec), isBangerError('already_exists'));
    await driver.kill(handle);
    assert.equal(await driver.status(handle), 'gone');
  });

  it('fails to launch when the ssh port is taken, naming it, and leaves nothing running', async () => {
    const spec = await fx.spec('port-taken', join(work, 'port-taken'));
    assert.equal(spec.network.mode, 'user');
    const port = spec.network.mode === 'user' ? spec.network.sshHostPort : 0;
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    try {
      await assert.rejects(new FakeDriver().launch(spec), (err: unknown) => {
        assert.ok(err instanceof BangerError && err.code === 'operation_failed', String(err));
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
        return true;
      });
      assert.deepEqual(processesIn(spec.runDir), []);
      await assert.rejects(stat(join(spec.runDir, 'control.sock')));
    } finally {
      blocker.close();
    }
  });

  it('rejects tap networking', async () => {
    const spec = await fx.spec('tap', join(work, 'tap'));
    await assert.rejects(
      new FakeDriver().launch({ ...spec, network: { mode: 'tap', tap: 'tap0', mac: '52:54:00:12:34:56' } }),
      isBangerError('bad_request'),
    );
  });

  it('ownProcesses finds its vmms under vmsDir and nothing else', async () => {
    const vmsDir = join(work, 'vms');
    const driver = new FakeDriver();
    const [, handle] = await launch(driver, 'own-1', join(vmsDir, 'own-1', 'run'));
    await mkdir(join(vmsDir, 'bystander'), { recursive: true });
    const bystander = spawnDetached(['sh', '-c', 'sleep 60', join(vmsDir, 'bystander', 'file')]);
    try {
      assert.deepEqual(driver.ownProcesses(vmsDir), [{ pid: handle.pid, vmId: 'own-1' }]);
      assert.deepEqual(driver.ownProcesses(`${vmsDir}/`), [{ pid: handle.pid, vmId: 'own-1' }]);
      assert.deepEqual(driver.ownProcesses(join(work, 'elsewhere')), []);
    } finally {
      signalProcess(bystander, 'SIGKILL');
      await driver.kill(handle);
    }
    assert.deepEqual(driver.ownProcesses(vmsDir), []);
  });
});

describe('fake driver root disks', () => {
  let work = '';
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-fake-disk-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('makes a sparse raw copy of the base at the requested size, published once', async () => {
    const base = join(work, 'base.raw');
    await writeFile(base, '');
    await truncate(base, 8 * 1024 * 1024);
    const fh = await open(base, 'r+');
    await fh.write(Buffer.from('banger'), 0, 6, 4 * 1024 * 1024);
    await fh.close();
    const target = join(work, 'root.img');
    const driver = new FakeDriver();
    assert.equal(driver.capabilities().rootDiskFormat, 'raw');

    await driver.createRootDisk(base, target, { sizeBytes: 32 * 1024 * 1024 });
    const st = await stat(target);
    assert.equal(st.size, 32 * 1024 * 1024);
    assert.ok(st.blocks * 512 <= 1024 * 1024, `sparse: ${st.blocks * 512} bytes allocated`);
    const copy = await open(target, 'r');
    const buf = Buffer.alloc(6);
    await copy.read(buf, 0, 6, 4 * 1024 * 1024);
    await copy.close();
    assert.equal(buf.toString(), 'banger');
    assert.equal((await stat(base)).size, 8 * 1024 * 1024, 'the base is unchanged');

    await assert.rejects(driver.createRootDisk(base, target, {}), isBangerError('already_exists'));
    await assert.rejects(driver.createRootDisk(base, join(work, 'small.img'), { sizeBytes: 1024 }), isBangerError('bad_request'));
    await assert.rejects(driver.createRootDisk(join(work, 'missing.raw'), join(work, 'x.img'), {}), isBangerError('not_found'));
    await driver.createRootDisk(base, join(work, 'same.img'), {});
    assert.equal((await stat(join(work, 'same.img'))).size, 8 * 1024 * 1024);
    assert.deepEqual((await readdir(work)).sort(), ['base.raw', 'root.img', 'same.img'], 'no temporary files are left');
  });
});

describe('fake driver options', () => {
  it('is enabled only by BANGER_FAKE_DRIVER', () => {
    assert.equal(fakeDriverEnabled({}), false);
    assert.equal(fakeDriverEnabled({ BANGER_FAKE_DRIVER: '' }), false);
    assert.equal(fakeDriverEnabled({ BANGER_FAKE_DRIVER: '{}' }), true);
    assert.equal(fakeDriverEnabled({ BANGER_FAKE_DRIVER: '1' }), true);
  });

  it('reads knobs from BANGER_FAKE_DRIVER as JSON', () => {
    assert.deepEqual(knobsFromEnv({ BANGER_FAKE_DRIVER: '1' }), {});
    assert.deepEqual(knobsFromEnv({ BANGER_FAKE_DRIVER: '{"bootDelayMs":500,"noSsh":["a"],"crashAfterMs":9,"ignorePowerdown":true}' }), {
      bootDelayMs: 500,
      noSsh: ['a'],
      crashAfterMs: 9,
      ignorePowerdown: true,
    });
    assert.throws(() => knobsFromEnv({ BANGER_FAKE_DRIVER: '{nope' }), isBangerError('bad_request'));
    assert.throws(() => knobsFromEnv({ BANGER_FAKE_DRIVER: '{"bootDelay":5}' }), /unknown option bootDelay/);
    assert.throws(() => knobsFromEnv({ BANGER_FAKE_DRIVER: '{"bootDelayMs":-1}' }), isBangerError('bad_request'));
    assert.throws(() => FakeDriver.fromEnv({ BANGER_FAKE_DRIVER: '[1]' }), isBangerError('bad_request'));
    assert.equal(FakeDriver.fromEnv({ BANGER_FAKE_DRIVER: '{"noSsh":true}' }).capabilities().name, 'fake');
  });

  it('applies noSsh to every vm or to the listed names', () => {
    assert.equal(behaviourFor({}, 'a').ssh, true);
    assert.equal(behaviourFor({ noSsh: true }, 'a').ssh, false);
    assert.equal(behaviourFor({ noSsh: ['a'] }, 'a').ssh, false);
    assert.equal(behaviourFor({ noSsh: ['a'] }, 'b').ssh, true);
  });
});
