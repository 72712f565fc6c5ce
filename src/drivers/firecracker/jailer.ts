/**
 * Running firecracker under its jailer: the argv (chroot, uid/gid, cgroup limits from the VM's
 * size) and the chroot layout. The jailer makes <chroot base>/firecracker/<id>/root and copies
 * the firecracker binary in; banger puts the VM's artifacts there first — writable disks as hard
 * links (the VM must write the real file), read-only ones linked or copied — owned by the jail's
 * uid/gid, and removes the whole jail directory when the VM stops.
 *
 * @module
 */
import { chown, copyFile, link, mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { badRequest } from '../../api/errors.js';
import { jailRoot } from '../../model/filenames.js';
import type { LaunchSpec } from '../hypervisor.js';
import { driveId, type FcPaths } from './config.js';

export interface JailerOptions {
  bin: string;
  chrootBase: string;
  uid: number;
  gid: number;
  /** 1 or 2; the jailer writes limits to that cgroup hierarchy (default 2). */
  cgroupVersion?: 1 | 2;
}

/** Paths inside the jail, as the jailed firecracker sees them. */
export const JAIL = {
  apiSock: '/run/firecracker.socket',
  kernel: '/vmlinux',
  initrd: '/initrd',
  log: '/firecracker.log',
  metrics: '/metrics.json',
  vsock: '/run/vsock.sock',
} as const;

const JAIL_ID = /^[a-zA-Z0-9-]{1,64}$/;
/** Memory firecracker itself needs beyond the guest's, in the cgroup limit. */
export const VMM_OVERHEAD_MIB = 128;

export function jailId(vmId: string): string {
  if (!JAIL_ID.test(vmId)) throw badRequest(`vm id "${vmId}" cannot name a jail (1-64 letters, digits or dashes)`);
  return vmId;
}

export interface Jail {
  id: string;
  /** The chroot on the host. */
  root: string;
  /** The jail directory the jailer makes (root's parent), removed as a whole. */
  dir: string;
  /** The API socket as the host sees it. */
  apiSock: string;
  /** The vsock UDS as the host sees it. */
  vsock: string;
}

export function jailFor(opts: Pick<JailerOptions, 'chrootBase'>, fcBin: string, vmId: string): Jail {
  if (!opts.chrootBase.startsWith('/')) throw badRequest(`jailer_chroot_base "${opts.chrootBase}" must be an absolute path`);
  const id = jailId(vmId);
  const root = jailRoot(opts.chrootBase, basename(fcBin), id);
  return { id, root, dir: dirname(root), apiSock: join(root, JAIL.apiSock), vsock: join(root, JAIL.vsock) };
}

/** The jailer's argv: it chroots, drops to uid/gid, applies the cgroup limits, then execs firecracker with the API socket. */
export function jailerArgv(opts: JailerOptions, fcBin: string, spec: Pick<LaunchSpec, 'vmId' | 'vcpu' | 'memoryMiB'>): string[] {
  for (const [what, n] of [['uid', opts.uid], ['gid', opts.gid]] as const) {
    if (!Number.isInteger(n) || n < 0 || n > 0xfffffffe) throw badRequest(`jailer ${what} ${n} is not a valid id`);
  }
  if (!fcBin.startsWith('/')) throw badRequest(`the jailer needs an absolute firecracker path, not "${fcBin}"`);
  const v = opts.cgroupVersion ?? 2;
  const memoryBytes = (spec.memoryMiB + VMM_OVERHEAD_MIB) * 1024 * 1024;
  const cgroups = v === 2 ? [`memory.max=${memoryBytes}`, `cpu.max=${spec.vcpu * 100000} 100000`] : [`memory.limit_in_bytes=${memoryBytes}`, `cpu.cfs_quota_us=${spec.vcpu * 100000}`, 'cpu.cfs_period_us=100000'];
  return [
    opts.bin,
    '--id', jailId(spec.vmId),
    '--exec-file', fcBin,
    '--uid', String(opts.uid),
    '--gid', String(opts.gid),
    '--chroot-base-dir', opts.chrootBase,
    '--cgroup-version', String(v),
    ...cgroups.flatMap((c) => ['--cgroup', c]),
    '--',
    '--api-sock', JAIL.apiSock,
  ];
}

/**
 * Lays out the chroot: the kernel, initrd and disks linked (or, read-only ones, copied) in, the
 * log, metrics and run directory made, all owned by the jail's uid/gid. Returns the paths
 * firecracker sees. On failure the jail directory is removed.
 */
export async function prepareJail(jail: Jail, opts: Pick<JailerOptions, 'uid' | 'gid'>, spec: LaunchSpec, kernel: string): Promise<FcPaths> {
  await rm(jail.dir, { recursive: true, force: true });
  await mkdir(join(jail.root, 'run'), { recursive: true, mode: 0o700 });
  try {
    const place = async (from: string, inJail: string, writable: boolean) => {
      const to = join(jail.root, inJail);
      try {
        await link(from, to);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (writable || (code !== 'EXDEV' && code !== 'EPERM')) {
          throw badRequest(
            `cannot link ${from} into the jail ${jail.root} (${code ?? String(err)})`,
            'put jailer_chroot_base on the same filesystem as banger\'s state directory, or set jailer_enabled = false',
          );
        }
        await copyFile(from, to);
      }
      await chown(to, opts.uid, opts.gid);
      return inJail;
    };
    const paths: FcPaths = {
      kernel: await place(kernel, JAIL.kernel, false),
      disks: [],
      log: JAIL.log,
      metrics: JAIL.metrics,
      vsock: JAIL.vsock,
    };
    if (spec.initrdPath) paths.initrd = await place(spec.initrdPath, JAIL.initrd, false);
    for (const [i, d] of spec.disks.entries()) paths.disks.push(await place(d.path, `/disk-${driveId(d.serial, i)}`, !d.readOnly));
    for (const f of [JAIL.log, JAIL.metrics]) {
      await writeFile(join(jail.root, f), '', { mode: 0o600 });
      await chown(join(jail.root, f), opts.uid, opts.gid);
    }
    await chown(join(jail.root, 'run'), opts.uid, opts.gid);
    return paths;
  } catch (err) {
    await removeJail(jail);
    throw err;
  }
}

/** Removes the jail directory (hard links inside it leave the VM's own files alone). */
export async function removeJail(jail: Pick<Jail, 'dir'>): Promise<void> {
  await rm(jail.dir, { recursive: true, force: true });
}

/** The jail a host-side API socket path belongs to, when it is one. */
export function jailOfSocket(apiSock: string): Pick<Jail, 'id' | 'root' | 'dir'> | undefined {
  const suffix = JAIL.apiSock;
  if (!apiSock.endsWith(suffix)) return undefined;
  const root = apiSock.slice(0, -suffix.length);
  if (basename(root) !== 'root') return undefined;
  const dir = dirname(root);
  const id = basename(dir);
  return JAIL_ID.test(id) ? { id, root, dir } : undefined;
}
