/**
 * The contract every hypervisor driver implements. A driver starts VM processes that outlive the
 * daemon, and finds them again from a small JSON handle after the daemon restarts.
 *
 * @module
 */

import type { DiskFormat } from '../model/filenames.js';
import type { VMCounters } from '../api/types.js';

export type { DiskFormat, VMCounters };
export type DriverName = 'qemu' | 'firecracker' | 'fake';
export type Accel = 'kvm' | 'tcg';
export type NetworkMode = 'user' | 'tap';
/** A line the guest channel answers: health, ports, or `readdress MAC CIDR GATEWAY [DNS...]` (guest/channel.ts). */
export type GuestChannelCommand = 'health' | 'ports' | `readdress ${string}`;

/** Static facts about a driver, after lima's DriverFeatures. */
export interface DriverCapabilities {
  name: DriverName;
  /** The acceleration the driver uses or will use: 'kvm', 'tcg', or 'auto' before a probe decided. */
  accel: Accel | 'auto';
  /** Network modes the driver can attach a VM to: 'user' (rootless, SSH forwarded) and/or 'tap'. */
  networkModes: readonly NetworkMode[];
  /** The format of the copy-on-write root disk that createRootDisk makes. */
  rootDiskFormat: DiskFormat;
  /** VM processes keep running when the daemon stops and can be adopted again. */
  survivesDaemonRestart: boolean;
  /** The driver offers {@link SnapshotOps} (warm starts: pause, save, restore). */
  snapshots?: boolean;
}

/** A live process this driver started for a VM of this install (found by scanning, for reconcile). */
export interface OwnProcess {
  pid: number;
  vmId: string;
}

export interface ProbeResult {
  available: boolean;
  /** One line for humans: what was found and why this verdict. */
  reason: string;
  accel?: Accel;
  version?: string;
  /** A command that fixes an unavailable driver. */
  fixHint?: string;
}

export interface DiskSpec {
  /** Absolute path. The first disk is /dev/vda in the guest, the second /dev/vdb, and so on. */
  path: string;
  format: DiskFormat;
  readOnly?: boolean;
  /** Shows up as /dev/disk/by-id/virtio-<serial> (at most 20 characters). */
  serial?: string;
}

/** A guest TCP port published on the host (user mode: on the VM's own loopback address). */
export interface PortForward {
  hostPort: number;
  guestPort: number;
}

export type NetworkSpec =
  | {
      mode: 'user';
      sshHostPort: number;
      hostAddr?: string;
      mac?: string;
      /**
       * The guest's one way out: its TCP connections to guestAddr:guestPort are joined to the unix
       * socket (where the daemon's egress proxy decides). Without it the guest reaches nothing outside.
       */
      egressEndpoint?: { guestAddr: string; guestPort: number; socket: string };
      /** Published guest ports besides sshd, bound on hostAddr. */
      forwards?: PortForward[];
    }
  | { mode: 'tap'; tap: string; mac: string }
  | { mode: 'none' };

export interface LaunchSpec {
  /** Stable id; lower-case letters, digits and dashes. */
  vmId: string;
  name: string;
  vcpu: number;
  memoryMiB: number;
  kernelPath: string;
  initrdPath?: string;
  /** Kernel command line. */
  cmdline: string;
  disks: DiskSpec[];
  network: NetworkSpec;
  /** Per-VM directory for the control socket and pidfile (created 0700 if missing). */
  runDir: string;
  /** File that receives the guest's serial console (truncated at each start). */
  consoleLog: string;
  /**
   * The VM generation id (a UUID) the guest sees through a vmgenid device. A restore passes a new one; a
   * guest kernel with the vmgenid driver reseeds its random number generator when it changes. Drivers
   * without the device ignore it.
   */
  vmGenId?: string;
}

/** Everything needed to find a running VM again. Plain JSON; the daemon keeps it in vms/<id>/handles.json. */
export interface VMHandle {
  driver: DriverName;
  pid: number;
  controlSocket: string;
  accel: string;
  /** ISO 8601. */
  startedAt: string;
  /** sha256 of the argv the process was started with, when the driver knows it. */
  argvHash?: string;
}

