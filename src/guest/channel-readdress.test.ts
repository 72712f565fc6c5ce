/**
 * The guest channel's readdress command run for real: the script (as the guest's socket-activated
 * service runs it) against a veth inside a network namespace this file creates, whose peer sits in a
 * second namespace as the "bridge" side. Checks the MAC, address, default route, networkd file and
 * resolv.conf, and that the peer reaches the guest at its new address and sees its new MAC.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runUnchecked } from '../system/exec.js';
import { runInNetns } from '../testing/netns.js';
import { parseReaddressAnswer, readdressCommand, READDRESS_GUEST_BITS } from '../model/guest-address.js';
import { CHANNEL_SCRIPT } from './channel.js';
import { GUEST_BITS_VERSION } from './guest-bits.js';

const NIC = 'bgt-eth0';
const PEER = 'bgt-br';

interface IpAddr {
  ifname: string;
  address: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

async function link(dev: string, ns?: string): Promise<IpAddr> {
  const r = await run(['ip', ...(ns ? ['-n', ns] : []), '-j', 'addr', 'show', 'dev', dev]);
  return (JSON.parse(r.stdout) as IpAddr[])[0]!;
}

async function defaultRoute(): Promise<{ gateway?: string; dev?: string }[]> {
  return JSON.parse((await run(['ip', '-j', '-4', 'route', 'show', 'default'])).stdout) as { gateway?: string; dev?: string }[];
}

/** Connects to a closed port: refused (a reset came back) means the peer answered. */
function tcpAnswer(host: string, localAddress?: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port: 9, timeout: 3000, ...(localAddress ? { localAddress } : {}) });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('timeout', () => {
      s.destroy();
      resolve('timeout');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : (err.code ?? err.message)));
  });
}

it('the readdress command needs guest bits at least as new as this release injects', () => {
  assert.ok(GUEST_BITS_VERSION >= READDRESS_GUEST_BITS, `guest bits ${GUEST_BITS_VERSION} < ${READDRESS_GUEST_BITS}`);
});

