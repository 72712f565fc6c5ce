/**
 * The configuration a Firecracker VM gets, as the sequence of API calls banger sends before
 * InstanceStart: logger, metrics, machine-config, boot-source, drives, network interface, vsock.
 * Pure: paths come in already mapped to what the firecracker process sees (inside the jail when
 * the jailer runs it).
 *
 * @module
 */
import { badRequest } from '../../api/errors.js';
import type { LaunchSpec } from '../hypervisor.js';
import type { ApiCall, BootSource, Drive, Logger, MachineConfiguration, Metrics, NetworkInterface, Vsock } from './types.js';

/** The vsock port the guest bits listen on (the banger guest channel). */
export const GUEST_CHANNEL_PORT = 52;

/** Kernel arguments Firecracker guests need beyond banger's own: reboot through the keyboard controller, no PCI probe. */
export const FIRECRACKER_BOOT_ARGS = ['reboot=k', 'pci=off', 'i8042.noaux', 'i8042.nomux', 'i8042.dumbkbd'];

export interface FcPaths {
  kernel: string;
  initrd?: string;
  /** Disk paths in spec order. */
  disks: string[];
  log: string;
  metrics: string;
  vsock: string;
}

export interface FcConfigOptions {
  /** Guest CID for vsock (3 and up, unique per running VM). */
  cid: number;
  /** Dirty page tracking, needed for Diff snapshots. */
  trackDirtyPages?: boolean;
}

/** Firecracker takes 1 or an even number of vCPUs, up to 32. */
export function checkVcpu(vcpu: number): void {
  if (!Number.isInteger(vcpu) || vcpu < 1 || vcpu > 32 || (vcpu > 1 && vcpu % 2 !== 0)) {
    throw badRequest(`firecracker runs 1 or an even number of vCPUs up to 32, not ${vcpu}`, `use --vcpu ${vcpu > 1 ? Math.min(32, vcpu + (vcpu % 2)) : 1}`);
  }
}

export function bootArgs(cmdline: string): string {
  const have = new Set(cmdline.split(/\s+/).map((a) => a.split('=')[0]));
  const extra = FIRECRACKER_BOOT_ARGS.filter((a) => !have.has(a.split('=')[0]));
  return [cmdline.trim(), ...extra].filter(Boolean).join(' ');
}

/** drive_id of the n-th disk: its serial when it has a usable one, else disk<n>. */
export function driveId(serial: string | undefined, index: number): string {
  return serial && /^[A-Za-z0-9_]{1,20}$/.test(serial) ? serial : `disk${index}`;
}

/** The pre-boot API calls, in the order they are sent. */
export function configCalls(spec: LaunchSpec, paths: FcPaths, opts: FcConfigOptions): ApiCall[] {
  checkVcpu(spec.vcpu);
  if (!Number.isInteger(opts.cid) || opts.cid < 3 || opts.cid > 0xfffffffe) throw badRequest(`vsock CID ${opts.cid} is out of range`);
  if (spec.network.mode === 'user') {
    throw badRequest('firecracker has no user-mode network; it needs a tap', 'set network_mode = "bridge" in config.toml');
  }
  const ids = new Set<string>();
  spec.disks.forEach((d, i) => {
    if (d.format !== 'raw') throw badRequest(`firecracker opens raw disks only; disk ${i} (${d.path}) is ${d.format}`);
    const id = driveId(d.serial, i);
    if (ids.has(id)) throw badRequest(`two disks would be named "${id}"`);
    ids.add(id);
  });
  const logger: Logger = { log_path: paths.log, level: 'Info', show_level: true, show_log_origin: false };
  const metrics: Metrics = { metrics_path: paths.metrics };
  const machine: MachineConfiguration = { vcpu_count: spec.vcpu, mem_size_mib: spec.memoryMiB, smt: false, track_dirty_pages: opts.trackDirtyPages ?? false };
  const boot: BootSource = { kernel_image_path: paths.kernel, boot_args: bootArgs(spec.cmdline) };
  if (paths.initrd !== undefined) boot.initrd_path = paths.initrd;
  const calls: ApiCall[] = [
    { method: 'PUT', path: '/logger', definition: 'Logger', body: logger },
    { method: 'PUT', path: '/metrics', definition: 'Metrics', body: metrics },
    { method: 'PUT', path: '/machine-config', definition: 'MachineConfiguration', body: machine },
    { method: 'PUT', path: '/boot-source', definition: 'BootSource', body: boot },
  ];
  spec.disks.forEach((d, i) => {
    // The root is not Firecracker's "root device": banger's command line names root=/dev/vda itself.
    const drive: Drive = { drive_id: driveId(d.serial, i), is_root_device: false, is_read_only: d.readOnly ?? false, path_on_host: paths.disks[i]!, cache_type: 'Unsafe', io_engine: 'Sync' };
    calls.push({ method: 'PUT', path: `/drives/${drive.drive_id}`, definition: 'Drive', body: drive });
  });
  if (spec.network.mode === 'tap') {
    const nic: NetworkInterface = { iface_id: 'eth0', host_dev_name: spec.network.tap, guest_mac: spec.network.mac };
    calls.push({ method: 'PUT', path: '/network-interfaces/eth0', definition: 'NetworkInterface', body: nic });
  }
  const vsock: Vsock = { guest_cid: opts.cid, uds_path: paths.vsock };
  calls.push({ method: 'PUT', path: '/vsock', definition: 'Vsock', body: vsock });
  return calls;
}

/** The CID of a VM: derived from its id so two VMs rarely collide, never 0-2 (reserved). */
export function cidFor(vmId: string): number {
  let h = 2166136261;
  for (const c of vmId) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return 3 + (h % 0x7ffffff0);
}
