/** Images: the store of rootfs + kernel + work seed sets, built from recipes, registered or promoted. */
import { randomBytes } from 'node:crypto';
import { rename, stat } from 'node:fs/promises';
import { join, relative, isAbsolute } from 'node:path';
import type { Database } from 'better-sqlite3';
import { alreadyExists, badRequest, notFound } from '../../api/errors.js';
import type { Config } from '../../config/schema.js';
import type { Layout } from '../../config/paths.js';
import { exists as ext4Exists } from '../../drivers/ext4/index.js';
import { GUEST_BITS_MARKER } from '../../guest/index.js';
import type { Logger } from '../../system/logger.js';
import { ImageRepository, type ImageRecord } from '../../store/images.js';
import { KernelRepository } from '../../store/kernels.js';
import { quietContext, throwIfCancelled, type OpContext } from '../op-context.js';
import { buildImage, buildPreflight, dirSize } from './build.js';
import { IMAGE_FILES, type ImageManifest } from './manifest.js';
import { validateArtifactName } from '../artifacts/names.js';
import { promoteImage } from './promote.js';
import { builtinRecipes, findRecipe, summarize, type Recipe, type RecipeSummary } from './recipes.js';
import type { CachePruneResult, PullImageRequest, PushImageRequest, PushImageResult, RegisterImageRequest } from '../../api/types.js';
import { parseSize } from '../../model/size.js';
import { BlobCache } from './oci/blob-cache.js';
import { FlatCache } from './oci/flat-cache.js';
import { pushArtifact } from './oci/artifact.js';
import { credentialFor } from './oci/credentials.js';
import { defaultImageName, formatRef, parseRef, type ImageRef } from './oci/reference.js';
import { RegistryClient } from './oci/registry.js';
import { checkArtifactPull, pullArtifact } from './pull-artifact.js';
import { checkKernelFiles, resolvePullKernel } from './pull-kernel.js';
import { checkPullSize, openSource, pullImage } from './pull.js';
import { checkRegisterRequest } from './register.js';
import { makeStaging, removeTree } from '../artifacts/staging.js';
import { faultPoint } from '../../system/faults.js';
import { Catalogs } from '../artifacts/catalog/load.js';
import type { ImageEntry } from '../artifacts/catalog/catalog.js';
import type { CatalogImageInfo, ImageInfo, KernelInfo } from '../../api/types.js';
import { pullBundleImage } from './pull-bundle.js';

/** A bare name (no registry, tag or digest): looked up in the image catalog before being tried as an OCI reference. */
export function isCatalogName(ref: string): boolean {
  return /^[a-z0-9][a-z0-9._-]{0,62}$/.test(ref);
}

export interface ImageServiceDeps {
  db: Database;
  layout: Layout;
  config: Config;
  logger?: Logger;
  /** Recipes to build from (default: the ones shipped with banger). Tests pass their own. */
  recipes?: readonly Recipe[];
  /** The Docker config file with registry credentials (default: $DOCKER_CONFIG or ~/.docker/config.json). */
  dockerConfig?: string;
  /** The image catalog (default: the built-in one). */
  catalogs?: Catalogs;
  /** The kernel catalog's default kernel, pulled when missing (for images without a kernel). */
  defaultKernel?: (ctx: OpContext) => Promise<KernelInfo | undefined>;
  /** A kernel catalog entry, pulled when missing (for catalog images that name one). */
  pullKernel?: (name: string, ctx: OpContext) => Promise<KernelInfo> | KernelInfo;
}

export interface BuildRequest {
  name?: string;
}

export type { RegisterImageRequest };

function toInfo(r: ImageRecord): ImageInfo {
  const { dir: _dir, ...info } = r;
  return info;
}

export class ImageService {
  private readonly repo: ImageRepository;
  private readonly kernels: KernelRepository;
  private readonly recipeList: readonly Recipe[];
  private readonly inflight = new Map<string, Promise<ImageInfo>>();
  /** The OCI blob cache every pull shares. */
  readonly blobs: BlobCache;
  /** Finished rootfs and work seed of pulled OCI images, by manifest digest. */
  readonly flat: FlatCache;
  readonly catalogs: Catalogs;

