/**
 * Bridge-mode networking: one host bridge (bridge_name, bridge_ip/cidr), one tap per running VM taken
 * from a small pool of ready taps (tap_pool_size), a guest address and MAC leased per VM (the lowest
 * free address, kept across stop and start, freed on delete) and configured statically through the
 * seed disk, with banger's DNS on the bridge address as the guest's resolver. Egress is denied unless
 * the VM has `--nat` (everything) or an allowlist (its CIDRs, and the addresses banger's DNS answered
 * for its allowed names); VMs cannot reach each other unless isolate_vms = false; the host's ports are
 * closed to guests except DNS. All of it is in banger's own nftables tables (nft-rules.ts).
 *
 * The host reaches every port a guest listens on at its address (`<name>.vm`); published ports
 * (`vm run -p`, `vm forward`) are also relayed from 127.0.0.1:HOSTPORT by the daemon (port-relay.ts).
 *
 * @module
 */
import { operationFailed, unavailable, badRequest } from '../../api/errors.js';
import type { PublishedPort } from '../../api/ports.js';
import type { EgressConnectionRecord, EgressReport } from '../../api/types.js';
import { parseAllowList, type AllowEntry } from '../../model/egress.js';
import { ExecError } from '../../system/exec.js';
import * as netdev from '../../system/netdev.js';
import * as nft from '../../system/nft.js';
import { wireBridgeResolver } from '../../system/resolver.js';
import { LeaseConflictError, type LeaseRepo } from '../../store/leases.js';
import type { VMRow } from '../../store/vms.js';
import { EgressBook } from './egress-book.js';
import { renderBase, renderDnsAllow, renderVmAdd, renderVmEgress, renderVmRemove, TABLE, vmObjects, type VmRules } from './nft-rules.js';
import { refusedFromNftJson } from './refused.js';
import type { NetworkAttachment, NetworkProvider, PortPublishing, SweepReport } from './provider.js';
import { PortRelay, type RelayTarget } from './port-relay.js';
import { bridgeSubnet, contains, lowestFree, overlappingRoute, subnetString, type Subnet } from './subnet.js';
import { macFor } from './user-mode.js';

export interface BridgeSettings {
  bridgeName: string;
  bridgeIp: string;
  cidr: number;
  tapPoolSize: number;
  isolateVms: boolean;
  /** Called once the bridge is up (the guest DNS server binds to its address then). */
  onReady?: () => Promise<void>;
  /** Told when wiring systemd-resolved to the bridge failed (the bridge works; `*.vm` on the host may not). */
  onResolverError?: (err: Error) => void;
  /** Told when banger turned net.ipv4.ip_forward on (it was off); it stays on. */
  onForwardingEnabled?: () => void;
}

/** The host operations bridge mode uses (tests wrap them to inject failures). */
export interface HostNet {
  nftAvailable(): boolean;
  nftApply(script: string): Promise<void>;
  nftListJson: typeof nft.nftListJson;
  ensureBridge(name: string, addr: string, prefix: number): Promise<boolean>;
  addTap(name: string, bridge: string): Promise<void>;
  deleteLink(name: string): Promise<void>;
  listLinks(): Promise<netdev.LinkInfo[]>;
  listRoutes(): Promise<netdev.RouteInfo[]>;
  /** Turns on net.ipv4.ip_forward; true when it was off (this call changed it). */
  enableIpv4Forwarding(): Promise<boolean>;
  /** Points systemd-resolved's `*.vm` at the bridge, per link, where resolved runs (false where it does not). */
  wireResolver(link: string, bridgeIp: string): Promise<boolean>;
}

export const HOST_NET: HostNet = {
  nftAvailable: nft.nftAvailable,
  nftApply: nft.nftApply,
  nftListJson: nft.nftListJson,
  ensureBridge: netdev.ensureBridge,
  addTap: netdev.addTap,
  deleteLink: netdev.deleteLink,
  listLinks: netdev.listLinks,
  listRoutes: netdev.listRoutes,
  enableIpv4Forwarding: () => netdev.enableIpv4Forwarding(),
  wireResolver: wireBridgeResolver,
};

