/** Which kernel a pulled image boots: given files, --kernel-ref, the image's own /boot, or a local kernel. */
import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { badRequest } from '../../api/errors.js';
import type { PullImageRequest } from '../../api/types.js';
import type { KernelRepository } from '../../store/kernels.js';
import type { OpContext } from '../op-context.js';
import { inspectKernel } from '../artifacts/kernel-file.js';

async function requireFile(what: string, path: string, dir = false): Promise<void> {
  if (!isAbsolute(path)) throw badRequest(`${what} path ${JSON.stringify(path)} is not absolute`, 'give the full path');
  const st = await stat(path).catch(() => undefined);
  if (!st || (dir ? !st.isDirectory() : !st.isFile())) throw badRequest(`${what} ${path} is not ${dir ? 'a directory' : 'a regular file'}`);
}

/** Checks --kernel/--initrd/--modules before anything is downloaded. */
export async function checkKernelFiles(req: Pick<PullImageRequest, 'kernel' | 'initrd' | 'modules'>): Promise<void> {
  if (!req.kernel) return;
  await requireFile('kernel', req.kernel);
  if (!(await inspectKernel(req.kernel))) throw badRequest(`kernel ${req.kernel} is not a Linux kernel (neither a bzImage nor an ELF vmlinux)`);
  if (req.initrd) await requireFile('initrd', req.initrd);
  if (req.modules) await requireFile('modules', req.modules, true);
}

/**
 * The kernel name for an image that carries no kernel: --kernel-ref, else the most recently imported
 * local kernel (said in the operation log). None at all is a bad_request with the commands that fix it.
 */
export function resolvePullKernel(req: Pick<PullImageRequest, 'kernelRef'>, kernels: KernelRepository, ctx: OpContext): string {
  if (req.kernelRef) return req.kernelRef;
  const all = kernels.list().sort((a, b) => (a.importedAt < b.importedAt ? 1 : -1));
  const pick = all[0];
  if (!pick) {
    throw badRequest(
      'the image has no kernel in /boot and there is no local kernel to boot it with',
      "import one (banger kernel import --name cloud --deb linux-image-cloud-amd64), then pull again with --kernel-ref cloud (the layers stay cached), or pass --kernel PATH",
    );
  }
  ctx.log(`the image has no kernel; it boots with local kernel ${pick.name}${all.length > 1 ? ' (the newest; choose another with --kernel-ref)' : ''}`);
  return pick.name;
}
