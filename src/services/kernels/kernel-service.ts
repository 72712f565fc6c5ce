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
import { Catalogs } from '../artifacts/catalog/load.js';
import { pullCatalogKernel } from './pull-catalog.js';
import type { CatalogKernelInfo } from '../../api/types.js';

export interface KernelServiceDeps {
  db: Database;
  layout: Layout;
  logger?: Logger;
  /** The kernel catalog (default: the built-in one). */
  catalogs?: Catalogs;
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
  private readonly pulls = new Map<string, Promise<KernelInfo>>();
  readonly catalogs: Catalogs;

  constructor(private readonly deps: KernelServiceDeps) {
    this.repo = new KernelRepository(deps.db);
    this.images = new ImageRepository(deps.db);
    this.catalogs = deps.catalogs ?? new Catalogs({ images: '', kernels: '' });
  }

  /** The kernel catalog, each entry marked pulled when a local kernel has its name. */
  async available(signal?: AbortSignal): Promise<CatalogKernelInfo[]> {
    const cat = await this.catalogs.kernels(signal);
    return cat.entries.map((e) => ({
      name: e.name,
      description: e.description,
      ...(e.version ? { version: e.version } : {}),
      default: e.default === true,
      kind: e.source.kind,
      url: e.source.url,
      sha256: e.source.sha256,
      sizeBytes: e.source.size,
      pulled: this.repo.get(e.name) !== undefined,
      catalog: cat.origin,
    }));
  }

  /** Refuses a bad name, or a kernel already here without force; the API calls it before a pull operation starts. */
  checkPull(name: string, force: boolean): void {
    validateArtifactName('kernel', name);
    if (this.repo.get(name) && !force && !this.pulls.has(name)) {
      throw alreadyExists(`kernel ${JSON.stringify(name)} is already here`, `banger kernel pull ${name} --force downloads it again and replaces it`);
    }
  }

  /**
   * Downloads a kernel catalog entry (verified against the catalog's size and sha256) and stores it
   * under the entry's name. With force an existing kernel of that name is replaced once the new one is
   * ready. Concurrent pulls of one name share the work.
   */
  async pull(name: string, force: boolean, ctx: OpContext = quietContext()): Promise<KernelInfo> {
    this.checkPull(name, force);
    const running = this.pulls.get(name);
    if (running) return running;
    const p = (async () => {
      const entry = await ctx.stage('catalog', 'Looking up the kernel catalog', () => this.catalogs.kernel(name, ctx.signal));
      return this.publish(name, ctx, (out, staging) => pullCatalogKernel(entry, out, staging, ctx), force);
    })().finally(() => this.pulls.delete(name));
    this.pulls.set(name, p);
    return p;
  }

  /** The catalog's default kernel: returned when here, pulled when not. Undefined when the catalog names none. */
  async ensureDefault(ctx: OpContext): Promise<KernelInfo | undefined> {
    const cat = await this.catalogs.kernels(ctx.signal);
    const def = cat.entries.find((e) => e.default);
    if (!def) return undefined;
    return this.find(def.name) ?? (await this.pull(def.name, false, ctx));
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

  private async publish(name: string, ctx: OpContext, fill: (out: string, staging: string) => Promise<StagedKernel>, replace = false): Promise<KernelInfo> {
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
        if (replace && this.repo.get(name)) {
          // The old row goes first (as in remove): a crash in between leaves an unreferenced directory the next start removes.
          this.repo.delete(name);
          if (await stat(dir).catch(() => undefined)) await rename(dir, join(staging, 'replaced'));
        }
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
