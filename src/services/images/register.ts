/** Checking what `image register` is given: host paths to an ext4 rootfs and a kernel (or a kernel name). */
import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { badRequest, notFound } from '../../api/errors.js';
import type { RegisterImageRequest } from '../../api/types.js';
import { isExt4 } from '../../drivers/ext4/index.js';
import type { KernelRepository } from '../../store/kernels.js';
import { inspectKernel } from '../artifacts/kernel-file.js';


async function requirePath(what: string, path: string, kind: 'file' | 'dir'): Promise<void> {
  if (!isAbsolute(path)) throw badRequest(`${what} path ${JSON.stringify(path)} is not absolute`, 'give the full path, e.g. $PWD/rootfs.ext4');
  const st = await stat(path).catch(() => undefined);
  if (!st) throw badRequest(`${what} ${path} does not exist`);
  if (kind === 'file' && !st.isFile()) throw badRequest(`${what} ${path} is not a regular file`);
  if (kind === 'dir' && !st.isDirectory()) throw badRequest(`${what} ${path} is not a directory`);
}

/** Throws bad_request (naming the path) or not_found (unknown kernel name) when the request can't be registered. */
export async function checkRegisterRequest(req: RegisterImageRequest, kernels: KernelRepository): Promise<void> {
  if (typeof req.rootfs !== 'string' || req.rootfs === '') throw badRequest('a rootfs path is required');
  await requirePath('rootfs', req.rootfs, 'file');
  if (!(await isExt4(req.rootfs))) {
    throw badRequest(`rootfs ${req.rootfs} is not an ext4 filesystem image`, 'make one with mkfs.ext4 -d <dir> <file> <size>');
  }
  const hasFiles = req.kernel !== undefined || req.initrd !== undefined || req.modules !== undefined;
  if (req.kernelRef !== undefined && hasFiles) {
    throw badRequest('--kernel-ref and --kernel/--initrd/--modules are mutually exclusive', 'give either a kernel name or kernel files');
  }
  if (req.kernelRef === undefined && req.kernel === undefined) {
    throw badRequest('a kernel is required: --kernel <path> (with optional --initrd, --modules) or --kernel-ref <name>', "see 'banger kernel list'");
  }
  if (req.kernelRef !== undefined) {
    if (!kernels.get(req.kernelRef)) {
      throw notFound(`kernel ${JSON.stringify(req.kernelRef)} not found`, "run 'banger kernel list' or import one with 'banger kernel import'");
    }
    return;
  }
  if (req.kernel === undefined) throw badRequest('--initrd and --modules need --kernel');
  await requirePath('kernel', req.kernel, 'file');
  if (!(await inspectKernel(req.kernel))) {
    throw badRequest(`kernel ${req.kernel} is not a Linux kernel (neither a bzImage nor an ELF vmlinux)`);
  }
  if (req.initrd !== undefined) await requirePath('initrd', req.initrd, 'file');
  if (req.modules !== undefined) await requirePath('modules', req.modules, 'dir');
}
