/**
 * banger's root helper over its real socket, inside a network namespace this file creates: the real
 * entry point (bangerd --helper) runs as root with only its unit's capabilities and serves a throwaway
 * owner. Requests outside its closed set are refused and change nothing; peers other than the owner
 * and root are refused; its operations make real bridges, taps (owned by the owner's uid) and rules in
 * banger's tables, and bridge mode drives it through the same contract as in-process.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { run, runUnchecked, which } from '../exec.js';
import { IP_FORWARD, linkKind, listLinks, tapOwner } from '../netdev.js';
import { nftListText } from '../nft.js';
import type { LocalUser } from '../users.js';
import { openStore } from '../../store/db.js';
import { LeaseRepo } from '../../store/leases.js';
import { VMRepo, type VMRow } from '../../store/vms.js';
import { BridgeNetwork } from '../../services/network/bridge.js';
import { helperHostNet } from '../../services/network/helper-host-net.js';
import { renderBase, renderTeardown } from '../../services/network/nft-rules.js';
import { runInNetns } from '../../testing/netns.js';
import { startRootHelper, type HelperProcess } from '../../testing/root-helper-process.js';
import { addThrowawayUser, removeThrowawayUser, runAsUser, socketClientArgv, throwawayUserSkip } from '../../testing/throwaway-user.js';
import { HelperClient } from './client.js';
import { HelperError, type HelperErrorCode } from './protocol.js';

const BRIDGE = 'bghelp0';
/** Allowed to the helper, but made a tap by the test: the helper must not treat it as a bridge. */
const IMPOSTOR = 'bghelp1';

