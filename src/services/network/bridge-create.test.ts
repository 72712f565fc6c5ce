/**
 * `vm create` in bridge mode when the VM's tap cannot be made, inside a network namespace this file
 * creates: the daemon's services with a bridge-capable stand-in driver (it never launches: the tap
 * fails first), and a device of another kind already holding the next tap's name.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { BangerError } from '../../api/errors.js';
import { FakeDriver } from '../../drivers/fake/index.js';
import type { DriverCapabilities } from '../../drivers/hypervisor.js';
import { fakeEntry } from '../../drivers/registry.js';
import { run, runUnchecked } from '../../system/exec.js';
import { listLinks } from '../../system/netdev.js';
import { nftListText } from '../../system/nft.js';
import { LeaseRepo } from '../../store/leases.js';
import { fakeWorld, type FakeWorld } from '../../testing/fake-services.js';
import { runInNetns } from '../../testing/netns.js';
import { quietContext } from '../op-context.js';

/** The fake driver, claiming tap networking so that a bridge-mode create gets as far as the network. */
class TapClaimingDriver extends FakeDriver {
  override capabilities(): DriverCapabilities {
    return { ...super.capabilities(), networkModes: ['user', 'tap'] };
  }
}

if (runInNetns(import.meta.url, 'bridge-mode vm create with a failing tap')) {
  describe('bridge-mode vm create with a failing tap', () => {
    let w: FakeWorld;
    before(async () => {
      w = await fakeWorld({}, { network_mode: 'bridge', bridge_name: 'bgcr0', bridge_ip: '10.214.0.1', cidr: 24, tap_pool_size: 0 }, (k) => ({
        ...fakeEntry(k),
        create: () => new TapClaimingDriver(k),
      }));
      // The daemon made the bridge at start; now something else takes the name of the next tap.
      await run(['ip', 'link', 'add', 'bgtap0', 'type', 'veth', 'peer', 'name', 'bgother0']);
    });
    after(async () => {
      await runUnchecked(['ip', 'link', 'del', 'bgtap0']);
      await w.close();
    });

    it('fails with an error naming the tap and the bridge, and leaves no VM, lease, tap or rule', async () => {
      await assert.rejects(
        w.services.vms.create({ name: 'tapfail', allow: ['example.com'] }, quietContext()),
        (e: unknown) =>
          e instanceof BangerError && e.code === 'operation_failed' && /could not create tap bgtap0 on bridge bgcr0: /.test(e.message) && /ip link show bgtap0/.test(e.hint ?? ''),
      );
      assert.deepEqual(w.services.vms.list().map((v) => v.name), [], 'no VM row');
      assert.deepEqual(new LeaseRepo(w.db).list(), [], 'no lease');
      assert.deepEqual(readdirSync(w.layout.vmsDir), [], 'no VM directory');
      const links = await listLinks();
      assert.deepEqual(links.filter((l) => l.kind === 'tun').map((l) => l.name), [], 'no tap');
      assert.equal(links.find((l) => l.name === 'bgtap0')?.kind, 'veth', 'the device banger did not make is left alone');
      const table = await nftListText(['table', 'inet', 'banger']);
      assert.match(table, /map egress/, 'the base table is in place');
      assert.doesNotMatch(table, /vm-|nets-|dns-|deny-|refuse-|refused-|elements/, table);
      assert.doesNotMatch(await nftListText(['table', 'bridge', 'banger']), /elements/, 'no tap in the bridge table');
    });
  });
}
