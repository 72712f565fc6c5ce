/** How a VM reaches the network. User-mode (rootless, SSH forwarded to loopback) today; bridge/tap plugs in here. */
import { freeLoopbackPort } from '../../system/net.js';

export interface NetworkAttachment {
  mode: 'user';
  sshHost: string;
  sshPort: number;
  /** What the guest is told: DHCP from QEMU's user-mode network. */
  guest: { mode: 'dhcp' };
  nameservers: string[];
}

export interface NetworkProvider {
  readonly mode: 'user' | 'bridge';
  attach(vm: { id: string; name: string }): Promise<NetworkAttachment>;
  detach(vm: { id: string; name: string }): Promise<void>;
}


/** QEMU user-mode networking: no root, the guest's sshd forwarded to a loopback port. */
export class UserModeNetwork implements NetworkProvider {
  readonly mode = 'user' as const;

  async attach(): Promise<NetworkAttachment> {
    return { mode: 'user', sshHost: '127.0.0.1', sshPort: await freeLoopbackPort(), guest: { mode: 'dhcp' }, nameservers: ['10.0.2.3'] };
  }

  detach(): Promise<void> {
    return Promise.resolve();
  }
}