if (runInNetns(import.meta.url, 'root helper', 180_000)) {
  describe('root helper over its socket', { skip: throwawayUserSkip(), timeout: 170_000 }, () => {
    let dir = '';
    let owner: LocalUser;
    let other: LocalUser;
    let helper: HelperProcess;
    let client: HelperClient;

    const refusedWith = (code: HelperErrorCode, message?: RegExp) => (err: unknown) => {
      assert.ok(err instanceof HelperError, `a HelperError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      if (message) assert.match(err.message, message);
      return true;
    };

    before(async () => {
      owner = await addThrowawayUser('bgo');
      other = await addThrowawayUser('bgx');
      dir = mkdtempSync('/tmp/bgh-');
      chmodSync(dir, 0o711);
      mkdirSync(join(dir, 'root'), { mode: 0o711 });
      helper = await startRootHelper({ owner: owner.name, socket: join(dir, 'root', 'helper.sock'), bridges: [BRIDGE, IMPOSTOR], logFile: join(dir, 'helper.log') });
      client = new HelperClient(helper.socket, 30_000);
    });
    after(async () => {
      await helper?.stop();
      await removeThrowawayUser(owner);
      await removeThrowawayUser(other);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('listens on a socket of mode 0600 owned by the owner', () => {
      const st = statSync(helper.socket);
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(st.uid, owner.uid);
    });

    it('refuses requests outside its closed set, with a typed error, and changes nothing', async () => {
      const linksBefore = (await listLinks()).map((l) => l.name).sort();
      await assert.rejects(client.call({ op: 'exec', argv: ['sh', '-c', 'id'] }), refusedWith('unknown_op'));
      await assert.rejects(client.call({ op: 'add_tap', name: 'eth0', bridge: BRIDGE }), refusedWith('invalid_name', /bgtap<N>/));
      await assert.rejects(client.call({ op: 'add_tap', name: 'bgtap1', bridge: 'docker0' }), refusedWith('invalid_name', /not banger's bridge/));
      await assert.rejects(client.call({ op: 'ensure_bridge', name: 'lo', addr: '10.0.0.1', prefix: 24 }), refusedWith('invalid_name'));
      await assert.rejects(client.call({ op: 'ensure_bridge', name: BRIDGE, addr: '10.0.0.1; reboot', prefix: 24 }), refusedWith('bad_request'));
      await assert.rejects(client.call({ op: 'delete_tap', name: 'lo' }), refusedWith('invalid_name'));
      await assert.rejects(client.call({ op: 'wire_resolver', link: 'lo', addr: '127.0.0.1' }), refusedWith('invalid_name'));
      for (const script of [
        'flush ruleset\n',
        'add table ip filter\n',
        'add rule inet filter input drop\n',
        'add table inet banger; flush ruleset\n',
        'table inet banger {\n}\ntable ip smuggled {\n}\n',
        'table inet banger { } table ip smuggled { }\n',
        'include "/etc/nftables.conf"\n',
        'define x = 1\nadd table inet banger\n',
        'add table inet bangerx\n',
        'delete table inet "banger"\n',
      ]) {
        await assert.rejects(client.call({ op: 'nft_apply', script }), refusedWith('outside_banger'), script);
      }
      await assert.rejects(client.call({ op: 'nft_list', what: ['ruleset'] }), refusedWith('outside_banger'));
      await assert.rejects(client.call({ op: 'nft_list', what: ['table', 'ip', 'filter'] }), refusedWith('outside_banger'));
      // No request names a file: the sysctl it writes is fixed, and a path cannot be slipped in.
      await assert.rejects(client.call({ op: 'enable_ip_forward', path: '/proc/sys/kernel/core_pattern' }), refusedWith('bad_request', /takes no path/));
      await assert.rejects(client.call({ op: 'add_tap', name: 'bgtap1', bridge: BRIDGE, user: 0 }), refusedWith('bad_request', /takes no user/));
      const raw = await runUnchecked(socketClientArgv(helper.socket, 'not json'));
      assert.equal((JSON.parse(raw.stdout) as { code: string }).code, 'bad_request');
      assert.equal((await nftListText(['ruleset'])).trim(), '', 'no rule anywhere');
      assert.deepEqual((await listLinks()).map((l) => l.name).sort(), linksBefore, 'no link made or deleted');
      assert.equal(readFileSync(IP_FORWARD, 'utf8').trim(), '0');
    });

    it('serves the owner and root; another user cannot even connect, and is refused by uid when the socket is opened up', async () => {
      const ping = { op: 'ping' };
      const mine = await runAsUser(owner, socketClientArgv(helper.socket, ping));
      assert.equal((JSON.parse(mine.stdout) as { ok: boolean }).ok, true, mine.stdout + mine.stderr);
      assert.equal((await client.call<{ ownerUid: number }>(ping)).ownerUid, owner.uid);
      const theirs = await runAsUser(other, socketClientArgv(helper.socket, ping));
      assert.equal(theirs.stdout.trim(), 'error EACCES');
      chmodSync(helper.socket, 0o666);
      try {
        const opened = await runAsUser(other, socketClientArgv(helper.socket, { op: 'add_tap', name: 'bgtap5', bridge: BRIDGE }));
        const res = JSON.parse(opened.stdout) as { ok: boolean; code: string; message: string };
        assert.equal(res.ok, false);
        assert.equal(res.code, 'peer_refused');
        assert.match(res.message, new RegExp(`uid ${other.uid} may not use banger's root helper`));
      } finally {
        chmodSync(helper.socket, 0o600);
      }
      assert.equal(await linkKind('bgtap5'), undefined, 'the refused request made nothing');
      assert.match(helper.log(), /peer refused/);
    });

    it('makes banger\'s bridge and taps the owner may open, deletes only taps, and refuses devices that are not what the name says', async () => {
      assert.equal(await client.call({ op: 'ensure_bridge', name: BRIDGE, addr: '10.214.0.1', prefix: 24 }), true);
      assert.equal(await linkKind(BRIDGE), 'bridge');
      assert.equal(await client.call({ op: 'ensure_bridge', name: BRIDGE, addr: '10.214.0.1', prefix: 24 }), false, 'an existing bridge is kept');
      await client.call({ op: 'add_tap', name: 'bgtap7', bridge: BRIDGE });
      const tap = (await listLinks()).find((l) => l.name === 'bgtap7');
      assert.equal(tap?.master, BRIDGE);
      assert.equal(await tapOwner('bgtap7'), owner.uid, 'the tap is reserved for the owner');
      const qemu = which('qemu-system-x86_64');
      if (qemu) {
        // QEMU without a machine only opens its netdev: the owner's keeps running, another user's is refused.
        const open = (u: LocalUser) => runAsUser(u, [qemu, '-M', 'none', '-nodefaults', '-display', 'none', '-netdev', 'tap,id=n,ifname=bgtap7,script=no,downscript=no'], { timeoutMs: 3000 });
        const mine = await open(owner);
        assert.equal(mine.timedOut, true, `the owner's QEMU opened the tap and ran:\n${mine.stderr}`);
        const theirs = await open(other);
        assert.equal(theirs.timedOut, false);
        assert.match(theirs.stderr, /could not configure \/dev\/net\/tun \(bgtap7\): Operation not permitted/);
      }
      await client.call({ op: 'delete_tap', name: 'bgtap7' });
      assert.equal(await linkKind('bgtap7'), undefined);
      await run(['ip', 'link', 'add', 'bgtap8', 'type', 'bridge']);
      await run(['ip', 'tuntap', 'add', 'dev', IMPOSTOR, 'mode', 'tap']);
      try {
        await assert.rejects(client.call({ op: 'delete_tap', name: 'bgtap8' }), refusedWith('outside_banger', /bridge device, not a tap/));
        assert.equal(await linkKind('bgtap8'), 'bridge', 'still there');
        await assert.rejects(client.call({ op: 'ensure_bridge', name: IMPOSTOR, addr: '10.215.0.1', prefix: 24 }), refusedWith('outside_banger', /not a bridge/));
      } finally {
        await run(['ip', 'link', 'del', 'bgtap8']);
        await run(['ip', 'link', 'del', IMPOSTOR]);
      }
      assert.equal(await client.call({ op: 'enable_ip_forward' }), true, 'it was off in the fresh namespace');
      assert.equal(readFileSync(IP_FORWARD, 'utf8').trim(), '1');
      assert.equal(await client.call({ op: 'enable_ip_forward' }), false);
      await run(['ip', 'link', 'del', BRIDGE]);
    });

    it('applies and lists rules in banger\'s tables, and tears them down', async () => {
      await client.call({ op: 'nft_apply', script: renderBase({ bridge: BRIDGE, gateway: '10.214.0.1', isolate: true }) });
      assert.match(await nftListText(['table', 'inet', 'banger']), /chain forward/);
      const listed = await client.call<{ nftables: Record<string, unknown>[] }>({ op: 'nft_list', what: ['table', 'bridge', 'banger'] });
      assert.ok(listed.nftables.some((o) => 'table' in o));
      assert.equal(await client.call({ op: 'nft_list', what: ['set', 'inet', 'banger', 'nosuch'] }), null);
      await client.call({ op: 'nft_apply', script: renderTeardown() });
      assert.equal((await nftListText(['ruleset'])).trim(), '');
    });

    describe('bridge mode through the helper', () => {
      let db: Database;
      before(() => {
        db = openStore(join(dir, 'state.db'));
      });
      after(() => db.close());

      it('attaches a VM (tap owned by the owner, rules in banger\'s tables) and undoes it all on release', async () => {
        const vms = new VMRepo(db);
        const leases = new LeaseRepo(db);
        const now = new Date().toISOString();
        const vm: VMRow = { id: 'a1b2c3d4e5f60718', name: 'split', imageId: 'i', state: 'running', spec: { vcpu: 1, memoryMiB: 256, diskSizeBytes: 1, nat: true }, runtime: {}, createdAt: now, updatedAt: now };
        vms.insert(vm);
        const net = new BridgeNetwork(leases, { bridgeName: BRIDGE, bridgeIp: '10.214.0.1', cidr: 24, tapPoolSize: 0, isolateVms: true }, helperHostNet(client));
        try {
          const a = await net.attach(vm);
          assert.equal(a.mode, 'tap');
          if (a.mode !== 'tap') return;
          assert.equal(await tapOwner(a.tap), owner.uid);
          assert.equal((await listLinks()).find((l) => l.name === a.tap)?.master, BRIDGE);
          assert.match(await nftListText(['table', 'inet', 'banger']), new RegExp(`${a.ip.replace(/\./g, '\\.')} : accept`));
          const report = await net.egress(vm);
          assert.equal(report.droppedPackets, 0, 'the counter is read through the helper');
          await net.release(vm);
          assert.equal(await linkKind(a.tap), undefined);
          assert.doesNotMatch(await nftListText(['table', 'inet', 'banger']), new RegExp(a.ip.replace(/\./g, '\\.')));
        } finally {
          await net.relay.closeAll();
          await client.call({ op: 'nft_apply', script: renderTeardown() });
          await runUnchecked(['ip', 'link', 'del', BRIDGE]);
        }
      });
    });
  });
}