/** Where published ports of bridge-mode VMs listen on the host. */
export const PUBLISH_ADDR = '127.0.0.1';

export const TAP_PREFIX = netdev.TAP_PREFIX;
const TAP_NAME = netdev.TAP_NAME;

/** The key that suffixes a VM's nftables objects: its id's first 12 characters. */
export function ruleKey(vmId: string): string {
  return vmId.replace(/[^a-z0-9]/gi, '').toLowerCase().slice(0, 12);
}

/** A VM's allowlist from its spec (entries were validated when they were stored). */
export function allowOf(vm: VMRow): AllowEntry[] | undefined {
  return vm.spec.allow === undefined ? undefined : parseAllowList(vm.spec.allow);
}

export class BridgeNetwork implements NetworkProvider {
  readonly mode = 'bridge' as const;
  readonly driverMode = 'tap' as const;
  readonly book = new EgressBook();
  private readonly subnet: Subnet;
  private ready: Promise<void> | undefined;
  private readonly pool: string[] = [];
  private nextTap = 0;
  private refilling: Promise<void> | undefined;
  private forwarding = false;

  constructor(
    private readonly leases: LeaseRepo,
    private readonly settings: BridgeSettings,
    private readonly host: HostNet = HOST_NET,
    /** The daemon's relay of published ports (closed with the daemon). */
    readonly relay: PortRelay = new PortRelay(),
  ) {
    if (!netdev.isIfName(settings.bridgeName)) {
      throw badRequest(`bridge_name "${settings.bridgeName}" is not a valid interface name`, 'set bridge_name in config.toml to 1-15 letters, digits, - or _ (e.g. "banger0")');
    }
    this.subnet = bridgeSubnet(settings.bridgeIp, settings.cidr);
  }

  get gateway(): string {
    return this.settings.bridgeIp;
  }

