import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { bannerProbe, PROBE_STAGGER_MS } from './client.js';

/** A server on loopback whose n-th connection (from 1) is handled by `on`. */
async function server(on: (sock: Socket, n: number) => void): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const socks = new Set<Socket>();
  const srv: Server = createServer((sock) => {
    socks.add(sock);
    sock.on('error', () => undefined);
    on(sock, ++n);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  return {
    port,
    connections: () => n,
    close: async () => {
      for (const s of socks) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

void test('a connection stuck before the greeting does not hold the probe: a fresh one greets', async () => {
  // The first connection stands for one opened before the guest's network was up: accepted, never answered.
  const s = await server((sock, n) => {
    if (n > 1) sock.write('SSH-2.0-OpenSSH_9.2\r\n');
  });
  try {
    const t0 = Date.now();
    assert.equal(await bannerProbe('127.0.0.1', s.port, 15_000), true);
    const took = Date.now() - t0;
    assert.ok(took < 5 * PROBE_STAGGER_MS, `answered after a second connection, not the 15 s wait (${took} ms)`);
    assert.equal(s.connections(), 2);
  } finally {
    await s.close();
  }
});

void test('a slow greeting on the first connection still counts while later ones stay silent', async () => {
  const s = await server((sock, n) => {
    if (n === 1) setTimeout(() => sock.write('SSH-2.0-OpenSSH_9.2\r\n'), 2.5 * PROBE_STAGGER_MS);
  });
  try {
    assert.equal(await bannerProbe('127.0.0.1', s.port, 15_000), true);
    assert.ok(s.connections() >= 2 && s.connections() <= 4, `a bounded number of connections (${s.connections()})`);
  } finally {
    await s.close();
  }
});

void test('no server, a server that is not ssh, or silence until the deadline: no', async () => {
  const closed = await server(() => undefined);
  await closed.close();
  const t0 = Date.now();
  assert.equal(await bannerProbe('127.0.0.1', closed.port, 15_000), false);
  assert.ok(Date.now() - t0 < PROBE_STAGGER_MS, 'a refused connection answers at once');

  const http = await server((sock) => sock.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  const silent = await server(() => undefined);
  try {
    assert.equal(await bannerProbe('127.0.0.1', http.port, 15_000), false);
    const t1 = Date.now();
    assert.equal(await bannerProbe('127.0.0.1', silent.port, 4.5 * PROBE_STAGGER_MS), false);
    assert.ok(Date.now() - t1 >= 4 * PROBE_STAGGER_MS, 'silence waits out the deadline');
    assert.equal(silent.connections(), 3, 'three connections in all, however long the wait: each one reaches the guest once it is up');
  } finally {
    await http.close();
    await silent.close();
  }
});
