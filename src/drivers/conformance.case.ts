/**
 * The cases every hypervisor driver must pass, run by each driver's own test file:
 *
 *     runDriverConformance({ makeDriver: () => new QemuDriver(), fixture, skip })
 *
 * One VM is booted and shared by most cases (boots are slow under TCG). Every process a case
 * starts is killed afterwards, also when a case fails.
 *
 * @module
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BangerError } from '../api/errors.js';
import { spawnDetached } from '../system/exec.js';
import { findProcesses, isAlive, signalProcess, waitForExit } from '../system/proc.js';
import { parseHandle, type HypervisorDriver, type LaunchSpec, type VMHandle } from './hypervisor.js';

export interface DriverFixture {
  /** Called once, before any case, with a private scratch directory. */
  prepare(workDir: string): Promise<void>;
  /** A spec for a VM whose run files live in runDir. */
  spec(vmId: string, runDir: string): LaunchSpec | Promise<LaunchSpec>;
  /** Appears in the console log once the guest kernel is booting. */
  bootMarker: RegExp;
  bootTimeoutMs: number;
  /** When set, the guest powers off on the driver's graceful request once this has appeared on the console. */
  readyMarker?: RegExp;
  shutdownTimeoutMs: number;
}

export const CONFORMANCE_CASES = [
  'probe',
  'launch',
  'status',
  'console',
  'adopt',
  'adopt-wrong-pid',
  'adopt-wrong-socket',
  'shutdown',
  'kill',
  'bad-kernel',
] as const;

export type ConformanceCase = (typeof CONFORMANCE_CASES)[number];

export interface ConformanceOptions {
  makeDriver: () => HypervisorDriver;
  fixture: DriverFixture | undefined;
  /** Skip everything with this reason, or only the listed cases, each with its reason. */
  skip?: string | Partial<Record<ConformanceCase, string>>;
}

/** Extra time a forced stop may take beyond the graceful timeout. */
const FORCE_MARGIN_MS = 10_000;