  constructor(private readonly deps: ImageServiceDeps) {
    this.repo = new ImageRepository(deps.db);
    this.kernels = new KernelRepository(deps.db);
    this.recipeList = deps.recipes ?? builtinRecipes();
    this.blobs = new BlobCache(deps.layout.ociCacheDir);
    this.flat = new FlatCache(join(deps.layout.ociCacheDir, 'flat'));
    this.catalogs = deps.catalogs ?? new Catalogs({ images: '', kernels: '' });
  }

  /** The image catalog, each entry marked pulled when a local image has its name. */
  async available(signal?: AbortSignal): Promise<CatalogImageInfo[]> {
    const cat = await this.catalogs.images(signal);
    return cat.entries.map((e) => {
      const local = this.repo.getByName(e.name);
      const s = e.source;
      return {
        name: e.name,
        description: e.description,
        ...(e.distro ? { distro: e.distro } : {}),
        ...(e.kernel ? { kernel: e.kernel } : {}),
        kind: s.kind,
        from: s.kind === 'bundle' ? s.url : s.kind === 'oci' ? s.ref : s.recipe,
        ...(s.kind === 'bundle' ? { sizeBytes: s.size } : {}),
        pulled: local !== undefined,
        ...(local ? { localSizeBytes: local.sizeBytes } : {}),
        catalog: cat.origin,
      };
    });
  }

  /** The image catalog entry of that name, if the catalog has one. */
  async catalogEntry(name: string, signal?: AbortSignal): Promise<ImageEntry | undefined> {
    if (!isCatalogName(name)) return undefined;
    return (await this.catalogs.images(signal)).entries.find((e) => e.name === name);
  }

  list(): ImageInfo[] {
    return this.repo.list().map(toInfo);
  }

  /** The recipes `image build` accepts (`image build --list`). */
  recipes(): RecipeSummary[] {
    return this.recipeList.map(summarize);
  }

  find(nameOrId: string): ImageInfo | undefined {
    const r = this.repo.find(nameOrId);
    return r && toInfo(r);
  }

  get(nameOrId: string): ImageInfo {
    const r = this.repo.find(nameOrId);
    if (!r) throw notFound(`image ${JSON.stringify(nameOrId)} not found`, this.availableHint());
    return toInfo(r);
  }

  private availableHint(): string {
    const local = this.repo.list().map((i) => i.name);
    const buildable = this.recipeList.map((r) => r.name).filter((n) => !local.includes(n));
    const parts = [`local images: ${local.length > 0 ? local.join(', ') : 'none'}`];
    if (buildable.length > 0) parts.push(`buildable: ${buildable.join(', ')} (banger image build <name>)`);
    return parts.join('; ');
  }

  private ensureNameFree(name: string): void {
    const existing = this.repo.getByName(name);
    if (existing) {
      throw alreadyExists(`image ${JSON.stringify(name)} already exists (id ${existing.id})`, 'pick a different --name or delete it first');
    }
    if (this.inflight.has(name)) throw alreadyExists(`image ${JSON.stringify(name)} is already being built`);
  }

  /** Builds an image from a recipe and stores it as a managed image. */
  /** Checks a build request before anything starts: the recipe exists and the image name is valid and free. */
  checkBuild(recipeName: string, req: BuildRequest): { recipe: Recipe; name: string } {
    const recipe = findRecipe(this.recipeList, recipeName);
    const name = validateArtifactName('image', req.name ?? recipe.name);
    this.ensureNameFree(name);
    return { recipe, name };
  }

  async build(recipeName: string, req: BuildRequest, ctx: OpContext): Promise<ImageInfo> {
    // Everything up to registering the build in `inflight` runs synchronously, so concurrent callers see it.
    const { recipe, name } = this.checkBuild(recipeName, req);
    buildPreflight();
    const p = this.runBuild(recipe, name, ctx).finally(() => this.inflight.delete(name));
    this.inflight.set(name, p);
    return await p;
  }

