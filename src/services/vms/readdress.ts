/**
 * A VM restored from another's saved state in bridge mode runs on its own tap, but its guest still
 * holds the source's MAC, address and route. Before anything reaches it over the network, the host
 * tells it its own over the driver's guest channel (firecracker's vsock, which needs no address):
 * `readdress MAC CIDR GATEWAY [DNS...]` (model/guest-address.ts, guest/channel.ts). The refusals here
 * say up front when that cannot work: a driver without a guest channel, or guest bits older than the
 * command. This module writes no VM state.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { badRequest, operationFailed } from '../../api/errors.js';
import type { SSHTarget } from '../../api/types.js';
import type { HypervisorDriver, VMHandle } from '../../drivers/hypervisor.js';
import { exec as sshExec } from '../../drivers/ssh/client.js';
import { GUEST_BITS_MARKER } from '../../guest/index.js';
import type { SeedNetwork } from '../../guest/seed.js';
import { guestBitsReaddress, parseReaddressAnswer, readdressCommand, READDRESS_GUEST_BITS } from '../../model/guest-address.js';
import type { SnapshotManifest } from './snapshot-manifest.js';

/** How long the guest channel may take to answer after a load (its socket unit was listening when saved). */
const CHANNEL_WAIT_MS = 15_000;

const REBUILD_HINT = 'rebuild or pull the image again (its guest bits then answer readdress), boot a VM from it, and snapshot that one';

/** Why a bridge-mode VM cannot be saved for restoring as new VMs, or undefined when it can. */
export function saveProblem(driver: HypervisorDriver, name: string, guestBits: number | undefined): ReturnType<typeof badRequest> | undefined {
  if (!driver.guestChannel) {
    return badRequest(
      `vm ${name} uses bridge networking, and snapshots of bridge-mode VMs are not supported yet (a restored guest would keep its source's address)`,
      'snapshot a user-mode VM (created with --network user)',
    );
  }
  if (!guestBitsReaddress(guestBits)) {
    return badRequest(
      `vm ${name} runs guest bits ${guestBits === undefined ? 'of an unknown version' : `version ${guestBits}`}, older than ${READDRESS_GUEST_BITS}, which a bridge-mode snapshot needs (a restored copy is re-addressed over the guest channel)`,
      REBUILD_HINT,
    );
  }
  return undefined;
}

/** Refuses a bridge-mode snapshot a new VM cannot be restored from with its own address. */
export function refuseUnaddressable(manifest: SnapshotManifest, driver: HypervisorDriver): void {
  if (manifest.machine.network !== 'tap') return;
  const name = driver.capabilities().name;
  if (!driver.guestChannel) {
    throw badRequest(`snapshot ${manifest.name} was saved from a bridge-mode VM, and the ${name} driver has no guest channel to give a restored copy its own address`, `restore it with the driver that saved it (${manifest.driver.driver})`);
  }
  if (!guestBitsReaddress(manifest.guestBits)) {
    throw badRequest(
      `snapshot ${manifest.name} holds guest bits ${manifest.guestBits === undefined ? 'of an unknown version' : `version ${manifest.guestBits}`}, older than ${READDRESS_GUEST_BITS}, so a restored VM could not take its own address (it would keep ${manifest.source.vmName}'s)`,
      REBUILD_HINT,
    );
  }
}

/** The guest bits version a running guest carries (its marker file), or undefined when it has none. */
export async function guestBitsOf(target: SSHTarget, signal?: AbortSignal): Promise<number | undefined> {
  const r = await sshExec(target, ['cat', GUEST_BITS_MARKER], { timeoutMs: 30_000, connectTimeoutS: 10, ...(signal ? { signal } : {}) });
  if (r.code !== 0) return undefined;
  const m = /^version=(\d+)$/m.exec(r.stdout);
  return m ? Number(m[1]) : undefined;
}

export interface NewAddress {
  mac: string;
  guest: SeedNetwork;
  nameservers: readonly string[];
}

/**
 * Gives a restored guest its own MAC, address, route and resolvers over the guest channel; resolves
 * once the guest said it has them. The channel is retried while it does not answer (just after a load).
 */
export async function readdressRestored(driver: HypervisorDriver, handle: VMHandle, name: string, net: NewAddress, signal?: AbortSignal): Promise<void> {
  if (!driver.guestChannel) throw operationFailed(`the ${driver.capabilities().name} driver has no guest channel to give vm ${name} its own address`);
  if (net.guest.mode !== 'static') throw operationFailed(`vm ${name} got no static address to take on (its network is ${net.guest.mode})`);
  const line = readdressCommand({ mac: net.mac, address: net.guest.address, prefix: net.guest.prefix, gateway: net.guest.gateway, nameservers: net.nameservers });
  const cidr = `${net.guest.address}/${net.guest.prefix}`;
  const deadline = Date.now() + CHANNEL_WAIT_MS;
  let answer: string | undefined;
  let last = '';
  while (answer === undefined) {
    signal?.throwIfAborted();
    try {
      answer = (await driver.guestChannel(handle, line as `readdress ${string}`, { timeoutMs: 10_000 })).trim();
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
      if (Date.now() >= deadline) throw operationFailed(`could not give vm ${name} its own address: the guest channel did not answer (${last})`, `see its console with banger vm logs ${name}`);
      await sleep(200);
    }
  }
  if (answer.startsWith('error unknown command')) {
    throw operationFailed(`could not give vm ${name} its own address: its guest bits do not know readdress (older than ${READDRESS_GUEST_BITS})`, REBUILD_HINT);
  }
  const ok = parseReaddressAnswer(answer);
  if (!ok) throw operationFailed(`could not give vm ${name} its own address: the guest said "${answer.slice(0, 200)}"`, `see its console with banger vm logs ${name}`);
  if (ok.mac !== net.mac || ok.cidr !== cidr) throw operationFailed(`vm ${name} reports ${ok.mac} ${ok.cidr} on ${ok.dev} after readdress, not ${net.mac} ${cidr}`);
}