export function runDriverConformance(opts: ConformanceOptions): void {
  const suiteSkip = typeof opts.skip === 'string' ? opts.skip : opts.fixture ? undefined : 'no fixture';
  const caseSkip = (c: ConformanceCase): string | undefined => (typeof opts.skip === 'object' ? opts.skip[c] : undefined);
  const name = suiteSkip ? 'driver' : opts.makeDriver().capabilities().name;
  const fixture = opts.fixture as DriverFixture;
  let work = '';
  const handles: VMHandle[] = [];

  const launch = async (driver: HypervisorDriver, vmId: string): Promise<[LaunchSpec, VMHandle]> => {
    const spec = await fixture.spec(vmId, join(work, vmId));
    const handle = await driver.launch(spec);
    handles.push(handle);
    return [spec, handle];
  };
  const processesIn = (dir: string) => findProcesses((argv) => argv.some((a) => a.includes(dir)));

  describe(`hypervisor driver conformance: ${name}`, { skip: suiteSkip }, () => {
    before(async () => {
      work = await mkdtemp(join(tmpdir(), 'banger-conf-'));
      await fixture.prepare(work);
    });

    after(async () => {
      const driver = opts.makeDriver();
      for (const h of handles) await driver.kill(h).catch(() => undefined);
      if (work) {
        for (const pid of processesIn(work)) signalProcess(pid, 'SIGKILL');
        await rm(work, { recursive: true, force: true });
      }
    });

    it('probe reports availability with a reason', { skip: caseSkip('probe') }, async () => {
      const r = await opts.makeDriver().probe();
      assert.equal(r.available, true, r.reason);
      assert.ok(r.reason.trim().length > 0);
    });

    describe('a launched vm', () => {
      let driver: HypervisorDriver;
      let spec: LaunchSpec;
      let handle: VMHandle;

      before(async () => {
        driver = opts.makeDriver();
        [spec, handle] = await launch(driver, 'conf-a');
      });

      it('returns a JSON-safe handle whose pid is alive', { skip: caseSkip('launch') }, () => {
        assert.deepEqual(parseHandle(JSON.parse(JSON.stringify(handle))), handle);
        assert.equal(handle.driver, name);
        assert.ok(isAlive(handle.pid));
      });

      it('reports running', { skip: caseSkip('status') }, async () => {
        assert.equal(await driver.status(handle), 'running');
      });

      it('writes the kernel boot output to the console log', { skip: caseSkip('console') }, async () => {
        await waitForConsole(spec.consoleLog, fixture.bootMarker, fixture.bootTimeoutMs);
      });

      it('is adopted by a new driver instance', { skip: caseSkip('adopt') }, async () => {
        const fresh = opts.makeDriver();
        const reread = parseHandle(JSON.parse(JSON.stringify(handle)));
        assert.ok(reread);
        assert.equal(await fresh.adopt(reread), true);
        assert.equal(await fresh.status(reread), 'running');
      });

      it('does not adopt or signal a handle with a wrong pid', { skip: caseSkip('adopt-wrong-pid') }, async () => {
        const fresh = opts.makeDriver();
        const bystander = spawnDetached(['sleep', '60']);
        const dead = spawnDetached(['true']);
        try {
          assert.ok(await waitForExit(dead, 5000));
          for (const pid of [bystander, dead, process.pid]) {
            const wrong = { ...handle, pid };
            assert.equal(await fresh.adopt(wrong), false, `pid ${pid}`);
            assert.equal(await fresh.status(wrong), 'gone', `pid ${pid}`);
          }
          await fresh.kill({ ...handle, pid: bystander });
          assert.ok(isAlive(bystander), 'kill must not signal a process the handle does not describe');
          assert.ok(isAlive(handle.pid));
        } finally {
          signalProcess(bystander, 'SIGKILL');
        }
      });

      it('does not adopt a handle with a wrong control socket', { skip: caseSkip('adopt-wrong-socket') }, async () => {
        const fresh = opts.makeDriver();
        assert.equal(await fresh.adopt({ ...handle, controlSocket: join(work, 'elsewhere', 'control.sock') }), false);
        if (handle.argvHash !== undefined) assert.equal(await fresh.adopt({ ...handle, argvHash: '0'.repeat(64) }), false);
        assert.equal(await fresh.adopt(handle), true);
      });

      it('shuts down within the timeout and leaves no process', { skip: caseSkip('shutdown') }, async () => {
        if (fixture.readyMarker) await waitForConsole(spec.consoleLog, fixture.readyMarker, fixture.bootTimeoutMs);
        const t0 = Date.now();
        const result = await driver.shutdown(handle, { timeoutMs: fixture.shutdownTimeoutMs });
        const took = Date.now() - t0;
        if (fixture.readyMarker) assert.equal(result, 'graceful');
        else assert.ok(result === 'graceful' || result === 'killed', result);
        assert.ok(took <= fixture.shutdownTimeoutMs + FORCE_MARGIN_MS, `shutdown took ${took}ms`);
        assert.equal(isAlive(handle.pid), false);
        assert.deepEqual(processesIn(spec.runDir), []);
        assert.equal(await driver.status(handle), 'gone');
        assert.equal(await opts.makeDriver().adopt(handle), false);
        assert.equal(await driver.shutdown(handle, { timeoutMs: 1000 }), 'gone');
        await assert.rejects(stat(handle.controlSocket), 'the control socket is removed');
      });
    });

    it('kill ends the vm process', { skip: caseSkip('kill') }, async () => {
      const driver = opts.makeDriver();
      const [spec, handle] = await launch(driver, 'conf-b');
      await driver.kill(handle);
      assert.ok(await waitForExit(handle.pid, 5000));
      assert.equal(await driver.status(handle), 'gone');
      assert.deepEqual(processesIn(spec.runDir), []);
      await driver.kill(handle);
    });

    it('launch with a missing kernel fails clearly and leaves nothing behind', { skip: caseSkip('bad-kernel') }, async () => {
      const driver = opts.makeDriver();
      const spec = await fixture.spec('conf-c', join(work, 'conf-c'));
      const kernelPath = join(work, 'no-such-dir', 'vmlinuz');
      await assert.rejects(driver.launch({ ...spec, kernelPath }), (err: unknown) => {
        assert.ok(err instanceof BangerError, String(err));
        assert.ok(err.message.includes(kernelPath), err.message);
        return true;
      });
      assert.deepEqual(processesIn(spec.runDir), []);
    });
  });
}

async function waitForConsole(path: string, marker: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = await readFile(path, 'utf8').catch(() => '');
    if (marker.test(text)) return;
    await sleep(200);
  }
  assert.fail(`${marker} did not appear in ${path} within ${timeoutMs}ms; last lines:\n${text.split('\n').slice(-10).join('\n')}`);
}
