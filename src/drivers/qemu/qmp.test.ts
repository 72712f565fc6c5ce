import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnDetached, which } from '../../system/exec.js';
import { isAlive, signalProcess, waitForExit } from '../../system/proc.js';
import { qmpChardevArg } from './argv.js';
import { DEFAULT_QEMU_BIN } from './probe.js';
import { QmpClient, QmpError, waitForQmp, withQmp } from './qmp.js';

describe('qmp client against a scripted server', () => {
  let dir = '';
  let server: Server;
  let sock = '';
  let onLine: (line: Record<string, unknown>, c: Socket) => void = () => undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-qmp-'));
    sock = join(dir, 'fake.sock');
    server = createServer((c) => {
      c.write('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 9}, "package": ""}, "capabilities": []}}\r\n');
      let buf = '';
      c.on('data', (d) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
          buf = buf.slice(nl + 1);
          if (msg.execute === 'qmp_capabilities') c.write(`{"return": {}, "id": ${JSON.stringify(msg.id)}}\r\n`);
          else onLine(msg, c);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(sock, resolve));
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('matches replies by id, also when they arrive out of order with events in between', async () => {
    const held: [Record<string, unknown>, Socket][] = [];
    onLine = (msg, c) => {
      held.push([msg, c]);
      if (held.length < 2) return;
      for (const [m, conn] of held.reverse()) {
        conn.write(`{"event": "TICK", "data": {"for": "${String(m.execute)}"}}\r\n`);
        conn.write(`{"return": {"cmd": "${String(m.execute)}"}, "id": ${JSON.stringify(m.id)}}\r\n`);
      }
    };
    await withQmp(sock, async (q) => {
      const seen: string[] = [];
      q.onEvent((e) => seen.push(e.event));
      const [a, b] = await Promise.all([q.execute('first'), q.execute('second')]);
      assert.deepEqual(a, { cmd: 'first' });
      assert.deepEqual(b, { cmd: 'second' });
      assert.deepEqual(seen, ['TICK', 'TICK']);
      assert.equal(q.greeting?.version.qemu.major, 9);
    });
  });

  it('times out a command that gets no reply, and fails pending commands when the peer hangs up', async () => {
    onLine = (msg, c) => {
      if (msg.execute === 'hangup') c.destroy();
    };
    const q = await QmpClient.connect(sock);
    try {
      await assert.rejects(q.execute('silence', undefined, { timeoutMs: 50 }), (e: unknown) => e instanceof QmpError && e.errorClass === 'Timeout');
      await assert.rejects(q.execute('hangup'), (e: unknown) => e instanceof QmpError && e.errorClass === 'Disconnected');
      await assert.rejects(q.execute('after'), (e: unknown) => e instanceof QmpError && e.errorClass === 'Disconnected');
    } finally {
      q.close();
    }
  });

  it('reports an unreachable socket quickly', async () => {
    const t0 = Date.now();
    await assert.rejects(QmpClient.connect(join(dir, 'missing.sock'), { timeoutMs: 1000 }), QmpError);
    await assert.rejects(waitForQmp(join(dir, 'missing.sock'), { timeoutMs: 5000, stillStarting: () => false }), QmpError);
    assert.ok(Date.now() - t0 < 2000);
  });
});

const skip = which(DEFAULT_QEMU_BIN) ? undefined : `${DEFAULT_QEMU_BIN} not installed`;

describe('qmp client against qemu', { skip }, () => {
  let dir = '';
  let sock = '';
  let pid = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-qmp-'));
    sock = join(dir, 'qmp.sock');
    // -S: the guest never runs a single instruction, so this costs no CPU.
    pid = spawnDetached(
      [DEFAULT_QEMU_BIN, '-machine', 'q35', '-accel', 'tcg', '-m', '64M', '-nodefaults', '-no-user-config',
        '-display', 'none', '-S', '-chardev', qmpChardevArg(sock), '-mon', 'chardev=qmp0,mode=control'],
      { logFile: join(dir, 'qemu.log') },
    );
  });

  after(async () => {
    if (pid > 1 && isAlive(pid)) {
      signalProcess(pid, 'SIGKILL');
      await waitForExit(pid, 5000);
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('negotiates capabilities and reads the status', async () => {
    const q = await waitForQmp(sock, { timeoutMs: 10_000, stillStarting: () => isAlive(pid) });
    try {
      assert.equal(typeof q.greeting?.version.qemu.major, 'number');
      assert.deepEqual(await q.queryStatus(), { status: 'prelaunch', running: false, singlestep: false });
    } finally {
      q.close();
    }
  });

  it('sees STOP and RESUME events interleaved with replies', async () => {
    await withQmp(sock, async (q) => {
      const since = q.events.length;
      await q.execute('cont');
      await q.waitForEvent('RESUME', 5000, since);
      assert.equal((await q.queryStatus()).status, 'running');
      await q.execute('stop');
      await q.waitForEvent('STOP', 5000, since);
      assert.equal((await q.queryStatus()).status, 'paused');
    });
  });

  it('turns a QMP error into a QmpError with its class', async () => {
    await withQmp(sock, async (q) => {
      await assert.rejects(q.execute('no-such-command'), (e: unknown) => {
        assert.ok(e instanceof QmpError);
        assert.equal(e.errorClass, 'CommandNotFound');
        assert.equal(e.command, 'no-such-command');
        return true;
      });
      const v = await q.execute<{ qemu: { major: number } }>('query-version');
      assert.ok(v.qemu.major >= 7);
    });
  });

  it('quits qemu', async () => {
    await withQmp(sock, (q) => q.quit());
    assert.ok(await waitForExit(pid, 5000));
  });
});
