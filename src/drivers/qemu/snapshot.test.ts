/**
 * Saving and loading state with real QEMU processes that never run a guest instruction (-S): the guest's
 * RAM is a file the test writes directly, so what a save keeps and a restore sees can be checked with
 * no guest booted.
 */
import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnDetached, which } from '../../system/exec.js';
import { isAlive, signalProcess, waitForExit } from '../../system/proc.js';
import { qmpChardevArg } from './argv.js';
import { DEFAULT_QEMU_BIN } from './probe.js';
import { waitForQmp, withQmp } from './qmp.js';
import { loadFromFile, saveToFile } from './snapshot.js';

const skip = which(DEFAULT_QEMU_BIN) ? undefined : `${DEFAULT_QEMU_BIN} not installed`;
const MIB = 1024 * 1024;
/** Guest-physical address (and RAM file offset) of the marker: below the PCI hole, so the two are the same. */
const AT = 32 * MIB;

describe('qemu state with the RAM as a file', { skip }, () => {
  let dir = '';
  const pids: number[] = [];

  const start = async (name: string, ram: string, share: boolean, incoming = false): Promise<string> => {
    const sock = join(dir, `${name}.sock`);
    pids.push(spawnDetached(
      [DEFAULT_QEMU_BIN, '-machine', 'q35,memory-backend=pc.ram', '-accel', 'tcg', '-m', '64M',
        '-object', `memory-backend-file,id=pc.ram,size=64M,mem-path=${ram},share=${share ? 'on' : 'off'}`,
        '-nodefaults', '-no-user-config', '-display', 'none', '-S', ...(incoming ? ['-incoming', 'defer'] : []),
        '-chardev', qmpChardevArg(sock), '-mon', 'chardev=qmp0,mode=control'],
      { logFile: join(dir, `${name}.log`) },
    ));
    (await waitForQmp(sock, { timeoutMs: 15_000 })).close();
    return sock;
  };
  const poke = async (file: string, text: string) => {
    const fh = await open(file, 'r+');
    await fh.write(Buffer.from(text), 0, text.length, AT);
    await fh.close();
  };
  const peek = async (file: string, n: number) => (await readFile(file)).subarray(AT, AT + n).toString();
  const guestSees = (sock: string) =>
    withQmp(sock, (q) => q.execute<string>('human-monitor-command', { 'command-line': `xp /8xb ${AT}` }));
  const hex = (text: string) => [...Buffer.from(text)].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-qstate-'));
  });

  after(async () => {
    for (const pid of pids) {
      if (isAlive(pid)) signalProcess(pid, 'SIGKILL');
      await waitForExit(pid, 5000);
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('a VM with a shared RAM file: the state leaves RAM out, the image is a frozen copy, a restore mapping it privately sees it; RAM goes back into the state when no image is asked for', async () => {
    const live = join(dir, 'a.ram');
    const a = await start('a', live, true);
    await poke(live, 'snapshot');
    assert.equal(await guestSees(a).then((s) => s.includes(hex('snapshot'))), true, 'the guest RAM is the file');

    const image = join(dir, 'memory.ram');
    const ramBytes = await withQmp(a, (q) => saveToFile(q, join(dir, 'state'), 60_000, undefined, { file: image, handOver: false }));
    assert.equal(ramBytes, 64 * MIB);
    assert.ok((await stat(join(dir, 'state'))).size < 4 * MIB, 'the device state has no guest RAM in it');
    await poke(live, 'changed!');
    assert.equal(await peek(image, 8), 'snapshot', 'later writes to the live RAM do not reach the image');

    const b = await start('b', image, false, true);
    await withQmp(b, (q) => loadFromFile(q, join(dir, 'state'), 60_000, undefined, true));
    await withQmp(b, (q) => q.execute('stop'));
    assert.ok((await guestSees(b)).includes(hex('snapshot')), 'the restored guest sees the RAM as it was saved');
    assert.equal(await withQmp(b, (q) => saveToFile(q, join(dir, 'b.state'), 60_000, undefined, { file: join(dir, 'b.ram'), handOver: false })), undefined, 'a private RAM mapping is saved inside the state');
    assert.ok((await readFile(join(dir, 'b.state'))).includes('snapshot'));

    // QEMU saves a VM once per pause: banger resumes it (or ends it) after each save.
    const again = () => withQmp(a, async (q) => {
      await q.execute('cont');
      await q.execute('stop');
    });
    await again();
    const full = join(dir, 'full.state');
    assert.equal(await withQmp(a, (q) => saveToFile(q, full, 60_000)), undefined);
    assert.ok((await readFile(full)).includes('changed!'), 'a save after one that left RAM out carries the RAM again');

    await again();
    const handed = join(dir, 'handed.ram');
    await withQmp(a, (q) => saveToFile(q, join(dir, 'handed.state'), 60_000, undefined, { file: handed, handOver: true }));
    assert.equal((await stat(handed)).ino, (await stat(live)).ino, 'a process that ends after the save hands its RAM file over');
  });
});
