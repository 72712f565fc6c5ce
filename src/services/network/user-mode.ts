/**
 * Rootless user-mode networking, default deny: the hypervisor's user network is restricted (QEMU
 * slirp `restrict=on`: the guest reaches nothing, not the outside and not the host, and the forwards
 * below still work). Its one opening is banger's egress proxy (egress-proxy.ts), reached by the guest
 * at 10.0.2.100:3128 and named in its http_proxy/https_proxy: with `--nat` it carries the guest's
 * HTTP and HTTPS (anything that speaks CONNECT) out through the daemon's sockets, with `--allow` only
 * to the allowlist, and never to the host itself; without either it refuses. The policy changes live.
 * What needs bridge mode: transparent egress (tools that ignore proxy settings, raw TCP, UDP) and
 * packet-level enforcement. The guest's sshd and its published ports are forwarded to the VM's own
 * loopback address.
 *
 * `.vm` names: banger's DNS answers them on the host (`<name>.vm` is the VM's loopback address). A
 * guest has no use for them in user mode: another VM's 127.77.x.y is the guest's own loopback, and
 * VMs cannot reach each other; that is bridge mode. Each VM leases one address from 127.77.0.0/16 (kept across stop and start,
 * freed on delete; Linux routes all of 127/8 to `lo`, so no alias is configured), which `<name>.vm`
 * resolves to. The forward uses port 22 when this process may bind it there (root, or
 * CAP_NET_BIND_SERVICE, which the hypervisor it starts inherits), else a free port on that address.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { canListen, freeLoopbackPort } from '../../system/net.js';
import { alreadyExists, unavailable } from '../../api/errors.js';
import type { EgressReport } from '../../api/types.js';
import { parseAllowList } from '../../model/egress.js';
import { which } from '../../system/exec.js';
import { EGRESS_PROXY_URL, type EgressPolicy, type EgressProxy } from './egress-proxy.js';
import { LeaseConflictError, type Lease, type LeaseRepo } from '../../store/leases.js';
import type { VMRow } from '../../store/vms.js';
import type { SeedNetwork } from '../../guest/seed.js';
import type { HypervisorPorts, NetworkAttachment, NetworkProvider, PortPublishing, SweepReport } from './provider.js';

/** DNS of QEMU's user-mode network, as its built-in DHCP hands it out. */
const USER_MODE_DNS = '10.0.2.3';
/**
 * The guest's address in QEMU's user-mode network: the one its built-in DHCP hands the first (here the
 * only) guest, on slirp's default 10.0.2.0/24 with slirp itself at .2. It is given as a static address,
 * so a guest can put it on its network card before networkd gets the card from udev (a trimmed boot's
 * seed does); DHCP would hand out the same.
 */
const USER_MODE_GUEST: SeedNetwork = { mode: 'static', address: '10.0.2.15', prefix: 24, gateway: '10.0.2.2' };
/** The loopback block VM addresses come from. */
export const VM_LOOPBACK_PREFIX = '127.77.';
const SSH_PORT = 22;
/** Host parts .1-.254 in each of the 256 /24s: .0 and .255 are skipped. */
const ADDRESS_SLOTS = 256 * 254;

/** Whether `addr` is a VM loopback address this provider hands out. */
export function isVmLoopback(addr: string | undefined): boolean {
  const m = /^127\.77\.(\d{1,3})\.(\d{1,3})$/.exec(addr ?? '');
  return !!m && Number(m[1]) <= 255 && Number(m[2]) >= 1 && Number(m[2]) <= 254;
}