  /** Checks the host once, makes the bridge and replaces banger's tables with their base. */
  private ensureReady(): Promise<void> {
    this.ready ??= this.prepare().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  private async prepare(): Promise<void> {
    if (!this.host.nftAvailable()) throw unavailable('bridge networking needs nftables (nft was not found)', nft.NFT_INSTALL_HINT);
    const s = this.settings;
    const clash = overlappingRoute(this.subnet, await this.host.listRoutes(), s.bridgeName);
    if (clash) {
      throw badRequest(
        `the bridge subnet ${subnetString(this.subnet)} overlaps the host route ${clash.dst}${clash.dev ? ` on ${clash.dev}` : ''}`,
        'choose a free subnet with bridge_ip and cidr in config.toml (e.g. bridge_ip = "10.213.0.1", cidr = 24)',
      );
    }
    await this.host.ensureBridge(s.bridgeName, s.bridgeIp, s.cidr);
    // Per-link resolver settings last as long as the link: set them each time the bridge is (re)made.
    await this.host.wireResolver(s.bridgeName, s.bridgeIp).catch((err: unknown) => s.onResolverError?.(err as Error));
    await this.host.nftApply(renderBase({ bridge: s.bridgeName, gateway: s.bridgeIp, isolate: s.isolateVms }));
    for (const l of await this.host.listLinks()) {
      const m = /^bgtap(\d+)$/.exec(l.name);
      if (m) this.nextTap = Math.max(this.nextTap, Number(m[1]) + 1);
    }
    await s.onReady?.();
  }

  private newTapName(): string {
    return `${TAP_PREFIX}${this.nextTap++}`;
  }

  /** A ready tap: from the pool when it has one, else made now. The pool refills in the background. */
  private async takeTap(): Promise<string> {
    const pooled = this.pool.shift();
    const tap = pooled ?? this.newTapName();
    if (!pooled) {
      try {
        await this.host.addTap(tap, this.settings.bridgeName);
      } catch (err) {
        const why = err instanceof ExecError ? err.lastLine : (err as Error).message;
        throw operationFailed(
          `could not create tap ${tap} on bridge ${this.settings.bridgeName}: ${why}`,
          `the daemon needs root (or CAP_NET_ADMIN) and /dev/net/tun; a device named ${tap} that banger did not make also stops it (ip link show ${tap})`,
          err,
        );
      }
    }
    return tap;
  }

  /** Tops the pool up to tap_pool_size (one refill at a time). */
  refill(): Promise<void> {
    if (this.refilling) return this.refilling;
    if (this.pool.length >= this.settings.tapPoolSize) return Promise.resolve();
    const p = (async () => {
      try {
        while (this.pool.length < this.settings.tapPoolSize) {
          const tap = this.newTapName();
          await this.host.addTap(tap, this.settings.bridgeName);
          this.pool.push(tap);
        }
      } catch {
        /* a pool that cannot fill is not an error: taps are made on demand */
      }
    })();
    this.refilling = p.finally(() => {
      if (this.refilling === settled) this.refilling = undefined;
    });
    const settled = this.refilling;
    return settled;
  }

  /** The idle taps of the pool (for status and tests). */
  pooled(): readonly string[] {
    return [...this.pool];
  }

  private rulesFor(vm: VMRow, ip: string, mac: string, tap: string): VmRules {
    const allow = allowOf(vm);
    return { key: ruleKey(vm.id), tap, ip, mac, nat: vm.spec.nat, ...(allow ? { allow } : {}) };
  }

  private pickAddress(vm: VMRow): { ip: string; mac: string } {
    const prior = this.leases.get(vm.id);
    const taken = new Set(this.leases.list().filter((l) => l.vmId !== vm.id && l.ip !== undefined).map((l) => l.ip!));
    const ip = prior?.ip && prior.mode === 'tap' && contains(this.subnet, prior.ip) && !taken.has(prior.ip) ? prior.ip : lowestFree(this.subnet, taken);
    if (!ip) throw operationFailed(`no free address left in ${subnetString(this.subnet)}`, 'delete VMs you no longer need, or widen the subnet with cidr in config.toml');
    return { ip, mac: prior?.mac ?? macFor(vm.id) };
  }

  async attach(vm: VMRow): Promise<NetworkAttachment> {
    await this.ensureReady();
    const prior = this.leases.get(vm.id);
    let { ip, mac } = this.pickAddress(vm);
    const tap = await this.takeTap();
    let rules: VmRules | undefined;
    let ruled = false;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          this.leases.put({ vmId: vm.id, mode: 'tap', mac, ip, tap });
          break;
        } catch (err) {
          if (!(err instanceof LeaseConflictError) || attempt >= 16) throw err;
          mac = macFor(vm.id, attempt);
          ({ ip } = this.pickAddress(vm));
        }
      }
      rules = this.rulesFor(vm, ip, mac, tap);
      if (vm.spec.nat || rules.allow) await this.forwardingOn();
      await this.host.nftApply(renderVmAdd(rules));
      ruled = true;
      for (const f of vm.spec.ports ?? []) await this.relay.open(this.relayTarget(vm, ip), f);
    } catch (err) {
      await this.relay.closeVm(vm.id);
      if (ruled) await this.removeRules(vm, tap, ip, mac).catch(() => undefined);
      await this.host.deleteLink(tap).catch(() => undefined);
      if (prior) this.leases.put({ vmId: prior.vmId, mode: prior.mode, mac: prior.mac, ...(prior.ip ? { ip: prior.ip } : {}) });
      else this.leases.delete(vm.id);
      throw err;
    } finally {
      // The pool is topped up once this VM's own network is in place, not in competition with it.
      setImmediate(() => void this.refill());
    }
    this.book.set({ vmId: vm.id, vmName: vm.name, key: rules.key, ip, nat: vm.spec.nat, ...(rules.allow ? { allow: rules.allow } : {}) });
    return {
      mode: 'tap',
      tap,
      ip,
      mac,
      sshHost: ip,
      sshPort: 22,
      guest: { mode: 'static', address: ip, prefix: this.subnet.prefix, gateway: this.settings.bridgeIp },
      nameservers: [this.settings.bridgeIp],
    };
  }

  private relayTarget(vm: VMRow, guestAddr: string): RelayTarget {
    return { vmId: vm.id, vmName: vm.name, listenAddr: PUBLISH_ADDR, guestAddr };
  }

  /** Published ports listen on 127.0.0.1 and are relayed to the guest's address; the host reaches its other ports there directly. */
  publishing(vm: VMRow): PortPublishing {
    const lease = this.leases.get(vm.id);
    const ip = lease?.mode === 'tap' ? lease.ip : undefined;
    const attached = ip !== undefined && lease?.tap !== undefined && this.book.get(vm.id) !== undefined;
    return {
      hostAddr: PUBLISH_ADDR,
      linkFamily: 4,
      ...(ip ? { guestAddr: ip } : {}),
      ...(attached
        ? { live: { publish: (f: PublishedPort) => this.relay.open(this.relayTarget(vm, ip), f), unpublish: (f: PublishedPort) => this.relay.close(vm.id, f.hostPort) } }
        : {}),
    };
  }

  private async forwardingOn(): Promise<void> {
    if (this.forwarding) return;
    if (await this.host.enableIpv4Forwarding()) this.settings.onForwardingEnabled?.();
    this.forwarding = true;
  }

  /** Removes the VM's published ports, tap and rules; its address and MAC stay leased. */
  async detach(vm: VMRow): Promise<void> {
    await this.relay.closeVm(vm.id);
    const lease = this.leases.get(vm.id);
    this.book.delete(vm.id);
    if (!lease || lease.mode !== 'tap' || !lease.tap) return;
    await this.removeRules(vm, lease.tap, lease.ip, lease.mac);
    if (TAP_NAME.test(lease.tap)) await this.host.deleteLink(lease.tap);
    this.leases.put({ vmId: vm.id, mode: 'tap', mac: lease.mac, ...(lease.ip ? { ip: lease.ip } : {}) });
  }

  private async removeRules(vm: VMRow, tap: string, ip: string | undefined, mac: string): Promise<void> {
    if (!ip || !this.ready) return;
    const script = renderVmRemove(this.rulesFor(vm, ip, mac, tap));
    // Deleting what a failed attach never added fails the whole transaction; remove line by line then.
    await this.host.nftApply(script).catch(async () => {
      for (const line of script.split('\n').filter((l) => l.trim() !== '')) await this.host.nftApply(`${line}\n`).catch(() => undefined);
    });
  }

  async release(vm: VMRow): Promise<void> {
    await this.detach(vm);
    this.leases.delete(vm.id);
  }

  /**
   * At daemon start: rebuilds banger's tables and published ports for the VMs still running, deletes
   * every bgtap the live VMs do not hold, forgets taps recorded for VMs that are not running, and
   * refills the pool.
   */
  async sweep(live: readonly VMRow[]): Promise<SweepReport> {
    const removed: string[] = [];
    const failed: string[] = [];
    const mine = live.filter((v) => this.leases.get(v.id)?.mode === 'tap');
    if (mine.length === 0 && !this.leases.list().some((l) => l.mode === 'tap') && !this.host.nftAvailable()) return { removed };
    await this.ensureReady();
    await this.refilling; // a refill running now would add taps the listing below misses
    const held = new Set<string>();
    const relayed = new Set<string>();
    for (const vm of mine) {
      const l = this.leases.get(vm.id)!;
      if (!l.tap || !l.ip) continue;
      held.add(l.tap);
      const rules = this.rulesFor(vm, l.ip, l.mac, l.tap);
      if (vm.spec.nat || rules.allow) await this.forwardingOn();
      await this.host.nftApply(renderVmAdd(rules));
      this.book.set({ vmId: vm.id, vmName: vm.name, key: rules.key, ip: l.ip, nat: vm.spec.nat, ...(rules.allow ? { allow: rules.allow } : {}) });
      relayed.add(vm.id);
      for (const f of vm.spec.ports ?? []) {
        await this.relay.open(this.relayTarget(vm, l.ip), f).catch((err: unknown) => failed.push(`published port ${PUBLISH_ADDR}:${f.hostPort} of vm ${vm.name}: ${(err as Error).message}`));
      }
    }
    for (const id of this.relay.vmIds()) {
      if (relayed.has(id)) continue;
      for (const f of this.relay.list(id)) removed.push(`published port ${PUBLISH_ADDR}:${f.hostPort} of ${id}`);
      await this.relay.closeVm(id);
    }
    const running = new Set(live.map((v) => v.id));
    for (const l of this.leases.list()) {
      if (l.mode === 'tap' && l.tap && !running.has(l.vmId)) {
        this.leases.put({ vmId: l.vmId, mode: 'tap', mac: l.mac, ...(l.ip ? { ip: l.ip } : {}) });
        removed.push(`tap ${l.tap} of ${l.vmId}`);
      }
    }
    for (const link of await this.host.listLinks()) {
      if (TAP_NAME.test(link.name) && !held.has(link.name)) {
        await this.host.deleteLink(link.name);
        if (!removed.some((r) => r.startsWith(`tap ${link.name} `))) removed.push(`tap ${link.name}`);
      }
    }
    this.pool.length = 0;
    void this.refill();
    return { removed, ...(failed.length ? { failed } : {}) };
  }

  async update(vm: VMRow): Promise<void> {
    const entry = this.book.get(vm.id);
    const lease = this.leases.get(vm.id);
    if (!entry || !lease?.tap || !lease.ip) return;
    const rules = this.rulesFor(vm, lease.ip, lease.mac, lease.tap);
    if (vm.spec.nat || rules.allow) await this.forwardingOn();
    await this.host.nftApply(renderVmEgress(rules, { nat: entry.nat, ...(entry.allow ? { allow: entry.allow } : {}) }));
    const keep = { allowed: entry.allowed, denied: entry.denied };
    const next = this.book.set({ vmId: vm.id, vmName: vm.name, key: rules.key, ip: lease.ip, nat: vm.spec.nat, ...(rules.allow ? { allow: rules.allow } : {}) });
    next.allowed = keep.allowed;
    next.denied = keep.denied;
  }

  /** Lets the VM reach what an allowed DNS answer gave it, for the answer's TTL. */
  async allowAnswered(vmId: string, addrs: readonly string[], ttl: number): Promise<void> {
    const e = this.book.get(vmId);
    if (!e) return;
    const script = renderDnsAllow(e.key, addrs, ttl);
    if (script) await this.host.nftApply(script);
  }

  async egress(vm: VMRow): Promise<EgressReport> {
    const e = this.book.get(vm.id);
    const allow = vm.spec.allow;
    let dropped: number | undefined;
    let refused: EgressConnectionRecord[] | undefined;
    if (e) {
      const o = vmObjects(e.key);
      const j = await this.host.nftListJson(['counter', 'inet', TABLE, o.counter]).catch(() => undefined);
      const c = j?.nftables.find((x) => 'counter' in x)?.counter as { packets?: number } | undefined;
      dropped = c?.packets;
      const set = await this.host.nftListJson(['set', 'inet', TABLE, o.refused]).catch(() => undefined);
      if (set) refused = refusedFromNftJson(set);
    }
    return {
      name: vm.name,
      mode: 'bridge',
      running: Boolean(e),
      nat: vm.spec.nat,
      ...(allow !== undefined ? { allow } : {}),
      allowed: e ? [...e.allowed.values()] : [],
      denied: e ? [...e.denied.values()] : [],
      ...(dropped !== undefined ? { droppedPackets: dropped } : {}),
      ...(refused ? { refusedConnections: refused } : {}),
      note:
        allow !== undefined
          ? `bridge mode: only the allowlist is reachable (names through banger's DNS at ${this.settings.bridgeIp}); every other connection attempt is dropped and recorded`
          : vm.spec.nat
            ? 'bridge mode: --nat, all egress allowed (attempts at the host\'s own ports are dropped and recorded)'
            : 'bridge mode: no egress (no --nat, no allowlist); every connection attempt is dropped and recorded',
    };
  }
}