  private async runBuild(recipe: Recipe, name: string, ctx: OpContext): Promise<ImageInfo> {
    const id = randomBytes(8).toString('hex');
    const dir = join(this.deps.layout.imagesDir, id);
    this.deps.logger?.info('image build started', { image: name, recipe: recipe.name, id });
    const built = await buildImage(
      { recipe, id, name, mirror: this.deps.config.debian_mirror, stagingRoot: this.deps.layout.stagingDir, destDir: dir },
      ctx,
    );
    faultPoint('build.published');
    const m = built.manifest;
    const record: ImageRecord = {
      id,
      name,
      managed: true,
      distro: m.distro,
      arch: m.arch,
      source: m.source,
      dir,
      rootfsPath: join(dir, IMAGE_FILES.rootfs),
      workSeedPath: join(dir, IMAGE_FILES.workSeed),
      kernelPath: join(dir, IMAGE_FILES.kernel),
      initrdPath: join(dir, IMAGE_FILES.initrd),
      sizeBytes: await dirSize(dir),
      createdAt: m.createdAt,
      meta: {
        guestBits: true,
        guestBitsVersion: m.guestBits.version,
        recipe: m.recipe,
        suite: m.suite,
        kernelVersion: m.kernelVersion,
        kernelSha256: m.sha256.kernel,
        initrdSha256: m.sha256.initrd,
        cmdline: m.cmdline,
      },
    };
    await this.insertPublished(record, dir);
    this.deps.logger?.info('image build finished', { image: name, id });
    return toInfo(record);
  }

  /** Checks a pull request and reserves its name; returns the name. Runs synchronously up to the reservation. */
  pullName(req: PullImageRequest): string {
    const name = validateArtifactName('image', req.name ?? (isCatalogName(req.ref) ? req.ref : defaultImageName(parseRef(req.ref))));
    this.ensureNameFree(name);
    return name;
  }

  /** Pulls an OCI image, flattens it to ext4 and stores it as a managed image. */
  async pull(req: PullImageRequest, ctx: OpContext): Promise<ImageInfo> {
    const name = this.pullName(req);
    const sizeBytes = req.size !== undefined ? parseSize(req.size) : undefined;
    checkPullSize(sizeBytes);
    const p = this.runPull(req, name, sizeBytes, ctx).finally(() => this.inflight.delete(name));
    this.inflight.set(name, p);
    return await p;
  }

  private async runPull(req: PullImageRequest, name: string, sizeBytes: number | undefined, ctx: OpContext): Promise<ImageInfo> {
    if (isCatalogName(req.ref)) {
      const entry = await ctx.stage('catalog', 'Looking up the image catalog', () => this.catalogEntry(req.ref, ctx.signal));
      if (entry) return this.pullCatalog(entry, req, name, sizeBytes, ctx);
      ctx.log(`${req.ref} is not in the image catalog; trying it as an OCI reference (${formatRef(parseRef(req.ref))})`);
    }
    return this.pullOci(req, name, sizeBytes, ctx);
  }

  private async pullCatalog(entry: ImageEntry, req: PullImageRequest, name: string, sizeBytes: number | undefined, ctx: OpContext): Promise<ImageInfo> {
    const src = entry.source;
    const given = (['size', 'platform', 'kernel', 'initrd', 'modules'] as const).filter((k) => req[k] !== undefined && !(k === 'platform' && req.platform === 'linux/amd64'));
    if (src.kind !== 'oci' && given.length > 0) {
      throw badRequest(`${given.map((k) => `--${k}`).join(', ')} ${given.length === 1 ? 'does' : 'do'} not apply to catalog image ${entry.name} (a ${src.kind})`, 'pull it without them');
    }
    if (src.kind === 'recipe') {
      if (req.kernelRef) throw badRequest(`--kernel-ref does not apply to catalog image ${entry.name} (built from recipe ${src.recipe} with its own kernel)`);
      const recipe = findRecipe(this.recipeList, src.recipe);
      buildPreflight();
      ctx.log(`${entry.name} is built on this host from recipe ${src.recipe}`);
      return this.runBuild(recipe, name, ctx);
    }
    const kernelRef = req.kernelRef ?? entry.kernel;
    if (kernelRef && !this.kernels.get(kernelRef)) {
      if (!this.deps.pullKernel || req.kernelRef) {
        throw notFound(`kernel ${JSON.stringify(kernelRef)} not found`, `banger kernel pull ${kernelRef}, or banger kernel list`);
      }
      await this.deps.pullKernel(kernelRef, ctx);
    }
    if (src.kind === 'oci') {
      ctx.log(`${entry.name} is the OCI image ${src.ref}`);
      return this.pullOci({ ...req, ref: src.ref, ...(kernelRef ? { kernelRef } : {}) }, name, sizeBytes, ctx);
    }
    const id = randomBytes(8).toString('hex');
    const dir = join(this.deps.layout.imagesDir, id);
    this.deps.logger?.info('image catalog pull started', { image: name, entry: entry.name, id });
    const m = await pullBundleImage(
      { entryName: entry.name, source: src, distro: entry.distro ?? '', id, name, stagingRoot: this.deps.layout.stagingDir, destDir: dir, kernelElsewhere: kernelRef !== undefined },
      ctx,
    );
    const record = recordFromManifest(id, name, dir, m, await dirSize(dir), { catalog: { url: src.url, sha256: src.sha256 } });
    if (!m.files.kernel && kernelRef) record.kernelRef = kernelRef;
    await this.insertPublished(record, dir);
    this.deps.logger?.info('image catalog pull finished', { image: name, id });
    return toInfo(record);
  }