/**
 * - running / paused: the control channel answered with that state.
 * - shutdown: the process is still there but the guest has stopped.
 * - unresponsive: the process is ours and alive, but its control channel does not answer.
 * - gone: no such process, or the pid now belongs to something else.
 */
export type VMStatus = 'running' | 'paused' | 'shutdown' | 'unresponsive' | 'gone';

/** How a shutdown ended: the guest powered off, the process was forced, or it was already gone. */
export type ShutdownResult = 'graceful' | 'killed' | 'gone';

export interface HypervisorDriver {
  capabilities(): DriverCapabilities;
  /** Checks that the driver can run VMs here, really starting a guest where that is the only way to know. */
  probe(opts?: { signal?: AbortSignal }): Promise<ProbeResult>;
  /** Starts the VM process detached from the caller; resolves once the control channel answers. */
  launch(spec: LaunchSpec, opts?: { signal?: AbortSignal }): Promise<VMHandle>;
  /** True when the handle's process is alive, is the one the handle names, and its control channel answers. */
  adopt(handle: VMHandle): Promise<boolean>;
  status(handle: VMHandle): Promise<VMStatus>;
  /** Asks the guest to power off, waits up to timeoutMs, then forces the process down. */
  shutdown(handle: VMHandle, opts: { timeoutMs: number }): Promise<ShutdownResult>;
  /** Signals the process (SIGKILL by default) if it is still the one the handle names. */
  kill(handle: VMHandle, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Makes a VM's copy-on-write root at `target` over an immutable base image (raw ext4), in the
   * format capabilities().rootDiskFormat names, with a virtual size of at least sizeBytes (never
   * smaller than the base). The file appears complete or not at all; the base is never written.
   */
  createRootDisk(base: string, target: string, opts: { sizeBytes?: number; signal?: AbortSignal }): Promise<void>;
  /** Live processes this driver started for VMs whose files are under vmsDir (whatever their state). */
  ownProcesses(vmsDir: string): OwnProcess[];
  /**
   * Publishes a guest port on a running user-mode VM (bound on `hostAddr`), or removes it. Absent when
   * the driver cannot change forwards while the VM runs; a started VM gets them from its LaunchSpec.
   */
  publishPort?(handle: VMHandle, hostAddr: string, fwd: PortForward): Promise<void>;
  unpublishPort?(handle: VMHandle, hostAddr: string, fwd: PortForward): Promise<void>;
  /**
   * Removes what the driver keeps outside the VM directories (e.g. firecracker's jails) for VMs not
   * in `live` and no longer running; returns the paths removed. Drivers that keep nothing omit it.
   */
  sweep?(live: ReadonlySet<string>): Promise<string[]>;
  /**
   * The hypervisor's own counters of a running VM since it started (what `vm stats` adds to the
   * process's CPU and memory). Absent when the hypervisor keeps none banger can read.
   */
  counters?(handle: VMHandle): Promise<VMCounters>;
  /**
   * Asks the guest bits one question over a channel only the host reaches (firecracker's vsock):
   * 'health' ("ok <uptime>"), 'ports' (the listening sockets as `ss -Htlnup` prints them) or
   * `readdress ...` (a restored guest takes its own MAC and address). Absent when the driver has no
   * such channel; callers use SSH then, and a bridge-mode VM's saved state cannot become a new VM.
   */
  guestChannel?(handle: VMHandle, command: GuestChannelCommand, opts?: { timeoutMs?: number }): Promise<string>;
  /** Warm starts, when capabilities().snapshots is true. */
  readonly snapshots?: SnapshotOps;
}

/** What a driver recorded about the saved state, so a restore can refuse state it cannot load. */
export interface SavedState {
  driver: DriverName;
  /** The hypervisor's version; state is restored only by the same version. */
  version: string;
  accel: string;
  /** Bytes of the memory file. */
  memoryBytes: number;
  /** Bytes of the RAM image, when the guest's RAM was saved as a file of its own (not inside the memory file). */
  ramBytes?: number;
  /**
   * Files beside the memory file that belong to the saved state, named by the suffix added to the
   * memory file's name (firecracker keeps its device state in `<memory file>.vmstate`). Whoever moves,
   * checks or removes the memory file does the same with these.
   */
  companions?: string[];
}

/** A frozen disk and the base it still reads from, if any (the disk chain a manifest records). */
export interface FrozenDisk {
  backingFile?: string;
}

/**
 * Warm starts. Present on a driver whose capabilities() say `snapshots: true`. The service orders the
 * steps (pause, save state, freeze disks, resume or stop) and owns the files' names and publication;
 * the driver knows how its hypervisor does each step.
 */
export interface SnapshotOps {
  /** Stops the guest's CPUs (memory and devices stay as they are). */
  pause(handle: VMHandle): Promise<void>;
  /** Lets a paused guest run again. */
  resume(handle: VMHandle): Promise<void>;
  /**
   * Writes a paused VM's memory and device state to memoryFile (created; never replaced). With `ramFile`,
   * a driver whose VM keeps its RAM in a shared file leaves the RAM out of memoryFile and puts a frozen
   * copy of it at ramFile instead (`handOver`: the process ends after the save, so the file itself may
   * become ramFile); SavedState.ramBytes says it did. Otherwise memoryFile holds the RAM too.
   */
  saveState(handle: VMHandle, memoryFile: string, opts?: { signal?: AbortSignal; ramFile?: string; handOver?: boolean }): Promise<SavedState>;
  /** Copies a paused VM's disk to `frozen`, which becomes an immutable base for children's disks. */
  freezeDisk(live: DiskSpec, frozen: string, opts?: { signal?: AbortSignal }): Promise<FrozenDisk>;
  /** Makes a child's copy-on-write disk at target over a frozen base; the base is never written. */
  createDiskOver(frozen: DiskSpec, target: string, opts?: { signal?: AbortSignal }): Promise<void>;
  /**
   * Starts a VM process that loads the state in memoryFile instead of booting. `spec` must describe the
   * same machine (vcpu, memory, devices, disks in order, network mode) as the saved one, with the child's
   * own disks, network endpoints and a new vmGenId. Resolves once the guest runs again. `ramFile` is the
   * RAM image saved with memoryFile: the guest's RAM maps it privately (copy on write), so VMs restored
   * from the same image share the pages they have not changed; the file is never written.
   */
  restore(spec: LaunchSpec, memoryFile: string, opts?: { signal?: AbortSignal; ramFile?: string }): Promise<VMHandle>;
  /** The version a saved state records, for the compatibility check before a restore. */
  stateVersion(): Promise<string>;
  /**
   * Sends one command to the guest channel (guest/channel.ts) over a line to the guest that needs no
   * network and no SSH (QEMU: a virtio-serial port), and resolves with the answer. A restore gives the
   * guest its identity this way when the snapshot's guest answered on it; absent, that goes over SSH.
   */
  guestCommand?(handle: VMHandle, command: 'health' | `identity ${string}` | `settle ${number}`, opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<string>;
  /** Grows a running VM's disk (by its position in the launch spec) to sizeBytes; the guest is told of the new size. */
  growDisk?(handle: VMHandle, diskIndex: number, sizeBytes: number): Promise<void>;
}

const DRIVER_NAMES: readonly string[] = ['qemu', 'firecracker', 'fake'];

/** Checks a handle read back from disk; returns it typed, or undefined when it is malformed. */
export function parseHandle(value: unknown): VMHandle | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const h = value as Record<string, unknown>;
  if (typeof h.driver !== 'string' || !DRIVER_NAMES.includes(h.driver)) return undefined;
  if (typeof h.pid !== 'number' || !Number.isSafeInteger(h.pid) || h.pid <= 1) return undefined;
  if (typeof h.controlSocket !== 'string' || !h.controlSocket.startsWith('/')) return undefined;
  if (typeof h.accel !== 'string' || typeof h.startedAt !== 'string') return undefined;
  if (h.argvHash !== undefined && typeof h.argvHash !== 'string') return undefined;
  const handle: VMHandle = {
    driver: h.driver as DriverName,
    pid: h.pid,
    controlSocket: h.controlSocket,
    accel: h.accel,
    startedAt: h.startedAt,
  };
  if (typeof h.argvHash === 'string') handle.argvHash = h.argvHash;
  return handle;
}
