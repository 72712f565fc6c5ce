/** Every doctor check, in the order they are shown. */
import type { Check } from '../check.js';
import { checkArchitecture } from './architecture.js';
import { checkConfig } from './config.js';
import { checkContainment } from './containment.js';
import { checkDaemon } from './daemon.js';
import { checkDiskSpace } from './disk-space.js';
import { checkE2fsprogs } from './e2fsprogs.js';
import { checkFirecracker } from './firecracker.js';
import { checkImageBuild } from './image-build.js';
import { checkIproute2 } from './iproute2.js';
import { checkDebianKeyring } from './keyring.js';
import { checkKernel } from './kernel.js';
import { checkKvmDevice, checkKvmUsable } from './kvm.js';
import { checkMmdebstrap } from './mmdebstrap.js';
import { checkNftables } from './nftables.js';
import { checkPrivileges } from './privileges.js';
import { checkQemu } from './qemu.js';
import { checkQemuImg } from './qemu-img.js';
import { checkRootDiskCopy } from './root-disk-copy.js';
import { checkSsh } from './ssh.js';
import { checkStateStore } from './state-store.js';

export interface NamedCheck {
  /** The name of the row it produces. */
  name: string;
  run: Check;
}

export const CHECKS: readonly NamedCheck[] = [
  { name: 'architecture', run: checkArchitecture },
  { name: 'kernel', run: checkKernel },
  { name: 'kvm-device', run: checkKvmDevice },
  { name: 'kvm-usable', run: checkKvmUsable },
  { name: 'qemu', run: checkQemu },
  { name: 'guest-containment', run: checkContainment },
  { name: 'firecracker', run: checkFirecracker },
  { name: 'qemu-img', run: checkQemuImg },
  { name: 'root-disk-copy', run: checkRootDiskCopy },
  { name: 'e2fsprogs', run: checkE2fsprogs },
  { name: 'iproute2', run: checkIproute2 },
  { name: 'nftables', run: checkNftables },
  { name: 'ssh', run: checkSsh },
  { name: 'mmdebstrap', run: checkMmdebstrap },
  { name: 'debian-archive-keyring', run: checkDebianKeyring },
  { name: 'image-build', run: checkImageBuild },
  { name: 'disk-space', run: checkDiskSpace },
  { name: 'state-store', run: (env) => checkStateStore(env) },
  { name: 'config', run: checkConfig },
  { name: 'daemon', run: checkDaemon },
  { name: 'least-privilege', run: checkPrivileges },
];