  /** The kernel for an OCI image without one: --kernel-ref, else the catalog's default kernel (pulled when missing), else the newest local one. */
  private async kernelForImage(req: PullImageRequest, ctx: OpContext): Promise<string> {
    if (req.kernelRef || !this.deps.defaultKernel) return resolvePullKernel(req, this.kernels, ctx);
    try {
      const k = await this.deps.defaultKernel(ctx);
      if (k) {
        ctx.log(`the image has no kernel in /boot; it boots with ${k.name}, the kernel catalog's default (choose another with --kernel-ref)`);
        return k.name;
      }
    } catch (err) {
      throwIfCancelled(ctx.signal);
      if (this.kernels.list().length === 0) throw err;
      ctx.log(`could not get the kernel catalog's default kernel: ${(err as Error).message}`, 'warn');
    }
    return resolvePullKernel(req, this.kernels, ctx);
  }

  private async pullOci(req: PullImageRequest, name: string, sizeBytes: number | undefined, ctx: OpContext): Promise<ImageInfo> {
    if (req.kernel) await checkKernelFiles(req);
    if (req.kernelRef && !this.kernels.get(req.kernelRef)) {
      throw notFound(`kernel ${JSON.stringify(req.kernelRef)} not found`, "run 'banger kernel list' or import one with 'banger kernel import'");
    }
    const source = await ctx.stage('resolve', `Resolving ${req.ref}`, () =>
      openSource(req.ref, req.platform, { insecure: this.deps.config.insecure_registries ?? [], ...(this.deps.dockerConfig ? { dockerConfig: this.deps.dockerConfig } : {}) }, ctx.signal),
    );
    const id = randomBytes(8).toString('hex');
    const dir = join(this.deps.layout.imagesDir, id);
    this.deps.logger?.info('image pull started', { image: name, ref: req.ref, id });
    const pullOpts = { source, cache: this.blobs, id, name, stagingRoot: this.deps.layout.stagingDir, destDir: dir, ...(sizeBytes !== undefined ? { sizeBytes } : {}), kernelFiles: req, flat: this.flat };
    if (source.artifact) checkArtifactPull(pullOpts);
    const pulled = source.artifact ? await pullArtifact(pullOpts, ctx) : await pullImage(pullOpts, ctx);
    const m = pulled.manifest;
    let kernelRef: string | undefined;
    try {
      faultPoint('pull.published');
      kernelRef = m.files.kernel ? undefined : await this.kernelForImage(req, ctx);
    } catch (err) {
      await removeTree(dir);
      throw err;
    }
    const record = recordFromManifest(id, name, dir, m, await dirSize(dir), { warnings: pulled.warnings });
    if (kernelRef) record.kernelRef = kernelRef;
    await this.insertPublished(record, dir);
    this.deps.logger?.info('image pull finished', { image: name, id });
    return toInfo(record);
  }

  /** Records an image just published at `dir`; when the row cannot be written the directory goes too. */
  private async insertPublished(record: ImageRecord, dir: string): Promise<void> {
    try {
      this.repo.insert(record);
    } catch (err) {
      await removeTree(dir);
      throw err;
    }
  }