function hashOf(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** A locally administered unicast MAC derived from the VM id (attempt > 0 picks another on a clash). */
export function macFor(vmId: string, attempt = 0): string {
  const h = hashOf(`${vmId}/${attempt}`);
  const b = [0x52, 0x54, 0x00, h[0]!, h[1]!, h[2]!];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The VM's loopback address: derived from its id, attempt > 0 picks another on a clash. */
export function loopbackFor(vmId: string, attempt = 0): string {
  const slot = hashOf(`${vmId}/addr/${attempt}`).readUInt32BE(0) % ADDRESS_SLOTS;
  return `${VM_LOOPBACK_PREFIX}${Math.floor(slot / 254)}.${(slot % 254) + 1}`;
}

/** How the provider probes host ports (injectable for tests). */
export interface PortProbe {
  canListen(host: string, port: number): Promise<boolean>;
  freePort(host: string): Promise<number>;
}

const HOST_PORTS: PortProbe = { canListen, freePort: freeLoopbackPort };

/** The program QEMU starts per guest connection to the proxy (it joins the connection to the VM's socket). */
export const EGRESS_CONNECTOR = 'socat';
export const EGRESS_CONNECTOR_HINT = 'install socat (apt-get install socat), then start the VM again';

/** The egress proxy and where each VM's socket lives. */
export interface UserEgress {
  proxy: EgressProxy;
  socketFor(vmId: string): string;
  /** Whether the connector QEMU starts is installed (default: socat on PATH). */
  connectorAvailable?(): boolean;
}

export function policyOf(vm: VMRow): EgressPolicy {
  return { vmName: vm.name, nat: vm.spec.nat, ...(vm.spec.allow !== undefined ? { allow: parseAllowList(vm.spec.allow) } : {}) };
}

export const USER_MODE_EGRESS_NOTE = {
  off: `user mode: no egress (no --nat, no allowlist); the guest's proxy (${EGRESS_PROXY_URL}) refuses everything`,
  nat: `user mode: --nat, HTTP and HTTPS through banger's proxy (${EGRESS_PROXY_URL}, the guest's http_proxy/https_proxy), never to the host itself; other traffic needs bridge mode`,
  allow: `user mode: only the allowlist, checked by name or address at banger's proxy (${EGRESS_PROXY_URL}) for HTTP and HTTPS; the host itself never; other traffic needs bridge mode`,
} as const;

export class UserModeNetwork implements NetworkProvider {
  readonly mode = 'user' as const;
  readonly driverMode = 'user' as const;

  constructor(
    private readonly leases: LeaseRepo,
    private readonly ports: PortProbe = HOST_PORTS,
    private readonly egressProxy?: UserEgress,
  ) {}

  private connectorAvailable(): boolean {
    return this.egressProxy?.connectorAvailable?.() ?? which(EGRESS_CONNECTOR) !== undefined;
  }

  /** Starts the VM's proxy listener; undefined when there is no proxy, or no connector and no egress asked for. */
  private async openEgress(vm: VMRow): Promise<string | undefined> {
    const e = this.egressProxy;
    if (!e) return undefined;
    const wanted = vm.spec.nat || vm.spec.allow !== undefined;
    if (!this.connectorAvailable()) {
      if (wanted) throw unavailable(`${EGRESS_CONNECTOR} is not installed; vm ${vm.name} needs it for egress in user mode`, EGRESS_CONNECTOR_HINT);
      return undefined;
    }
    const socket = e.socketFor(vm.id);
    await e.proxy.listen(vm.id, socket, policyOf(vm));
    return socket;
  }

  async attach(vm: VMRow): Promise<NetworkAttachment> {
    const prior = this.leases.get(vm.id);
    for (let attempt = 0; attempt < 16; attempt++) {
      const keep = attempt === 0 && prior;
      const mac = keep ? prior.mac : macFor(vm.id, attempt);
      const addr = keep && isVmLoopback(prior.ip) ? prior.ip! : loopbackFor(vm.id, attempt);
      const port = (await this.ports.canListen(addr, SSH_PORT)) ? SSH_PORT : await this.ports.freePort(addr);
      try {
        const lease = this.leases.put({ vmId: vm.id, mode: 'user', mac, ip: addr, hostAddr: addr, hostPort: port });
        const forwards = vm.spec.ports ?? [];
        await this.checkFree(vm, addr, forwards);
        const egressSocket = await this.openEgress(vm);
        return {
          mode: 'user', mac: lease.mac, sshHost: addr, sshPort: port, guest: USER_MODE_GUEST, nameservers: [USER_MODE_DNS], forwards,
          ...(egressSocket ? { egressSocket, proxy: EGRESS_PROXY_URL } : {}),
        };
      } catch (err) {
        if (!(err instanceof LeaseConflictError)) throw err;
      }
    }
    throw new Error(`no free MAC and loopback address for vm ${vm.name} after 16 attempts`);
  }

  /** Every published host port must be free on the VM's address, or the start fails naming it. */
  async checkFree(vm: VMRow, addr: string, forwards: readonly { hostPort: number; guestPort: number }[]): Promise<void> {
    for (const f of forwards) {
      if (!(await this.ports.canListen(addr, f.hostPort))) {
        throw alreadyExists(
          `host port ${addr}:${f.hostPort} (published for guest port ${f.guestPort} of vm ${vm.name}) is taken`,
          `free it, or publish on another host port: banger vm forward ${vm.name} --remove ${f.hostPort}, then banger vm forward ${vm.name} OTHERPORT:${f.guestPort}`,
        );
      }
    }
  }

  /**
   * Published ports are the hypervisor's forwards on the VM's loopback address (the one it has, or
   * keeps leased for its next start), changed live through the driver where it can; the hypervisor
   * joins them to the guest's IPv4 address on its user network.
   */
  publishing(vm: VMRow, hypervisor: HypervisorPorts | undefined): PortPublishing {
    const leased = this.leases.get(vm.id)?.ip;
    const addr = isVmLoopback(leased) ? leased : vm.runtime.sshHost;
    return {
      hostAddr: addr,
      linkFamily: 4,
      ...(hypervisor && addr ? { live: { publish: (f) => hypervisor.publish(addr, f), unpublish: (f) => hypervisor.unpublish(addr, f) } } : {}),
    };
  }

  /** The forward goes with the VM's process and its proxy listener closes; its MAC and loopback address stay leased. */
  async detach(vm: VMRow): Promise<void> {
    await this.egressProxy?.proxy.close(vm.id);
    this.leases.releasePort(vm.id);
  }

  async release(vm: VMRow): Promise<void> {
    await this.egressProxy?.proxy.close(vm.id);
    this.leases.delete(vm.id);
  }

  /** A running VM's new egress policy, for its next proxy request; a VM started without the proxy gets it at its next start. */
  update(vm: VMRow): Promise<void> {
    const e = this.egressProxy;
    const wanted = vm.spec.nat || vm.spec.allow !== undefined;
    if (e?.proxy.has(vm.id)) e.proxy.setPolicy(vm.id, policyOf(vm));
    else if (wanted) {
      return Promise.reject(unavailable(`vm ${vm.name} was started without banger's egress proxy (${EGRESS_CONNECTOR} was missing)`, `${EGRESS_CONNECTOR_HINT}: banger vm restart ${vm.name}`));
    }
    return Promise.resolve();
  }

  egress(vm: VMRow): Promise<EgressReport> {
    const log = this.egressProxy?.proxy.log(vm.id);
    return Promise.resolve({
      name: vm.name,
      mode: 'user',
      running: log !== undefined,
      nat: vm.spec.nat,
      ...(vm.spec.allow !== undefined ? { allow: vm.spec.allow } : {}),
      allowed: log?.allowed ?? [],
      denied: log?.denied ?? [],
      note: vm.spec.allow !== undefined ? USER_MODE_EGRESS_NOTE.allow : vm.spec.nat ? USER_MODE_EGRESS_NOTE.nat : USER_MODE_EGRESS_NOTE.off,
    });
  }

  /**
   * User mode makes no host objects: a forward recorded for a VM that is not running is stale and is
   * forgotten (its address stays leased); a lease whose address is not a VM loopback address (made
   * before addresses were leased) loses it, and the VM gets a proper one at its next start.
   */
  async sweep(live: readonly VMRow[]): Promise<SweepReport> {
    const running = new Set(live.map((v) => v.id));
    const removed: string[] = [];
    // A daemon that restarted listens again for the user-mode VMs that kept running.
    for (const vm of live) {
      if (this.leases.get(vm.id)?.mode === 'user') await this.openEgress(vm).catch(() => undefined);
    }
    for (const l of this.leases.list()) {
      if (l.mode !== 'user' || running.has(l.vmId)) continue;
      if (l.hostPort !== undefined) {
        this.leases.releasePort(l.vmId);
        removed.push(`forward ${l.hostAddr ?? '127.0.0.1'}:${l.hostPort} of ${l.vmId}`);
      }
      if (l.ip !== undefined && !isVmLoopback(l.ip)) {
        this.leases.put(withoutAddress(l));
        removed.push(`address ${l.ip} of ${l.vmId}`);
      }
    }
    return { removed };
  }
}

function withoutAddress(l: Lease): Omit<Lease, 'createdAt'> {
  return { vmId: l.vmId, mode: l.mode, mac: l.mac, ...(l.tap !== undefined ? { tap: l.tap } : {}) };
}
