/** `kernel pull NAME`: a kernel catalog entry (a Debian kernel package or a bundle) downloaded, verified and staged. */
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { operationFailed } from '../../api/errors.js';
import { humanSize } from '../../model/size.js';
import { throwIfCancelled, type OpContext } from '../op-context.js';
import type { KernelEntry } from '../artifacts/catalog/catalog.js';
import { extractBundle } from '../artifacts/catalog/bundle.js';
import { downloadVerified } from '../artifacts/catalog/download.js';
import { inspectKernel } from '../artifacts/kernel-file.js';
import { importDebInto } from './import-deb.js';
import { faultPoint } from '../../system/faults.js';
import type { StagedKernel } from './staged.js';

/** What a kernel bundle may hold. */
export const KERNEL_BUNDLE = { files: ['vmlinuz', 'vmlinux', 'initrd.img'], trees: ['modules'] } as const;

export async function pullCatalogKernel(entry: KernelEntry, out: string, staging: string, ctx: OpContext): Promise<StagedKernel> {
  const src = entry.source;
  const fetched = join(staging, 'fetched');
  await mkdir(fetched, { mode: 0o700 });
  const file = join(fetched, src.kind === 'deb' ? basename(new URL(src.url).pathname).replace(/[^A-Za-z0-9._+~-]/g, '_') || 'kernel.deb' : 'bundle.tar.zst');
  await ctx.stage('download', `Downloading ${entry.name} (${humanSize(src.size)})`, () => downloadVerified(src, file, `kernel ${entry.name}`, ctx));
  faultPoint('kernel_pull.downloaded');
  throwIfCancelled(ctx.signal);
  if (src.kind === 'deb') {
    const staged = await importDebInto(file.endsWith('.deb') ? file : `${file}.deb`, out, staging, ctx);
    return { ...staged, source: `catalog:${entry.name} ${staged.source}`, extra: { ...staged.extra, url: src.url, sha256: src.sha256 } };
  }
  const roots = await ctx.stage('extract', `Unpacking ${entry.name}`, () => extractBundle(file, out, KERNEL_BUNDLE, `the bundle of kernel ${entry.name}`, ctx.signal));
  const kernelFile = roots.has('vmlinuz') ? 'vmlinuz' : roots.has('vmlinux') ? 'vmlinux' : undefined;
  if (!kernelFile) throw operationFailed(`the bundle of kernel ${entry.name} holds no vmlinuz or vmlinux`, 'the catalog entry is broken; tell whoever publishes the catalog');
  const info = await inspectKernel(join(out, kernelFile));
  if (!info) throw operationFailed(`${kernelFile} in the bundle of kernel ${entry.name} is not a Linux kernel`);
  return {
    kernelFile,
    ...(roots.has('initrd.img') ? { initrdFile: 'initrd.img' } : {}),
    ...(roots.has('modules') ? { modulesDir: 'modules' } : {}),
    distro: '',
    kernelVersion: info.version || entry.version || '',
    source: `catalog:${entry.name}`,
    extra: { url: src.url, sha256: src.sha256 },
  };
}
