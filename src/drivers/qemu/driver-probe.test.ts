import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QemuDriver } from './driver.js';

/** A stand-in QEMU binary that answers --version with `version` and counts how often it was started. */
async function fakeQemu(bin: string, counter: string, version: string): Promise<void> {
  await writeFile(bin, `#!/bin/sh\necho run >> '${counter}'\necho 'QEMU emulator version ${version} (Debian)'\n`);
  await chmod(bin, 0o755);
}

const starts = async (counter: string) => (await readFile(counter, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

describe('qemu driver probe with a configured acceleration', () => {
  let work = '';
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-qemu-probe-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('asks the binary its version once, and again after the binary is replaced', async () => {
    const bin = join(work, 'qemu-system-x86_64');
    const counter = join(work, 'starts');
    await fakeQemu(bin, counter, '7.2.0');
    const driver = new QemuDriver({ bin, accel: 'tcg' });
    for (let i = 0; i < 3; i++) {
      const p = await driver.probe();
      assert.equal(p.available, true);
      assert.equal(p.accel, 'tcg');
      assert.equal(p.version, '7.2.0');
    }
    assert.equal(await starts(counter), 1, 'each probe of an unchanged binary started it again');

    await rm(bin);
    await fakeQemu(bin, counter, '10.1.3');
    assert.equal((await driver.probe()).version, '10.1.3', 'a replaced binary was not asked again');
    assert.equal(await starts(counter), 2);
  });

  it('says the binary is missing once it is gone', async () => {
    const bin = join(work, 'gone-qemu');
    const counter = join(work, 'gone-starts');
    await fakeQemu(bin, counter, '7.2.0');
    const driver = new QemuDriver({ bin, accel: 'tcg' });
    assert.equal((await driver.probe()).available, true);
    await rm(bin);
    const p = await driver.probe();
    assert.equal(p.available, false);
    assert.match(p.reason ?? '', /not found/);
  });

  it('asks again when the binary gave no version', async () => {
    const bin = join(work, 'broken-qemu');
    const counter = join(work, 'broken-starts');
    await writeFile(bin, `#!/bin/sh\necho run >> '${counter}'\nexit 1\n`);
    await chmod(bin, 0o755);
    const driver = new QemuDriver({ bin, accel: 'tcg' });
    assert.equal((await driver.probe()).version, undefined);
    assert.equal((await driver.probe()).version, undefined);
    assert.equal(await starts(counter), 2, 'a binary that gave no version was not asked again');
  });
});
