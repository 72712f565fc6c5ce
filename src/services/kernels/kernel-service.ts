/** Kernels: imported from files or Debian kernel packages into kernels/<name>/, with sha256 recorded. */
import { copyFile, chmod, mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { alreadyExists, badRequest, notFound } from '../../api/errors.js';
import type { KernelInfo } from '../../api/types.js';
import type { Layout } from '../../config/paths.js';
import { ImageRepository } from '../../store/images.js';
import { KernelRepository, type KernelRecord } from '../../store/kernels.js';
import type { Logger } from '../../system/logger.js';
import { quietContext, throwIfCancelled, type OpContext } from '../op-context.js';
import { copyTree } from '../artifacts/copy.js';
import { sha256File } from '../artifacts/digest.js';
import { validateArtifactName } from '../artifacts/names.js';
import { makeStaging, publishDir, removeTree } from '../artifacts/staging.js';
import { inspectKernel } from '../artifacts/kernel-file.js';
import { importDebInto } from './import-deb.js';
import type { StagedKernel } from './staged.js';
import { faultPoint } from '../../system/faults.js';

export interface KernelServiceDeps {
  db: Database;
  layout: Layout;
  logger?: Logger;
}

export interface KernelFiles {
  kernel: string;
  initrd?: string;
  modules?: string;
}

export const KERNEL_FILES = { initrd: 'initrd.img', modules: 'modules', manifest: 'manifest.json' } as const;


function toInfo(k: KernelRecord): KernelInfo {
  const { dir: _dir, ...info } = k;
  return info;
}

async function requireAbs(what: string, path: string, kind: 'file' | 'dir'): Promise<void> {
  if (!isAbsolute(path)) throw badRequest(`${what} path ${JSON.stringify(path)} is not absolute`);
  const st = await stat(path).catch(() => undefined);
  if (!st) throw badRequest(`${what} ${path} does not exist`);
  if (kind === 'file' ? !st.isFile() : !st.isDirectory()) throw badRequest(`${what} ${path} is not a ${kind === 'file' ? 'regular file' : 'directory'}`);
}

export class KernelService {
  private readonly repo: KernelRepository;
  private readonly images: ImageRepository;

  constructor(private readonly deps: KernelServiceDeps) {
    this.repo = new KernelRepository(deps.db);
    this.images = new ImageRepository(deps.db);
  }

  list(): KernelInfo[] {
    return this.repo.list().map(toInfo);
  }

  find(name: string): KernelInfo | undefined {
    const k = this.repo.get(name);
    return k && toInfo(k);
  }

  get(name: string): KernelInfo {
    const k = this.repo.get(name);
    if (!k) {
      const names = this.repo.list().map((x) => x.name);
      throw notFound(`kernel ${JSON.stringify(name)} not found`, `local kernels: ${names.length > 0 ? names.join(', ') : 'none'} (banger kernel import)`);
    }
    return toInfo(k);
  }

  /** Removes a kernel; refused while an image refers to it by name. */
  async remove(name: string): Promise<void> {
    const k = this.repo.get(name);
    if (!k) this.get(name);
    const users = this.images.list().filter((i) => i.kernelRef === name).map((i) => i.name);
    if (users.length > 0) {
      throw badRequest(`kernel ${JSON.stringify(name)} is used by image ${users.join(', ')}`, `delete ${users.length === 1 ? 'that image' : 'those images'} first`);
    }
    // The row goes first: a crash after it leaves only an unreferenced directory, which the next start removes.
    this.repo.delete(name);
    faultPoint('kernel_remove.row');
    const t = await makeStaging(this.deps.layout.stagingDir, `delete-kernel-${name}`);
    if (await stat(k!.dir).catch(() => undefined)) await rename(k!.dir, join(t, 'kernel'));
    faultPoint('kernel_remove.moved');
    await removeTree(t);
    this.deps.logger?.info('kernel removed', { kernel: name });
  }

  /** Refuses an invalid or taken name; the API calls it before an import operation starts. */
  checkNew(name: string): void {
    validateArtifactName('kernel', name);
    if (this.repo.get(name)) throw alreadyExists(`kernel ${JSON.stringify(name)} already exists`, `remove it first: banger kernel rm ${name}`);
  }

  /** Imports a kernel (bzImage or vmlinux), with an optional initrd and modules directory. */
  async importFiles(name: string, files: KernelFiles, ctx: OpContext = quietContext()): Promise<KernelInfo> {
    this.checkNew(name);
    await requireAbs('kernel', files.kernel, 'file');
    const info = await inspectKernel(files.kernel);
    if (!info) throw badRequest(`${files.kernel} is not a Linux kernel (neither a bzImage nor an ELF vmlinux)`);
    if (files.initrd !== undefined) await requireAbs('initrd', files.initrd, 'file');
    if (files.modules !== undefined) await requireAbs('modules', files.modules, 'dir');
    return this.publish(name, ctx, async (out) => {
      const kernelFile = info.format === 'vmlinux' ? 'vmlinux' : 'vmlinuz';
      await ctx.stage('copy', 'Copying kernel files', async () => {
        await copyFile(files.kernel, join(out, kernelFile));
        if (files.initrd) await copyFile(files.initrd, join(out, KERNEL_FILES.initrd));
        if (files.modules) await copyTree(files.modules, join(out, KERNEL_FILES.modules), ctx.signal);
      });
      return {
        kernelFile,
        initrdFile: files.initrd ? KERNEL_FILES.initrd : undefined,
        modulesDir: files.modules ? KERNEL_FILES.modules : undefined,
        distro: '',
        kernelVersion: info.version,
        source: `import:${files.kernel}`,
      };
    });
  }

  /**
   * Imports a Debian kernel package (a .deb path or a package name fetched with apt-get download) and
   * builds an initramfs that loads the virtio, ext4 and vsock modules before mounting root.
   */
  async importDeb(name: string, debOrPackage: string, ctx: OpContext = quietContext()): Promise<KernelInfo> {
    this.checkNew(name);
    return this.publish(name, ctx, (out, staging) => importDebInto(debOrPackage, out, staging, ctx));
  }

  private async publish(name: string, ctx: OpContext, fill: (out: string, staging: string) => Promise<StagedKernel>): Promise<KernelInfo> {
    const staging = await makeStaging(this.deps.layout.stagingDir, `kernel-${name}`);
    const dir = join(this.deps.layout.kernelsDir, name);
    try {
      const out = join(staging, 'out');
      await mkdir(out, { mode: 0o755 });
      const staged = await fill(out, staging);
      faultPoint('kernel_import.copied');
      throwIfCancelled(ctx.signal);
      return await ctx.stage('publish', `Publishing kernel ${name}`, async () => {
        const record: KernelRecord = {
          name,
          distro: staged.distro,
          arch: 'x86_64',
          kernelVersion: staged.kernelVersion,
          dir,
          kernelPath: join(dir, staged.kernelFile),
          sha256: await sha256File(join(out, staged.kernelFile)),
          source: staged.source,
          importedAt: new Date().toISOString(),
        };
        await chmod(join(out, staged.kernelFile), 0o644);
        if (staged.initrdFile) {
          await chmod(join(out, staged.initrdFile), 0o644);
          record.initrdPath = join(dir, staged.initrdFile);
          record.initrdSha256 = await sha256File(join(out, staged.initrdFile));
        }
        if (staged.modulesDir) record.modulesPath = join(dir, staged.modulesDir);
        const { dir: _d, ...manifest } = record;
        const files = { kernel: staged.kernelFile, initrd: staged.initrdFile, modules: staged.modulesDir };
        await writeFile(join(out, KERNEL_FILES.manifest), JSON.stringify({ schema: 1, ...manifest, files, ...staged.extra }, null, 2) + '\n');
        await publishDir(out, dir);
        faultPoint('kernel_import.published');
        try {
          this.repo.insert(record);
        } catch (err) {
          await removeTree(dir);
          throw err;
        }
        this.deps.logger?.info('kernel imported', { kernel: name, source: record.source });
        return toInfo(record);
      });
    } catch (err) {
      throwIfCancelled(ctx.signal);
      throw err;
    } finally {
      await removeTree(staging).catch((err: unknown) => ctx.log(`could not remove ${staging}: ${String(err)}`, 'warn'));
    }
  }
}
