import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { BangerError } from '../../api/errors.js';
import { run, which } from '../../system/exec.js';
import { findProcesses, isAlive, signalProcess } from '../../system/proc.js';
import { parseHandle, type LaunchSpec } from '../hypervisor.js';
import { runDriverConformance } from '../conformance.case.js';
import { QemuDriver } from './driver.js';
import { findHostKernel, hostKernelFixture } from './fixture.js';
import { DEFAULT_QEMU_BIN, probeQemu, type QemuProbeResult } from './probe.js';

const kernel = findHostKernel();
const skip = !which(DEFAULT_QEMU_BIN)
  ? `${DEFAULT_QEMU_BIN} not installed`
  : typeof kernel === 'string'
    ? `no host kernel to boot: ${kernel}`
    : undefined;

// One probe for the whole file, shared by every driver instance (as the daemon shares its cached verdict).
let verdict: Promise<QemuProbeResult> | undefined;
const prober = () => (verdict ??= probeQemu());

runDriverConformance({
  makeDriver: () => new QemuDriver({ prober }),
  fixture: typeof kernel === 'string' ? undefined : hostKernelFixture(kernel),
  skip,
});

describe('qemu driver', { skip }, () => {
  let work = '';
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-qemu-'));
  });
  after(async () => {
    for (const pid of findProcesses((argv) => argv.some((a) => a.includes(work)))) signalProcess(pid, 'SIGKILL');
    await rm(work, { recursive: true, force: true });
  });

  it('reports qemu failing to start with its own words and leaves nothing running', async () => {
    const garbage = join(work, 'not-a-kernel');
    await writeFile(garbage, 'this is not a kernel\n');
    const driver = new QemuDriver({ accel: 'tcg' });
    const runDir = join(work, 'bad');
    const spec = {
      vmId: 'bad-kernel',
      name: 'bad-kernel',
      vcpu: 1,
      memoryMiB: 128,
      kernelPath: garbage,
      cmdline: 'console=ttyS0',
      disks: [],
      network: { mode: 'none' as const },
      runDir,
      consoleLog: join(runDir, 'console.log'),
    };
    await assert.rejects(driver.launch(spec), (err: unknown) => {
      assert.ok(err instanceof BangerError);
      assert.equal(err.code, 'operation_failed');
      assert.match(err.message, /qemu failed to start for vm "bad-kernel": .+/);
      return true;
    });
    assert.deepEqual(findProcesses((argv) => argv.some((a) => a.includes(runDir))), []);
  });

  it('keeps a vm running after the process that launched it exits, and adopts it from another', async () => {
    if (typeof kernel === 'string') return;
    const runDir = join(work, 'survivor');
    const script = join(work, 'launch.mjs');
    const driverUrl = pathToFileURL(join(fileURLToPath(new URL('.', import.meta.url)), 'driver.js')).href;
    const spec: LaunchSpec = {
      vmId: 'survivor',
      name: 'survivor',
      vcpu: 1,
      memoryMiB: 256,
      kernelPath: kernel.kernel,
      initrdPath: kernel.initrd,
      cmdline: 'console=ttyS0 root=/dev/null rootdelay=600',
      disks: [],
      network: { mode: 'none' },
      runDir,
      consoleLog: join(runDir, 'console.log'),
    };
    await writeFile(
      script,
      `import { QemuDriver } from ${JSON.stringify(driverUrl)};\n` +
        `const h = await new QemuDriver({ accel: 'tcg' }).launch(${JSON.stringify(spec)});\n` +
        `process.stdout.write(JSON.stringify(h));\n`,
    );
    const out = await run([process.execPath, script], { timeoutMs: 60_000 });
    const handle = parseHandle(JSON.parse(out.stdout));
    assert.ok(handle);
    const driver = new QemuDriver({ accel: 'tcg' });
    try {
      assert.ok(isAlive(handle.pid));
      // Contained: seccomp filter on, and when launched by root, no capability but binding low ports.
      const status = await readFile(`/proc/${handle.pid}/status`, 'utf8');
      assert.match(status, /^Seccomp:\s+2$/m, 'qemu runs under its seccomp sandbox');
      assert.match(status, /^NoNewPrivs:\s+1$/m);
      if (process.geteuid?.() === 0 && which('setpriv')) {
        // CAP_NET_BIND_SERVICE (bit 10) alone, for published ports below 1024.
        assert.match(status, /^CapEff:\s+0+400$/m, 'qemu holds CAP_NET_BIND_SERVICE alone');
        assert.match(status, /^CapBnd:\s+0+400$/m, 'and can regain nothing more');
      }
      assert.equal(await driver.adopt(handle), true);
      assert.equal(await driver.status(handle), 'running');
      await assert.rejects(driver.launch(spec), (err: unknown) => err instanceof BangerError && err.code === 'already_exists');
    } finally {
      await driver.kill(handle);
    }
    assert.equal(await driver.status(handle), 'gone');
  });

  it('rejects an invalid spec before starting anything', async () => {
    const driver = new QemuDriver({ accel: 'tcg' });
    await assert.rejects(
      driver.launch({
        vmId: 'x',
        name: 'x',
        vcpu: 0,
        memoryMiB: 512,
        kernelPath: '/boot/vmlinuz',
        cmdline: '',
        disks: [],
        network: { mode: 'none' },
        runDir: join(work, 'x'),
        consoleLog: join(work, 'x.log'),
      }),
      (err: unknown) => err instanceof BangerError && err.code === 'bad_request',
    );
  });
});
