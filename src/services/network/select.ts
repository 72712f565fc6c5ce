/**
 * The provider the daemon uses: each VM gets the mode it was created with (`--network`), else config
 * network_mode (`auto` is user mode). Bridge mode is built on first use, so a bad bridge setting only
 * matters to the VMs that ask for it.
 *
 * @module
 */
import type { EgressReport } from '../../api/types.js';
import type { NetworkMode } from '../../drivers/hypervisor.js';
import type { LeaseRepo } from '../../store/leases.js';
import type { VMRow } from '../../store/vms.js';
import type { BridgeNetwork } from './bridge.js';
import type { HypervisorPorts, NetworkAttachment, NetworkProvider, PortPublishing, SweepReport } from './provider.js';

export type VmNetworkMode = 'user' | 'bridge';

/** The mode a VM runs in. */
export function networkModeOf(vm: Pick<VMRow, 'spec'>, configured: 'auto' | 'user' | 'bridge'): VmNetworkMode {
  return vm.spec.network ?? (configured === 'bridge' ? 'bridge' : 'user');
}

/**
 * Egress differs by mode: bridge mode enforces it on packets (nftables, with allowlists fed by
 * banger's DNS); user mode has no packet path out at all and carries HTTP and HTTPS through banger's
 * egress proxy, where --nat and --allow are checked per connection (see user-mode.ts). Transparent
 * egress (tools that ignore proxy settings, raw TCP, UDP) needs bridge mode.
 */
export const NO_EGRESS_REPORT_NOTE = 'this network mode keeps no egress report';

export class SelectedNetwork implements NetworkProvider {
  readonly driverMode: NetworkMode;
  readonly mode: VmNetworkMode;
  private bridgeNet: BridgeNetwork | undefined;

  constructor(
    private readonly configured: 'auto' | 'user' | 'bridge',
    private readonly user: NetworkProvider,
    private readonly makeBridge: () => BridgeNetwork,
    private readonly leases: LeaseRepo,
  ) {
    this.mode = configured === 'bridge' ? 'bridge' : 'user';
    this.driverMode = this.mode === 'bridge' ? 'tap' : 'user';
  }

  /** The bridge provider, made on first use (its construction validates the bridge settings). */
  bridge(): BridgeNetwork {
    this.bridgeNet ??= this.makeBridge();
    return this.bridgeNet;
  }

  /** The bridge provider if it was made. */
  bridgeIfMade(): BridgeNetwork | undefined {
    return this.bridgeNet;
  }

  private of(vm: VMRow): NetworkProvider {
    return networkModeOf(vm, this.configured) === 'bridge' ? this.bridge() : this.user;
  }

  /** A VM's lease says where its objects are, whatever its spec says now. */
  private holder(vm: VMRow): NetworkProvider {
    const l = this.leases.get(vm.id);
    if (l?.mode === 'tap') return this.bridge();
    if (l?.mode === 'user') return this.user;
    return this.of(vm);
  }

  driverModeFor(vm: VMRow): NetworkMode {
    return this.of(vm).driverMode;
  }

  attach(vm: VMRow): Promise<NetworkAttachment> {
    return this.of(vm).attach(vm);
  }

  detach(vm: VMRow): Promise<void> {
    return this.holder(vm).detach(vm);
  }

  release(vm: VMRow): Promise<void> {
    return this.holder(vm).release(vm);
  }

  /** User mode always; bridge mode when it is configured or a VM holds a bridge lease. */
  async sweep(live: readonly VMRow[]): Promise<SweepReport> {
    const user = await this.user.sweep(live);
    const removed = [...user.removed];
    const failed = [...(user.failed ?? [])];
    if (this.configured === 'bridge' || this.leases.list().some((l) => l.mode === 'tap')) {
      const bridge = await this.bridge().sweep(live);
      removed.push(...bridge.removed);
      failed.push(...(bridge.failed ?? []));
    }
    return { removed, ...(failed.length ? { failed } : {}) };
  }

  publishing(vm: VMRow, hypervisor: HypervisorPorts | undefined): PortPublishing {
    return this.holder(vm).publishing(vm, hypervisor);
  }

  async update(vm: VMRow): Promise<void> {
    await this.holder(vm).update?.(vm);
  }

  async egress(vm: VMRow): Promise<EgressReport> {
    const p = this.holder(vm);
    if (p.egress) return p.egress(vm);
    return {
      name: vm.name,
      mode: 'user',
      running: vm.state === 'running',
      nat: vm.spec.nat,
      ...(vm.spec.allow !== undefined ? { allow: vm.spec.allow } : {}),
      allowed: [],
      denied: [],
      note: NO_EGRESS_REPORT_NOTE,
    };
  }
}
