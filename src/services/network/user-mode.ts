/** Rootless user-mode networking: the hypervisor's own NAT, the guest's sshd forwarded to a loopback port. */
import { createHash } from 'node:crypto';
import { freeLoopbackPort } from '../../system/net.js';
import { LeaseConflictError, type LeaseRepo } from '../../store/leases.js';
import type { VMRow } from '../../store/vms.js';
import type { NetworkAttachment, NetworkProvider, SweepReport } from './provider.js';

/** DNS of QEMU's user-mode network, as its built-in DHCP hands it out. */
const USER_MODE_DNS = '10.0.2.3';
const LOOPBACK = '127.0.0.1';

/** A locally administered unicast MAC derived from the VM id (attempt > 0 picks another on a clash). */
export function macFor(vmId: string, attempt = 0): string {
  const h = createHash('sha256').update(`${vmId}/${attempt}`).digest();
  const b = [0x52, 0x54, 0x00, h[0]!, h[1]!, h[2]!];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export class UserModeNetwork implements NetworkProvider {
  readonly mode = 'user' as const;
  readonly driverMode = 'user' as const;

  constructor(
    private readonly leases: LeaseRepo,
    private readonly freePort: () => Promise<number> = freeLoopbackPort,
  ) {}

  async attach(vm: VMRow): Promise<NetworkAttachment> {
    const prior = this.leases.get(vm.id);
    for (let attempt = 0; attempt < 16; attempt++) {
      const mac = prior && attempt === 0 ? prior.mac : macFor(vm.id, attempt);
      const port = await this.freePort();
      try {
        const lease = this.leases.put({ vmId: vm.id, mode: 'user', mac, hostAddr: LOOPBACK, hostPort: port });
        return { mode: 'user', mac: lease.mac, sshHost: LOOPBACK, sshPort: port, guest: { mode: 'dhcp' }, nameservers: [USER_MODE_DNS] };
      } catch (err) {
        if (!(err instanceof LeaseConflictError)) throw err;
      }
    }
    throw new Error(`no free MAC and port for vm ${vm.name} after 16 attempts`);
  }

  detach(vm: VMRow): Promise<void> {
    this.leases.releasePort(vm.id);
    return Promise.resolve();
  }

  release(vm: VMRow): Promise<void> {
    this.leases.delete(vm.id);
    return Promise.resolve();
  }

  /** User mode makes no host objects; a forwarded port recorded for a VM that is not running is stale. */
  sweep(live: readonly VMRow[]): Promise<SweepReport> {
    const running = new Set(live.map((v) => v.id));
    const removed: string[] = [];
    for (const l of this.leases.list()) {
      if (l.hostPort !== undefined && !running.has(l.vmId)) {
        this.leases.releasePort(l.vmId);
        removed.push(`forward ${l.hostAddr ?? LOOPBACK}:${l.hostPort} of ${l.vmId}`);
      }
    }
    return Promise.resolve({ removed });
  }
}