  /** Stores a managed image in an OCI registry as a banger image artifact. */
  /** Checks a push request before anything starts: a managed image, and a reference with a tag. */
  checkPush(nameOrId: string, req: PushImageRequest): { image: ImageRecord & { dir: string }; ref: ImageRef } {
    const image = this.repo.find(nameOrId);
    if (!image) throw notFound(`image ${JSON.stringify(nameOrId)} not found`, this.availableHint());
    if (!image.managed || !image.dir) {
      throw badRequest(`image ${image.name} is registered, not managed: push sends a managed image's files`, `run 'banger image promote ${image.name}' first`);
    }
    const ref = parseRef(req.ref);
    if (ref.digest) throw badRequest(`push stores the image under a tag, not a digest (${req.ref})`, `e.g. ${ref.registry}/${ref.repository}:${image.name}`);
    return { image: { ...image, dir: image.dir }, ref };
  }

  async push(nameOrId: string, req: PushImageRequest, ctx: OpContext): Promise<PushImageResult> {
    const { image, ref } = this.checkPush(nameOrId, req);
    const tag = ref.tag ?? 'latest';
    const credential = await credentialFor(ref.registry, this.deps.dockerConfig);
    const client = new RegistryClient(ref, { insecure: this.deps.config.insecure_registries ?? [], ...(credential ? { credential } : {}), signal: ctx.signal });
    const scratch = await makeStaging(this.deps.layout.stagingDir, `push-${image.id}`);
    try {
      this.deps.logger?.info('image push started', { image: image.name, ref: req.ref });
      const pushed = await pushArtifact({ client, tag, imageDir: image.dir, scratch }, ctx);
      this.deps.logger?.info('image push finished', { image: image.name, ref: req.ref, digest: pushed.digest });
      return { image: image.name, ref: formatRef({ ...ref, tag }), digest: pushed.digest, bytes: pushed.bytes };
    } finally {
      await removeTree(scratch);
    }
  }

  /** Empties the OCI blob cache (blobs a running pull uses stay) and the flattened-image cache. */
  async pruneCache(dryRun: boolean): Promise<CachePruneResult> {
    const b = await this.blobs.prune(dryRun);
    const f = await this.flat.prune(dryRun);
    return { blobs: b.blobs, flattened: f.entries, bytes: b.bytes + f.bytes, dryRun };
  }

  /** Records a user's own files as an unmanaged image. The files are never modified. */
  async register(req: RegisterImageRequest): Promise<ImageInfo> {
    const name = validateArtifactName('image', req.name);
    this.ensureNameFree(name);
    await checkRegisterRequest(req, this.kernels);
    faultPoint('register.checked');
    const st = await stat(req.rootfs);
    const record: ImageRecord = {
      id: randomBytes(8).toString('hex'),
      name,
      managed: false,
      distro: '',
      arch: 'x86_64',
      source: 'register',
      rootfsPath: req.rootfs,
      sizeBytes: st.size,
      createdAt: new Date().toISOString(),
      meta: { guestBits: await ext4Exists(req.rootfs, GUEST_BITS_MARKER).catch(() => false) },
    };
    if (req.kernelRef !== undefined) record.kernelRef = req.kernelRef;
    if (req.kernel !== undefined) record.kernelPath = req.kernel;
    if (req.initrd !== undefined) record.initrdPath = req.initrd;
    if (req.modules !== undefined) record.modulesPath = req.modules;
    this.repo.insert(record);
    return toInfo(record);
  }

  /** Copies a registered image into managed storage and adds the guest bits to the copy. */
  async promote(nameOrId: string, ctx: OpContext = quietContext()): Promise<ImageInfo> {
    const image = this.repo.find(nameOrId);
    if (!image) throw notFound(`image ${JSON.stringify(nameOrId)} not found`, this.availableHint());
    if (image.managed) throw badRequest(`image ${JSON.stringify(image.name)} is already managed`);
    const dir = join(this.deps.layout.imagesDir, image.id);
    const m = await promoteImage({ image, stagingRoot: this.deps.layout.stagingDir, destDir: dir }, ctx);
    faultPoint('promote.published');
    const record: ImageRecord = {
      ...image,
      managed: true,
      source: 'promote',
      dir,
      rootfsPath: join(dir, m.files.rootfs),
      workSeedPath: m.files.workSeed ? join(dir, m.files.workSeed) : undefined,
      kernelPath: m.files.kernel ? join(dir, m.files.kernel) : undefined,
      initrdPath: m.files.initrd ? join(dir, m.files.initrd) : undefined,
      modulesPath: m.files.modules ? join(dir, m.files.modules) : undefined,
      sizeBytes: await dirSize(dir),
      meta: {
        ...image.meta,
        guestBits: true,
        guestBitsVersion: m.guestBits.version,
        kernelVersion: m.kernelVersion,
        kernelSha256: m.sha256.kernel,
        initrdSha256: m.sha256.initrd,
        promotedFrom: { rootfs: image.rootfsPath, kernel: image.kernelPath, initrd: image.initrdPath, modules: image.modulesPath },
      },
    };
    for (const k of ['workSeedPath', 'kernelPath', 'initrdPath', 'modulesPath'] as const) if (record[k] === undefined) delete record[k];
    this.repo.update(record);
    return toInfo(record);
  }

