/**
 * The network seam: how a VM gets a network, whatever the mode. A provider receives the whole VM
 * (its spec says whether it may reach outside), records what it hands out in the lease table, and
 * returns a typed attachment that the boot path turns into driver and guest configuration. Providers
 * that create host objects (taps, rules, DNS records) undo them in detach and sweep.
 *
 * @module
 */
import type { PublishedPort } from '../../api/ports.js';
import type { EgressReport } from '../../api/types.js';
import type { SeedNetwork } from '../../guest/seed.js';
import type { NetworkMode } from '../../drivers/hypervisor.js';
import type { VMRow } from '../../store/vms.js';

interface AttachmentBase {
  mac: string;
  /** Where the host reaches the guest's sshd. */
  sshHost: string;
  sshPort: number;
  /** What the guest configures on its interface. */
  guest: SeedNetwork;
  nameservers: string[];
}

export interface UserAttachment extends AttachmentBase {
  mode: 'user';
  /**
   * The VM's egress proxy: the socket the daemon listens on and the URL the guest uses (its
   * http_proxy). Absent when the proxy cannot run (no connector installed): the guest reaches nothing.
   */
  egressSocket?: string;
  proxy?: string;
  /** Guest ports published on sshHost (`vm run -p`, `vm forward`), checked free at attach. */
  forwards: PublishedPort[];
}

export interface TapAttachment extends AttachmentBase {
  mode: 'tap';
  tap: string;
  ip: string;
}

export type NetworkAttachment = UserAttachment | TapAttachment;

export interface SweepReport {
  /** Host objects (taps, rules, records, leases) removed because no live VM owns them. */
  removed: string[];
  /** What a running VM held and could not get back (a published port taken meanwhile, ...). */
  failed?: string[];
}

/** The hypervisor's own port forwarding on a running VM (QEMU's hostfwd), when its driver can change it live. */
export interface HypervisorPorts {
  publish(hostAddr: string, fwd: PublishedPort): Promise<void>;
  unpublish(hostAddr: string, fwd: PublishedPort): Promise<void>;
}

/** Where a VM's published ports reach the host, and how a running VM's ports change. */
export interface PortPublishing {
  /** The host address published ports bind on; undefined before the VM has one (never started). */
  hostAddr: string | undefined;
  /**
   * The guest's own address when the host reaches every port it listens on directly (bridge mode:
   * what `<name>.vm` resolves to); undefined when only published ports reach it (user mode).
   */
  guestAddr?: string;
  /** The address family the host's connections reach the guest with. */
  linkFamily: 4 | 6;
  /** Changes the running VM's published ports now; undefined when they wait for its next start. */
  live?: {
    publish(fwd: PublishedPort): Promise<void>;
    unpublish(fwd: PublishedPort): Promise<void>;
  };
}

export interface NetworkProvider {
  /** The configured mode; the attachment mode a driver must support follows from it. */
  readonly mode: 'user' | 'bridge';
  /** The driver-side network mode this provider's attachments need. */
  readonly driverMode: NetworkMode;
  /** Gives a starting VM its network; called under the VM's lock. */
  attach(vm: VMRow): Promise<NetworkAttachment>;
  /** Undoes what attach made for a VM that stopped; its lease (MAC, address) is kept for the next start. */
  detach(vm: VMRow): Promise<void>;
  /** Forgets everything the VM held, lease included (the VM is being deleted). */
  release(vm: VMRow): Promise<void>;
  /** At daemon start: removes what no VM in `live` (the VMs that are running) owns. */
  sweep(live: readonly VMRow[]): Promise<SweepReport>;
  /**
   * Applies a running VM's changed egress settings (spec.nat, spec.allow) now. Providers without it
   * apply them at the VM's next start.
   */
  update?(vm: VMRow): Promise<void>;
  /** What the VM may reach and what it tried (`vm egress`); called for any VM of this provider. */
  egress?(vm: VMRow): Promise<EgressReport>;
  /**
   * How the VM's published ports reach the host: user mode has the hypervisor bind them on the VM's
   * loopback address (`hypervisor`, absent when its driver cannot change them live); bridge mode
   * relays them from 127.0.0.1 itself. Reads only.
   */
  publishing(vm: VMRow, hypervisor: HypervisorPorts | undefined): PortPublishing;
  /** The driver-side network mode this VM's attachment needs, when it differs per VM. */
  driverModeFor?(vm: VMRow): NetworkMode;
}
