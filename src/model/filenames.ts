/**
 * Every file of a VM, named in one place (after lima's `filenames`): its state directory under
 * `vms/<id>/` and the run directory inside it that holds sockets and pid files while it runs.
 * Services and drivers both name files through this module; nothing else joins VM paths by hand.
 *
 * @module
 */
import { join } from 'node:path';

/** Format of a disk file as the hypervisor opens it. */
export type DiskFormat = 'qcow2' | 'raw';

export interface VMFiles {
  dir: string;
  /** The copy-on-write root; its extension follows the format the driver makes it in. */
  rootDisk(format: DiskFormat): string;
  workDisk: string;
  seedDisk: string;
  consoleLog: string;
  /** The previous boot's console log, kept for one restart. */
  previousConsoleLog: string;
  handles: string;
  /** The VM's own SSH host key (private; `.pub` beside it). */
  hostKey: string;
  /** A one-off known_hosts with the snapshot's host key, used only by a restore's identity connection. */
  restoreKnownHosts: string;
  /** A suspended VM's saved memory and device state (gone once it is started again or stopped). */
  suspendedState: string;
  /** What the suspended state needs to be loaded again (hypervisor version, kernel, command line). */
  suspendedMeta: string;
  /** Present once the VM's first boot ran its image's first-boot installer to the end. */
  firstBootDone: string;
  runDir: string;
  /** Files inside runDir. */
  run: RunFiles;
}

export interface RunFiles {
  /** The driver's control channel (QMP for qemu, the API socket for firecracker). */
  controlSocket: string;
  /** The hypervisor process's pid file. */
  pidFile: string;
  /** What the hypervisor process printed (QEMU's own errors). */
  vmmLog: string;
  /** ssh's shared connection to the guest. */
  sshControl: string;
  /** A one-off connection that proves the guest's sshd serves a new host key (authentication only), ended once it has. */
  sshProofControl: string;
  /** A user-mode VM's egress proxy socket (the daemon listens, the guest's connections arrive). */
  egressSocket: string;
  /**
   * The file that holds the guest's RAM while the process runs (drivers that back RAM with a file): on
   * disk beside the VM, so a snapshot can keep a frozen copy that restores map privately and share.
   */
  guestRam: string;
  /** The host end of the guest channel on a virtio-serial port (drivers that have one): only the daemon connects. */
  channelSocket: string;
}

export const ROOT_DISK_NAMES: Readonly<Record<DiskFormat, string>> = { qcow2: 'root.qcow2', raw: 'root.img' };

export function runFiles(runDir: string): RunFiles {
  return {
    controlSocket: join(runDir, 'control.sock'),
    pidFile: join(runDir, 'vmm.pid'),
    vmmLog: join(runDir, 'vmm.log'),
    sshControl: join(runDir, 'ssh.ctl'),
    sshProofControl: join(runDir, 'ssh-proof.ctl'),
    egressSocket: join(runDir, 'egress.sock'),
    guestRam: join(runDir, 'guest.ram'),
    channelSocket: join(runDir, 'channel.sock'),
  };
}

export function vmFiles(vmsDir: string, id: string): VMFiles {
  const dir = join(vmsDir, id);
  const runDir = join(dir, 'run');
  return {
    dir,
    rootDisk: (format) => join(dir, ROOT_DISK_NAMES[format]),
    workDisk: join(dir, 'work.ext4'),
    seedDisk: join(dir, 'seed.ext4'),
    consoleLog: join(dir, 'console.log'),
    previousConsoleLog: join(dir, 'console.log.1'),
    handles: join(dir, 'handles.json'),
    hostKey: join(dir, 'ssh_host_ed25519_key'),
    restoreKnownHosts: join(runDir, 'restore_known_hosts'),
    suspendedState: join(dir, 'suspended.state'),
    suspendedMeta: join(dir, 'suspended.json'),
    firstBootDone: join(dir, 'first-boot.done'),
    runDir,
    run: runFiles(runDir),
  };
}

/** Every file of a snapshot under `snapshots/<id>/`: the frozen disks, the saved memory and device state, the manifest. */
export interface SnapshotFiles {
  dir: string;
  manifest: string;
  /** The driver's saved device state, and the guest's memory too when it has no RAM image beside it. */
  memory: string;
  /** The guest's RAM image, when the driver saved it as a file of its own (restores map it privately and share its pages). */
  ram: string;
  /** The frozen copy-on-write root (a base for the children's roots). */
  rootDisk(format: DiskFormat): string;
  /** The frozen work disk (copied into each child). */
  workDisk: string;
  /** The public host key the guest held when it was saved; a restore checks it on its identity connection. */
  hostKeyPub: string;
}

export function snapshotFiles(snapshotsDir: string, id: string): SnapshotFiles {
  const dir = join(snapshotsDir, id);
  return {
    dir,
    manifest: join(dir, 'manifest.json'),
    memory: join(dir, 'memory.bin'),
    ram: join(dir, 'memory.ram'),
    rootDisk: (format) => join(dir, ROOT_DISK_NAMES[format]),
    workDisk: join(dir, 'work.ext4'),
    hostKeyPub: join(dir, 'ssh_host_ed25519_key.pub'),
  };
}

/** Where a snapshot is assembled before it is published by renaming it to its final directory. */
export function snapshotStagingDir(snapshotsDir: string, id: string): string {
  return join(snapshotsDir, `.${id}.partial`);
}

/** Files the fake driver's VMM keeps in a VM's run directory besides the common run files. */
export interface FakeVmmFiles {
  /** The VMM's own stdout/stderr (appended across starts). */
  log: string;
  /** The host sshd that stands in for the guest's: its config, and the keys copied from the seed disk. */
  sshdConfig: string;
  hostKey: string;
  authorizedKeys: string;
  /** The fake guest's own HOME: the host user's shell start-up files are not the guest's. */
  guestHome: string;
  /** Put first on the fake guest's PATH: poweroff and systemctl that power the VMM down instead of the host. */
  guestBin: string;
}

export function fakeVmmFiles(runDir: string): FakeVmmFiles {
  return {
    log: join(runDir, 'vmm.log'),
    sshdConfig: join(runDir, 'sshd_config'),
    hostKey: join(runDir, 'ssh_host_ed25519_key'),
    authorizedKeys: join(runDir, 'authorized_keys'),
    guestHome: join(runDir, 'guest-home'),
    guestBin: join(runDir, 'guest-bin'),
  };
}

/** Files the firecracker driver keeps in a VM's run directory besides the common run files. */
export interface FirecrackerRunFiles {
  /** Firecracker's own log (the logger resource). */
  log: string;
  /** JSON lines Firecracker flushes its metrics to. */
  metrics: string;
  /** The vsock device's host side: host-initiated connections go through it. */
  vsock: string;
  /** The uncompressed kernel extracted from a bzImage. */
  vmlinux: string;
}

export function firecrackerRunFiles(runDir: string): FirecrackerRunFiles {
  return {
    log: join(runDir, 'firecracker.log'),
    metrics: join(runDir, 'metrics.json'),
    vsock: join(runDir, 'vsock.sock'),
    vmlinux: join(runDir, 'vmlinux'),
  };
}

/** The jailer's chroot for a VM: <chroot base>/<exec file name>/<jail id>/root, as the jailer lays it out. */
export function jailRoot(chrootBase: string, execName: string, jailId: string): string {
  return join(chrootBase, execName, jailId, 'root');
}
