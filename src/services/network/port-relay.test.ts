/**
 * The relay of published ports on loopback, with real sockets: a "guest" server on 127.0.0.1 stands
 * for the guest's address on the bridge (bridge.test.ts and e2e/bridge-mode.test.ts relay into real
 * bridge addresses).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer, get } from 'node:http';
import { BangerError } from '../../api/errors.js';
import { canListen, freeLoopbackPort } from '../../system/net.js';
import { PortRelay, type RelayTarget } from './port-relay.js';

const LO = '127.0.0.1';
const target: RelayTarget = { vmId: 'vm1', vmName: 'web', listenAddr: LO, guestAddr: LO };

function listening<T extends Server>(s: T, port = 0): Promise<T> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, LO, () => resolve(s));
  });
}

const portOf = (s: Server) => (s.address() as { port: number }).port;

function fetchText(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: LO, port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** Connects, sends `text`, half-closes, and resolves what came back until the other side closed. */
function exchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, LO, () => c.end(text));
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (got += d));
    c.on('error', reject);
    c.on('close', () => resolve(got));
  });
}

describe('port relay', { timeout: 30_000 }, () => {
  let web: Server;
  let upper: Server;
  const relay = new PortRelay();

  before(async () => {
    web = await listening(createHttpServer((q, r) => r.end(`guest says hi to ${q.url ?? ''}\n`)));
    // Reads until the client's half-close, then answers: the relay must pass the half-close on and the answer back.
    upper = await listening(
      createServer({ allowHalfOpen: true }, (s) => {
        let all = '';
        s.setEncoding('utf8');
        s.on('data', (d: string) => (all += d));
        s.on('end', () => s.end(all.toUpperCase()));
      }),
    );
  });
  after(async () => {
    await relay.closeAll();
    web.close();
    upper.close();
  });

  it('relays a published host port to the guest port, HTTP and a half-closed exchange alike', async () => {
    const hostPort = await freeLoopbackPort();
    await relay.open(target, { hostPort, guestPort: portOf(web) });
    assert.equal(await fetchText(hostPort), 'guest says hi to /\n');
    const second = await freeLoopbackPort();
    await relay.open(target, { hostPort: second, guestPort: portOf(upper) });
    assert.equal(await exchange(second, 'ping pong'), 'PING PONG');
    assert.deepEqual(relay.list('vm1').map((f) => f.hostPort), [hostPort, second]);
    await relay.closeVm('vm1');
    assert.deepEqual(relay.vmIds(), []);
    assert.equal(await canListen(LO, hostPort), true, 'nothing listens after closeVm');
    assert.equal(await canListen(LO, second), true);
  });

  it('a host port taken by another program is already_exists naming it, with the way out; nothing is kept', async () => {
    const squatter = await listening(createServer());
    const port = portOf(squatter);
    await assert.rejects(relay.open(target, { hostPort: port, guestPort: 80 }), (e: unknown) => {
      assert.ok(e instanceof BangerError);
      assert.equal(e.code, 'already_exists');
      assert.match(e.message, new RegExp(`host port 127\\.0\\.0\\.1:${port} \\(published for guest port 80 of vm web\\) is taken`));
      assert.match(e.hint ?? '', new RegExp(`banger vm forward web --remove ${port}, then banger vm forward web OTHERPORT:80`));
      return true;
    });
    assert.deepEqual(relay.list('vm1'), []);
    squatter.close();
  });

  it('closing a port drops its open connections, and leaves the other VM\'s ports alone', async () => {
    const a = await freeLoopbackPort();
    const b = await freeLoopbackPort();
    await relay.open(target, { hostPort: a, guestPort: portOf(upper) });
    await relay.open({ ...target, vmId: 'vm2', vmName: 'api' }, { hostPort: b, guestPort: portOf(web) });
    const open: Socket = connect(a, LO);
    await new Promise((r) => open.once('connect', r));
    const closed = new Promise((r) => open.once('close', r));
    open.on('error', () => undefined);
    await relay.close('vm1', a);
    await closed;
    assert.equal(await canListen(LO, a), true);
    assert.equal(await fetchText(b), 'guest says hi to /\n', 'the other VM still relays');
    await relay.closeAll();
    assert.equal(await canListen(LO, b), true);
  });

  it('a guest port where nothing listens closes the client\'s connection instead of holding it', async () => {
    const dead = await freeLoopbackPort();
    const hostPort = await freeLoopbackPort();
    await relay.open(target, { hostPort, guestPort: dead });
    const c = connect(hostPort, LO, () => c.write('anyone?'));
    c.on('error', () => undefined);
    let got = '';
    c.on('data', (d: Buffer) => (got += d.toString()));
    await new Promise((r) => c.once('close', r));
    assert.equal(got, '');
    await relay.closeVm('vm1');
  });

  it('opening the same forward again keeps it; another guest port on the same host port replaces it', async () => {
    const hostPort = await freeLoopbackPort();
    await relay.open(target, { hostPort, guestPort: portOf(web) });
    await relay.open(target, { hostPort, guestPort: portOf(web) });
    await relay.open(target, { hostPort, guestPort: portOf(upper) });
    assert.deepEqual(relay.list('vm1'), [{ hostPort, guestPort: portOf(upper) }]);
    assert.equal(await exchange(hostPort, 'moved'), 'MOVED');
    await relay.closeVm('vm1');
  });
});
