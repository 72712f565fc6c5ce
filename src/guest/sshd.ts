/** The sshd drop-in every banger image carries: key-only root login with the VM's own host key, mise's shims on PATH. */
import { GUEST_PATH } from './tool-path.js';

export const SSHD_DROPIN_PATH = '/etc/ssh/sshd_config.d/99-banger.conf';
export const HOST_KEY_PATH = '/etc/ssh/ssh_host_ed25519_key';

export const SSHD_DROPIN = `# Written by banger. Each VM gets its own host key from its seed disk.
HostKey ${HOST_KEY_PATH}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile /root/.ssh/authorized_keys
UseDNS no
SetEnv PATH=${GUEST_PATH}
`;

/** Host key files an image ships with; every VM gets fresh ones instead. */
export function isImageHostKey(name: string): boolean {
  return /^ssh_host_[a-z0-9]+_key(\.pub)?$/.test(name);
}
