/**
 * Bridge mode against the real kernel: bridge, taps and banger's nftables tables inside a network
 * namespace this file creates (the host's own namespace is never touched), a SQLite lease table, and
 * dnsmasq as the upstream resolver for allowlisted names.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, get, type Server } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import dnsPacket from 'dns-packet';
import { BangerError } from '../../api/errors.js';
import type { VMSpec } from '../../api/types.js';
import { parseAllowList } from '../../model/egress.js';
import { run, runUnchecked, spawnPiped, type PipedChild } from '../../system/exec.js';
import { canListen, freeLoopbackPort } from '../../system/net.js';
import { enableIpv4Forwarding, IP_FORWARD, ipv4Forwarding, listLinks } from '../../system/netdev.js';
import { nftCheck, nftListText } from '../../system/nft.js';
import { openStore } from '../../store/db.js';
import { LeaseRepo } from '../../store/leases.js';
import { VMRepo, type VMRow } from '../../store/vms.js';
import { runInNetns } from '../../testing/netns.js';
import { GuestDns } from '../dns/guest.js';
import { BridgeNetwork, HOST_NET, ruleKey, type BridgeSettings, type HostNet } from './bridge.js';
import { renderBase, renderVmAdd, renderVmEgress, renderVmRemove } from './nft-rules.js';

const SETTINGS: BridgeSettings = { bridgeName: 'bgtest0', bridgeIp: '10.213.0.1', cidr: 24, tapPoolSize: 2, isolateVms: true };

if (runInNetns(import.meta.url, 'bridge mode')) {
  describe('bridge mode in a network namespace', () => {
    let dir = '';
    let db: Database;
    let vms: VMRepo;
    let leases: LeaseRepo;
    let dnsmasq: PipedChild | undefined;

    const mkVm = (id: string, name: string, spec: Partial<VMSpec> = {}): VMRow => {
      const now = new Date().toISOString();
      const row: VMRow = { id, name, imageId: 'i', state: 'running', spec: { vcpu: 1, memoryMiB: 256, diskSizeBytes: 1, nat: false, ...spec }, runtime: {}, createdAt: now, updatedAt: now };
      vms.insert(row);
      return row;
    };
    const table = () => nftListText(['table', 'inet', 'banger']);
    const taps = async () => (await listLinks()).filter((l) => l.name.startsWith('bgtap'));

    before(() => {
      dir = mkdtempSync('/tmp/bbr-');
      db = openStore(join(dir, 'state.db'));
      vms = new VMRepo(db);
      leases = new LeaseRepo(db);
    });
    after(() => {
      dnsmasq?.kill('SIGTERM');
      db.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('renders rules nft accepts: the base, a VM with every kind of egress, its change and its removal', async () => {
      const base = renderBase({ bridge: 'bgcheck0', gateway: '10.9.0.1', isolate: true });
      assert.equal(await nftCheck(base), undefined);
      await run(['nft', '-f', '-'], { input: base });
      const vm = { key: 'abc123', tap: 'bgtap99', ip: '10.9.0.2', mac: '52:54:00:aa:bb:cc', nat: true, allow: parseAllowList(['example.com,10.1.2.0/24,192.0.2.7']) };
      assert.equal(await nftCheck(renderVmAdd(vm)), undefined);
      await run(['nft', '-f', '-'], { input: renderVmAdd(vm) });
      const text = await table();
      assert.match(text, /set nets-abc123 \{[^}]*elements = \{ 10\.1\.2\.0\/24, 192\.0\.2\.7 \}/s);
      assert.match(text, /10\.9\.0\.2 : jump vm-abc123/);
      const plain = { key: vm.key, tap: vm.tap, ip: vm.ip, mac: vm.mac, nat: false };
      const egress = renderVmEgress(plain, vm);
      await run(['nft', '-f', '-'], { input: egress });
      assert.doesNotMatch(await table(), /10\.9\.0\.2 : jump/, 'without allowlist and nat the VM has no verdict: it falls to the drop');
      await run(['nft', '-f', '-'], { input: renderVmRemove(plain) });
      assert.doesNotMatch(await table(), /abc123/);
      assert.match(await nftListText(['table', 'bridge', 'banger']), /iifname @taps oifname @taps drop/, 'isolate_vms drops frames between taps');
    });

    it('refuses a bad bridge name and a subnet overlapping a host route, naming the config keys', async () => {
      assert.throws(() => new BridgeNetwork(leases, { ...SETTINGS, bridgeName: 'bad name!' }), (e: unknown) => e instanceof BangerError && e.code === 'bad_request' && /bridge_name/.test(e.hint ?? ''));
      await run(['ip', 'link', 'add', 'bgdummy0', 'type', 'bridge']);
      await run(['ip', 'addr', 'add', '10.50.0.1/16', 'dev', 'bgdummy0']);
      await run(['ip', 'link', 'set', 'bgdummy0', 'up']);
      const net = new BridgeNetwork(leases, { ...SETTINGS, bridgeName: 'bgover0', bridgeIp: '10.50.3.1' });
      const vm = mkVm('c00000000001', 'over');
      await assert.rejects(net.attach(vm), (e: unknown) => e instanceof BangerError && e.code === 'bad_request' && /10\.50\.0\.0\/16/.test(e.message) && /bridge_ip and cidr/.test(e.hint ?? ''));
      assert.equal(leases.get(vm.id), undefined);
      assert.equal((await listLinks()).some((l) => l.name === 'bgover0'), false, 'no bridge made');
    });

    it('without nft bridge mode is unavailable, naming the apt-get line, and makes nothing', async () => {
      const net = new BridgeNetwork(leases, { ...SETTINGS, bridgeName: 'bgnonft0' }, { ...HOST_NET, nftAvailable: () => false });
      const vm = mkVm('a0000000000f', 'nonft');
      await assert.rejects(net.attach(vm), (e: unknown) => e instanceof BangerError && e.code === 'unavailable' && /nftables/.test(e.message) && /apt-get install -y nftables/.test(e.hint ?? ''));
      assert.equal(leases.get(vm.id), undefined);
      assert.equal((await listLinks()).some((l) => l.name === 'bgnonft0'), false, 'no bridge made');
    });

    it('a tap that fails mid-attach leaves no tap, no rule and no lease', async () => {
      let made = '';
      const failing: HostNet = {
        ...HOST_NET,
        addTap: async (name, bridge) => {
          await HOST_NET.addTap(name, bridge);
          made = name;
        },
        nftApply: async (script) => {
          if (script.includes('add chain inet banger vm-')) throw new Error('injected nft failure');
          await HOST_NET.nftApply(script);
        },
      };
      const net = new BridgeNetwork(leases, { ...SETTINGS, tapPoolSize: 0 }, failing);
      const vm = mkVm('f00000000001', 'fails');
      await assert.rejects(net.attach(vm), /injected nft failure/);
      assert.notEqual(made, '', 'the tap was made before the failure');
      assert.deepEqual(await taps(), []);
      assert.equal(leases.get(vm.id), undefined);
      assert.doesNotMatch(await table(), new RegExp(ruleKey(vm.id)));
    });

    it('two VMs: own taps on the bridge, the lowest free addresses, rules; --nat flips live; stop and delete remove everything', async () => {
      const net = new BridgeNetwork(leases, SETTINGS);
      const a = mkVm('a00000000001', 'alpha');
      const b = mkVm('b00000000002', 'bravo', { nat: true });
      const na = await net.attach(a);
      const nb = await net.attach(b);
      assert.equal(na.mode, 'tap');
      assert.deepEqual([na.guest, nb.guest], [
        { mode: 'static', address: '10.213.0.2', prefix: 24, gateway: '10.213.0.1' },
        { mode: 'static', address: '10.213.0.3', prefix: 24, gateway: '10.213.0.1' },
      ]);
      assert.deepEqual(na.nameservers, ['10.213.0.1']);
      const links = await listLinks();
      for (const n of [na, nb]) {
        assert.equal(n.mode === 'tap' && links.find((l) => l.name === n.tap)?.master, 'bgtest0');
      }
      await net.refill();
      assert.equal(net.pooled().length, 2, 'the pool is refilled');
      let text = await table();
      assert.match(text, /10\.213\.0\.3 : accept/, 'bravo (--nat) has egress');
      assert.doesNotMatch(text, /map egress \{[^}]*10\.213\.0\.2/s, 'alpha has none');
      a.spec.nat = true;
      vms.update(a.id, { spec: a.spec });
      await net.update(a);
      text = await table();
      assert.match(text, /10\.213\.0\.2 : accept/, 'vm set --nat applies at once');
      assert.match(text, /set masq \{[^}]*10\.213\.0\.2/s);

      await net.detach(a);
      assert.equal((await listLinks()).some((l) => na.mode === 'tap' && l.name === na.tap), false, 'stop removes the tap');
      assert.doesNotMatch(await table(), new RegExp(`vm-${ruleKey(a.id)}|10\\.213\\.0\\.2`));
      assert.equal(leases.get(a.id)?.ip, '10.213.0.2', 'the address stays leased across stop');
      assert.deepEqual((await net.attach(a)).guest, { mode: 'static', address: '10.213.0.2', prefix: 24, gateway: '10.213.0.1' }, 'and comes back at the next start');
      await net.release(a);
      await net.release(b);
      assert.equal(leases.get(a.id), undefined);
      assert.doesNotMatch(await table(), /vm-|dns-|nets-|deny-|refuse-|refused-/, 'no VM object left in banger\'s table');
      const report = await net.sweep([]);
      assert.ok(report.removed.length >= 2, `the sweep removes the idle taps no VM holds: ${JSON.stringify(report.removed)}`);
      await net.refill();
      assert.deepEqual((await taps()).map((t) => t.name).sort(), [...net.pooled()].sort(), 'after the sweep only the refilled pool is left');
    });

    it('published ports: relayed from 127.0.0.1 to the guest address, a taken port refuses the start, gone on stop, back after a daemon restart', async () => {
      const [hostPort, extra] = [await freeLoopbackPort(), await freeLoopbackPort()];
      const vm = mkVm('e00000000001', 'echo', { ports: [{ hostPort, guestPort: 8000 }] });
      const settings = { ...SETTINGS, tapPoolSize: 0 };
      const net = new BridgeNetwork(leases, settings);
      const tapsBefore = (await taps()).map((t) => t.name);
      const squatter = createServer().listen(hostPort, '127.0.0.1');
      await new Promise((r) => squatter.once('listening', r));
      await assert.rejects(net.attach(vm), (e: unknown) => e instanceof BangerError && e.code === 'already_exists' && e.message.includes(`127.0.0.1:${hostPort}`) && /vm forward echo --remove/.test(e.hint ?? ''));
      await new Promise((r) => squatter.close(r));
      assert.equal(leases.get(vm.id), undefined, 'the refused start leaves no lease');
      assert.deepEqual((await taps()).map((t) => t.name), tapsBefore, 'nor a tap');
      assert.doesNotMatch(await table(), new RegExp(ruleKey(vm.id)), 'nor a rule');

      const att = await net.attach(vm);
      const ip = att.mode === 'tap' ? att.ip : '';
      // The guest: its address on this namespace's loopback, serving HTTP on the published guest port.
      await run(['ip', 'addr', 'add', `${ip}/32`, 'dev', 'lo']);
      const guest: Server = createHttpServer((_q, r) => r.end('from the guest\n')).listen(8000, ip);
      await new Promise((r) => guest.once('listening', r));
      const fetchText = (port: number) =>
        new Promise<string>((resolve, reject) => {
          get({ host: '127.0.0.1', port, agent: false }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve(body));
          }).on('error', reject);
        });
      try {
        assert.equal(await fetchText(hostPort), 'from the guest\n');
        const pub = net.publishing(vm);
        assert.equal(pub.hostAddr, '127.0.0.1');
        assert.equal(pub.guestAddr, ip);
        assert.ok(pub.live, 'a running bridge VM changes its ports live');
        await pub.live.publish({ hostPort: extra, guestPort: 8000 });
        assert.equal(await fetchText(extra), 'from the guest\n');
        await pub.live.unpublish({ hostPort: extra, guestPort: 8000 });
        assert.equal(await canListen('127.0.0.1', extra), true, 'unpublish closes the port');

        await net.detach(vm);
        assert.equal(await canListen('127.0.0.1', hostPort), true, 'stop closes the published port');
        assert.equal(net.publishing(vm).live, undefined, 'a stopped VM changes ports at its next start');

        await net.attach(vm);
        assert.equal(await fetchText(hostPort), 'from the guest\n', 'the next start publishes it again');
        await net.relay.closeAll(); // the daemon exits; the VM keeps running
        const restarted = new BridgeNetwork(leases, settings);
        const report = await restarted.sweep([vm]);
        assert.equal(report.failed, undefined);
        assert.equal(await fetchText(hostPort), 'from the guest\n', 'the restarted daemon relays the running VM\'s ports again');
        await restarted.release(vm);
        assert.equal(await canListen('127.0.0.1', hostPort), true, 'delete closes it');
      } finally {
        guest.close();
        await run(['ip', 'addr', 'del', `${ip}/32`, 'dev', 'lo']);
      }
    });

    it('a refused connection attempt is recorded per VM with its destination, count and last time, forwarded or at the host', async () => {
      const guest = `bgg-${process.pid}`;
      const net = new BridgeNetwork(leases, SETTINGS);
      const vm = mkVm('e00000000002', 'egress', { allow: ['192.0.2.7'] });
      const att = await net.attach(vm);
      const inGuest = (script: string) => runUnchecked(['ip', 'netns', 'exec', guest, 'timeout', '3', 'bash', '-c', script]);
      try {
        // A stand-in guest: a namespace on a port of the bridge with the VM's address, and a route out.
        await run(['ip', 'netns', 'add', guest]);
        await run(['ip', 'link', 'add', 'bgg0', 'type', 'veth', 'peer', 'name', 'bgg1', 'netns', guest]);
        await run(['ip', 'link', 'set', 'bgg0', 'master', SETTINGS.bridgeName, 'up']);
        await run(['ip', '-n', guest, 'addr', 'add', `${att.sshHost}/24`, 'dev', 'bgg1']);
        await run(['ip', '-n', guest, 'link', 'set', 'bgg1', 'up']);
        await run(['ip', '-n', guest, 'route', 'add', 'default', 'via', SETTINGS.bridgeIp]);
        await run(['ip', 'link', 'add', 'bgup0', 'type', 'veth', 'peer', 'name', 'bgup1']);
        await run(['ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'bgup0']);
        for (const l of ['bgup0', 'bgup1']) await run(['ip', 'link', 'set', l, 'up']);

        const before = Date.now();
        await inGuest('for i in 1 2 3; do echo x > /dev/udp/192.0.2.9/5353; done');
        await inGuest('echo x > /dev/tcp/192.0.2.9/80');
        await inGuest('echo x > /dev/tcp/10.213.0.1/8081');
        await inGuest('echo x > /dev/udp/192.0.2.7/5353');
        const r = await net.egress(vm);
        const find = (address: string, protocol: string, port: number) => r.refusedConnections?.find((c) => c.address === address && c.protocol === protocol && c.port === port);
        assert.equal(find('192.0.2.9', 'udp', 5353)?.count, 3, JSON.stringify(r.refusedConnections));
        assert.ok((find('192.0.2.9', 'tcp', 80)?.count ?? 0) >= 1, 'a refused TCP connect (its SYNs) is recorded');
        assert.ok(find('10.213.0.1', 'tcp', 8081), 'an attempt at a port of the host itself is recorded');
        assert.equal(r.refusedConnections?.some((c) => c.address === '192.0.2.7'), false, 'an allowed address is not refused');
        const last = Date.parse(find('192.0.2.9', 'udp', 5353)!.last);
        assert.ok(last >= before - 3000 && last <= Date.now(), `last time ${find('192.0.2.9', 'udp', 5353)!.last} is when it was tried`);
        assert.ok((r.droppedPackets ?? 0) >= 5);
      } finally {
        await runUnchecked(['ip', 'netns', 'del', guest]);
        await runUnchecked(['ip', 'link', 'del', 'bgup0']);
        await net.release(vm);
      }
      assert.doesNotMatch(await table(), new RegExp(`refuse-|refused-|${ruleKey(vm.id)}|${att.sshHost.replace(/\./g, '\\.')} :`), 'no refusal chain, set or map element outlives the VM');
    });

    it('--allow: an allowed name is answered and its address opened for the TTL; another name is refused and shows in egress', async () => {
      dnsmasq = spawnPiped(['dnsmasq', '--no-daemon', '--port=5399', '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts', '--address=/name1.test/10.77.0.1', '--address=/name2.test/10.77.0.2', '--local-ttl=30']);
      await new Promise((r) => setTimeout(r, 300));
      const net = new BridgeNetwork(leases, SETTINGS);
      const vm = mkVm('d00000000001', 'delta', { allow: ['name1.test'] });
      const att = await net.attach(vm);
      const dns = new GuestDns({ book: net.book, records: () => new Map([['delta', att.sshHost]]), upstream: () => ({ host: '127.0.0.1', port: 5399 }), allowAnswered: (id, addrs, ttl) => net.allowAnswered(id, addrs, ttl) });
      const ask = (name: string) => dns.answer(dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), '10.213.0.2');

      const ok = dnsPacket.decode((await ask('name1.test'))!);
      assert.deepEqual(ok.answers?.map((x) => (x as { data: string }).data), ['10.77.0.1']);
      assert.match(await nftListText(['set', 'inet', 'banger', `dns-${ruleKey(vm.id)}`]), /10\.77\.0\.1 timeout 30s/);
      const no = dnsPacket.decode((await ask('name2.test'))!);
      assert.equal((no as { rcode?: string }).rcode, 'REFUSED');
      assert.doesNotMatch(await nftListText(['set', 'inet', 'banger', `dns-${ruleKey(vm.id)}`]), /10\.77\.0\.2/);
      const vmAnswer = dnsPacket.decode((await ask('delta.vm'))!);
      assert.deepEqual(vmAnswer.answers?.map((x) => (x as { data: string }).data), ['10.213.0.2'], '.vm names are answered whatever the allowlist');
      const unknown = dnsPacket.decode((await dns.answer(dnsPacket.encode({ type: 'query', id: 8, questions: [{ type: 'A', name: 'name1.test' }] }), '10.213.0.99'))!);
      assert.equal((unknown as { rcode?: string }).rcode, 'REFUSED', 'a source that is no VM gets nothing forwarded');

      const report = await net.egress(vm);
      assert.deepEqual(report.allow, ['name1.test']);
      assert.deepEqual(report.allowed.map((r) => [r.name, r.count, r.addresses]), [['name1.test', 1, ['10.77.0.1']]]);
      assert.deepEqual(report.denied.map((r) => [r.name, r.count]), [['name2.test', 1]]);
      assert.equal(report.droppedPackets, 0);
      await net.release(vm);
      assert.doesNotMatch(await table(), /dns-|10\.213\.0\.2/);
      assert.equal((await net.egress(vm)).running, false);
    });

    it('turns net.ipv4.ip_forward on for a --nat VM when it was off, says so once, and leaves it on after the VMs stop', async () => {
      await writeFile(IP_FORWARD, '0\n');
      let told = 0;
      const net = new BridgeNetwork(leases, { ...SETTINGS, bridgeName: 'bgfwd0', bridgeIp: '10.214.0.1', onForwardingEnabled: () => told++ });
      const plain = mkVm('ab0000000001', 'fwdplain');
      await net.attach(plain);
      assert.equal(await ipv4Forwarding(), false, 'a VM without --nat or --allow leaves it off');
      const natted = mkVm('ab0000000002', 'fwdnat', { nat: true });
      await net.attach(natted);
      assert.equal(await ipv4Forwarding(), true);
      assert.equal(told, 1);
      await net.release(natted);
      await net.release(plain);
      assert.equal(await ipv4Forwarding(), true, 'left on: other software may rely on it by now');
      assert.equal(await enableIpv4Forwarding(), false, 'already on: not changed, not reported as changed');
      await net.refill();
      for (const tap of net.pooled()) await HOST_NET.deleteLink(tap);
      await HOST_NET.deleteLink('bgfwd0');
    });
  });
}
