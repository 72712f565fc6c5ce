/** The files of one VM, named in one place. */
import { join } from 'node:path';

export interface VMFiles {
  dir: string;
  rootOverlay: string;
  workDisk: string;
  seedDisk: string;
  consoleLog: string;
  handles: string;
  runDir: string;
}

export function vmFiles(vmsDir: string, id: string): VMFiles {
  const dir = join(vmsDir, id);
  return {
    dir,
    rootOverlay: join(dir, 'root.qcow2'),
    workDisk: join(dir, 'work.ext4'),
    seedDisk: join(dir, 'seed.ext4'),
    consoleLog: join(dir, 'console.log'),
    handles: join(dir, 'handles.json'),
    runDir: join(dir, 'run'),
  };
}

/** Kernel command line for banger images: root on the first virtio disk, console on the serial port. */
export function bootArgs(opts: { hostname: string; extra?: string[] }): string {
  return ['console=ttyS0', 'root=/dev/vda', 'rw', 'rootfstype=ext4', 'panic=-1', `systemd.hostname=${opts.hostname}`, ...(opts.extra ?? [])].join(' ');
}
