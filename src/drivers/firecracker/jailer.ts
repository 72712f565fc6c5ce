/**
 * Running firecracker under its jailer: the argv (chroot, uid/gid, cgroup limits from the VM's
 * size) and the chroot layout. The jailer makes <chroot base>/firecracker/<id>/root and copies
 * the firecracker binary in; banger puts the VM's artifacts there first — writable disks as hard
 * links (the VM must write the real file), read-only ones linked or copied — owned by the jail's
 * uid/gid, and removes the whole jail directory when the VM stops.
 *
 * @module
 */
import { chown, copyFile, link, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
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
  /** A snapshot's memory and device state, as firecracker writes or loads them. */
  memory: '/snapshot.mem',
  state: '/snapshot.vmstate',
} as const;

/** What a jailed firecracker sees: FcPaths without a kernel on a restore, and the extra files placed in. */
export type JailPaths = Omit<FcPaths, 'kernel'> & { kernel?: string; extra: string[] };

const JAIL_ID = /^[a-zA-Z0-9-]{1,64}$/;
/** A file banger puts in each jail directory it makes (outside the chroot), so a sweep removes only banger's jails. */
export const JAIL_MARKER = 'banger-vm';
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
 * log, metrics and run directory made, all owned by the jail's uid/gid; a restore gets no kernel
 * but the saved state's files (`extra`: host path, path in the jail). Returns the paths
 * firecracker sees. On failure the jail directory is removed.
 */
export async function prepareJail(
  jail: Jail,
  opts: Pick<JailerOptions, 'uid' | 'gid'>,
  spec: LaunchSpec,
  files: { kernel?: string; extra?: readonly (readonly [from: string, inJail: string])[] },
): Promise<JailPaths> {
  await rm(jail.dir, { recursive: true, force: true });
  await mkdir(join(jail.root, 'run'), { recursive: true, mode: 0o700 });
  try {
    await writeFile(join(jail.dir, JAIL_MARKER), `${spec.vmId}\n`, { mode: 0o600 });
    // The jailed firecracker resolves every path from this directory once it runs as uid/gid.
    await chown(jail.root, opts.uid, opts.gid);
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
    const paths: JailPaths = { disks: [], log: JAIL.log, metrics: JAIL.metrics, vsock: JAIL.vsock, extra: [] };
    if (files.kernel) {
      paths.kernel = await place(files.kernel, JAIL.kernel, false);
      if (spec.initrdPath) paths.initrd = await place(spec.initrdPath, JAIL.initrd, false);
    }
    for (const [from, inJail] of files.extra ?? []) paths.extra.push(await place(from, inJail, false));
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

/**
 * Removes the jails banger made under `<chrootBase>/<execName>` (those with its marker) whose VM
 * is not in `live` and whose firecracker no longer runs (`running(id)`); returns their ids.
 * Directories without the marker belong to someone else and are left alone.
 */
export async function sweepJails(chrootBase: string, execName: string, live: ReadonlySet<string>, running: (id: string) => boolean): Promise<string[]> {
  const base = join(chrootBase, execName);
  const removed: string[] = [];
  for (const id of await readdir(base).catch(() => [] as string[])) {
    if (!JAIL_ID.test(id) || live.has(id) || running(id)) continue;
    if (!(await stat(join(base, id, JAIL_MARKER)).catch(() => undefined))?.isFile()) continue;
    await removeJail({ dir: join(base, id) });
    removed.push(id);
  }
  return removed;
}

/** Whether a process's argv is a jailed firecracker (or its jailer) for jail `id`. */
export function isJailedArgv(argv: readonly string[], id?: string): string | undefined {
  const sock = argv.indexOf('--api-sock');
  if (sock < 0 || argv[sock + 1] !== JAIL.apiSock) return undefined;
  const i = argv.indexOf('--id');
  const found = i >= 0 ? argv[i + 1] : undefined;
  if (!found || !JAIL_ID.test(found)) return undefined;
  return id === undefined || id === found ? found : undefined;
}