if (runInNetns(import.meta.url, 'guest channel readdress')) {
  describe('readdress on a veth in a network namespace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'banger-readdress-'));
    const script = join(dir, 'banger-channel');
    const netfile = join(dir, '10-banger.network');
    const resolv = join(dir, 'resolv.conf');
    const peerNs = `bgt-peer-${process.pid}`;
    const env = { ...process.env, BANGER_NETWORK_FILE: netfile, BANGER_RESOLV: resolv, BANGER_NETWORKCTL: '/nonexistent/networkctl' };
    const ask = async (line: string, extra: NodeJS.ProcessEnv = {}) => (await run(['/bin/sh', script], { input: `${line}\n`, env: { ...env, ...extra } })).stdout;

    before(async () => {
      writeFileSync(script, CHANNEL_SCRIPT, { mode: 0o755 });
      writeFileSync(netfile, '[Match]\nName=en* eth*\n\n[Network]\nAddress=10.77.0.5/24\nGateway=10.77.0.1\nDNS=10.77.0.1\n');
      writeFileSync(resolv, 'nameserver 10.77.0.1\n');
      await run(['ip', 'netns', 'add', peerNs]);
      await run(['ip', 'link', 'add', NIC, 'address', '02:fc:00:00:00:05', 'type', 'veth', 'peer', 'name', PEER]);
      await run(['ip', 'link', 'set', PEER, 'netns', peerNs]);
      // The "bridge" side answers on both the source's subnet and the child's.
      await run(['ip', '-n', peerNs, 'addr', 'add', '10.77.0.1/24', 'dev', PEER]);
      await run(['ip', '-n', peerNs, 'addr', 'add', '10.88.0.1/24', 'dev', PEER]);
      await run(['ip', '-n', peerNs, 'link', 'set', PEER, 'up']);
      // The guest as its source left it: the source's MAC, address and route.
      await run(['ip', 'addr', 'add', '10.77.0.5/24', 'dev', NIC]);
      await run(['ip', 'link', 'set', NIC, 'up']);
      await run(['ip', 'route', 'add', 'default', 'via', '10.77.0.1', 'dev', NIC]);
    });
    after(async () => {
      await runUnchecked(['ip', 'link', 'del', NIC]);
      await runUnchecked(['ip', 'netns', 'del', peerNs]);
      rmSync(dir, { recursive: true, force: true });
    });

    it('a bad line changes nothing and says what was wrong', async () => {
      assert.equal(await ask('readdress 02:fc:00:00:00:09'), 'error usage: readdress MAC CIDR GATEWAY [DNS...]\n');
      assert.equal(await ask('readdress 02:FC:zz:00:00:09 10.88.0.7/24 10.88.0.1'), "error invalid MAC '02:FC:zz:00:00:09'\n");
      assert.equal(await ask('readdress 02:fc:00:00:00:09 10.88.0.777/24 10.88.0.1'), "error invalid address '10.88.0.777/24'\n");
      assert.equal(await ask('readdress 02:fc:00:00:00:09 10.88.0.7/33 10.88.0.1'), "error invalid prefix '10.88.0.7/33'\n");
      assert.equal(await ask('readdress 02:fc:00:00:00:09 10.88.0.7/24 10.88.0.1 *'), "error invalid nameserver '*'\n");
      const l = await link(NIC);
      assert.equal(l.address, '02:fc:00:00:00:05');
      assert.deepEqual(l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`), ['10.77.0.5/24']);
      assert.equal(await tcpAnswer('10.77.0.1'), 'refused', 'the source address still works before the readdress');
    });

    it('moves the NIC to the new MAC, address and default route, found by its default route', async () => {
      const line = readdressCommand({ mac: '02:fc:00:00:00:09', address: '10.88.0.7', prefix: 24, gateway: '10.88.0.1', nameservers: ['10.88.0.1', '9.9.9.9'] });
      const answer = parseReaddressAnswer(await ask(line));
      assert.deepEqual(answer, { dev: NIC, mac: '02:fc:00:00:00:09', cidr: '10.88.0.7/24' });
      const l = await link(NIC);
      assert.equal(l.address, '02:fc:00:00:00:09');
      assert.deepEqual(l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`), ['10.88.0.7/24']);
      assert.deepEqual((await defaultRoute()).map((r) => [r.gateway, r.dev]), [['10.88.0.1', NIC]]);
      assert.equal(readFileSync(resolv, 'utf8'), 'nameserver 10.88.0.1\nnameserver 9.9.9.9\n');
      const nf = readFileSync(netfile, 'utf8');
      assert.match(nf, /^Address=10\.88\.0\.7\/24$/m);
      assert.match(nf, /^Gateway=10\.88\.0\.1$/m);
      assert.match(nf, /^DNS=9\.9\.9\.9$/m);
      assert.doesNotMatch(nf, /10\.77\./);
    });

    it('the bridge side reaches the guest at its new address and learns its new MAC', async () => {
      assert.equal(await tcpAnswer('10.88.0.1'), 'refused');
      const neigh = (await run(['ip', '-n', peerNs, 'neigh', 'show', '10.88.0.7', 'dev', PEER])).stdout;
      assert.match(neigh, /lladdr 02:fc:00:00:00:09/);
      assert.equal(await tcpAnswer('10.88.0.1', '10.77.0.5'), 'EADDRNOTAVAIL', 'the source address is gone from the guest');
    });

    it('without DNS servers the resolver file is left as it was; an explicit interface is used as given', async () => {
      const before = readFileSync(resolv, 'utf8');
      const answer = parseReaddressAnswer(await ask('readdress 02:fc:00:00:00:0a 10.88.0.8/24 10.88.0.1', { BANGER_NET_IFACE: NIC }));
      assert.deepEqual(answer, { dev: NIC, mac: '02:fc:00:00:00:0a', cidr: '10.88.0.8/24' });
      assert.equal(readFileSync(resolv, 'utf8'), before);
      assert.equal((await link(NIC)).address, '02:fc:00:00:00:0a');
    });
  });
}