  /** Deletes an image; refused while VMs use it. Managed files are removed, registered files are left alone. */
  async delete(nameOrId: string, usedBy: (imageId: string) => string[]): Promise<void> {
    const image = this.repo.find(nameOrId);
    if (!image) throw notFound(`image ${JSON.stringify(nameOrId)} not found`, this.availableHint());
    const users = usedBy(image.id);
    if (users.length > 0) {
      throw badRequest(
        `image ${JSON.stringify(image.name)} is used by ${users.length === 1 ? 'VM' : 'VMs'} ${users.join(', ')}`,
        `delete ${users.length === 1 ? 'it' : 'them'} first: banger vm delete ${users.join(' ')}`,
      );
    }
    // The row goes first: a crash after it leaves only an unreferenced directory, which the next start removes.
    this.repo.delete(image.id);
    faultPoint('image_delete.row');
    if (image.managed && image.dir && this.isManagedDir(image.dir) && (await stat(image.dir).catch(() => undefined))) {
      const trash = await makeStaging(this.deps.layout.stagingDir, `delete-${image.id}`);
      await rename(image.dir, join(trash, 'image'));
      faultPoint('image_delete.moved');
      await removeTree(trash);
    }
    this.deps.logger?.info('image deleted', { image: image.name, id: image.id });
  }

  private isManagedDir(dir: string): boolean {
    const rel = relative(this.deps.layout.imagesDir, dir);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) && !rel.includes('/');
  }

  /** The image a reference pulls to: found when here, joined when being pulled or built, pulled otherwise. */
  async pullIfMissing(ref: string, ctx: OpContext): Promise<ImageInfo> {
    const name = isCatalogName(ref) ? ref : defaultImageName(parseRef(ref));
    const existing = this.find(name);
    if (existing) return existing;
    const running = this.inflight.get(name);
    if (running) return running;
    return this.pull({ ref }, ctx);
  }

  /** The image `vm run` needs: returned when present, built from its recipe when missing. */
  async ensureDefault(name: string, ctx: OpContext): Promise<ImageInfo> {
    const existing = this.find(name);
    if (existing) return existing;
    const running = this.inflight.get(name);
    if (running) return running;
    if (!this.recipeList.some((r) => r.name === name)) {
      throw notFound(`image ${JSON.stringify(name)} not found and there is no recipe to build it`, this.availableHint());
    }
    return this.build(name, { name }, ctx);
  }
}

/** The store record of a managed image published at `dir`, from its manifest; `meta` adds what its source knows. */
function recordFromManifest(id: string, name: string, dir: string, m: ImageManifest, sizeBytes: number, meta: Record<string, unknown>): ImageRecord {
  const record: ImageRecord = {
    id,
    name,
    managed: true,
    distro: m.distro,
    arch: m.arch,
    source: m.source,
    dir,
    rootfsPath: join(dir, m.files.rootfs),
    sizeBytes,
    createdAt: m.createdAt,
    meta: {
      guestBits: true,
      guestBitsVersion: m.guestBits.version,
      kernelVersion: m.kernelVersion,
      kernelSha256: m.sha256.kernel,
      initrdSha256: m.sha256.initrd,
      cmdline: m.cmdline,
      ...(m.firstBoot ? { firstBoot: m.firstBoot } : {}),
      ...(m.initMissing ? { initMissing: true } : {}),
      ...meta,
    },
  };
  if (m.files.workSeed) record.workSeedPath = join(dir, m.files.workSeed);
  if (m.files.kernel) record.kernelPath = join(dir, m.files.kernel);
  if (m.files.initrd) record.initrdPath = join(dir, m.files.initrd);
  if (m.files.modules) record.modulesPath = join(dir, m.files.modules);
  return record;
}
