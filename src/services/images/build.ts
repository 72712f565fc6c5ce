/**
 * The image build pipeline: mmdebstrap a tree, add the guest bits, take the kernel out, make ext4s,
 * publish. As root mmdebstrap installs into a directory (--mode=root) whose owners mkfs.ext4 -d
 * copies. Without root it runs --mode=unshare and streams the tree as a tar into the importer that
 * image pulls use, which unpacks it with plain owners and keeps the tar's owners and modes aside
 * for the ext4.
 */
import { mkdir, chmod, stat, readdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { unavailable } from '../../api/errors.js';
import { applyInodeFixes, mkfsFromDir, roundUpMiB } from '../../drivers/ext4/index.js';
import { which } from '../../system/exec.js';
import { hostUserns, usernsReadiness } from '../../system/subids.js';
import { lookupUid } from '../../system/users.js';
import { layGuestBits, GUEST_BITS_VERSION, guestBitsDigest } from '../../guest/index.js';
import { throwIfCancelled, type OpContext } from '../op-context.js';
import { sha256File } from '../artifacts/digest.js';
import { IMAGE_CMDLINE, IMAGE_FILES, ROOTFS_LABEL, writeManifest, type ImageManifest } from './manifest.js';
import { DEBIAN_KEYRING, installMode, runMmdebstrap, type MmdebstrapPlan } from './mmdebstrap.js';
import { streamMmdebstrap } from './mmdebstrap-stream.js';
import { writeEarlyTar } from './early-files.js';
import { makeBuildScratch, removeBuildScratch } from './build-scratch.js';
import { LayerTree } from './flatten/layer-tree.js';
import { fixesFor, treeToExt4 } from './flatten/to-ext4.js';
import { reconcileTree, snapshotTree } from './flatten/tree-changes.js';
import { recipeDigest, type Recipe } from './recipes.js';
import { makeStaging, publishDir, removeTree } from '../artifacts/staging.js';
import { copyOut, emptyDir, findBootFiles, replaceFile, treeUsage, writeRecipeFiles } from './tree.js';
import { workSeedFromDir } from './work-seed.js';
import { appendTrimInit } from './initrd-trim.js';
import { installDownloads } from './downloads.js';
import { faultPoint } from '../../system/faults.js';

const MiB = 1024 * 1024;

/** Bumped when the pipeline changes what it produces (part of cache keys for prebuilt test images; 4: the trimmed /init mounts the work disk; 5: it loads the network card's, channel's and entropy device's drivers). */
export const IMAGE_BUILD_VERSION = 5;

export interface BuildImageOptions {
  recipe: Recipe;
  id: string;
  name: string;
  mirror: string;
  /** Parent of the staging directory (same filesystem as destDir, so publishing is a rename). */
  stagingRoot: string;
  /** Where the finished image directory is published; must not exist. */
  destDir: string;
  keyring?: string;
  /** How mmdebstrap hands over the tree (default: directory as root, tarball otherwise). */
  via?: BuildVia;
  /** Where an unprivileged build's temporary chroot may go (default scratchBases()). */
  scratchBases?: string[];
}

/** directory: mmdebstrap --mode=root fills a directory; tarball: mmdebstrap streams a tar into the importer. */
export type BuildVia = 'directory' | 'tarball';

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function defaultVia(): BuildVia {
  return isRoot() ? 'directory' : 'tarball';
}

export interface BuiltImage {
  dir: string;
  manifest: ImageManifest;
}

/** Root filesystem size: content plus 30%, plus 256MiB of headroom, in whole MiB. */
export function rootfsSize(contentBytes: number): number {
  return roundUpMiB(contentBytes * 1.3 + 256 * MiB);
}

function currentUserName(): string {
  try {
    return userInfo().username;
  } catch {
    const uid = process.getuid?.() ?? -1;
    return lookupUid(uid)?.name ?? String(uid);
  }
}

/** Refuses a build that cannot run here, before anything is written. */
export function buildPreflight(via: BuildVia = defaultVia()): void {
  if (isRoot()) return;
  if (via === 'directory') {
    throw unavailable('an image build into a directory needs root (mmdebstrap --mode=root)', 'without root, builds stream a tarball from mmdebstrap --mode=unshare');
  }
  const user = currentUserName();
  const r = usernsReadiness({ name: user }, hostUserns((cmd) => which(cmd)));
  if (!r.ready) {
    throw unavailable(
      `image build without root runs mmdebstrap --mode=unshare as ${user}, which needs subordinate ids and user namespaces: ${r.problems.join('; ')}`,
      `${r.hints.join('; ')}, then build again; banger doctor shows what is missing`,
    );
  }
}

/** Runs mmdebstrap --format=tar into the importer; the tree gets /dev (left out of the tar) as an empty directory. */
async function unpackMmdebstrap(plan: MmdebstrapPlan, tree: string, tmpdir: string, ctx: OpContext): Promise<LayerTree> {
  await mkdir(tree, { mode: 0o755 });
  const lt = new LayerTree(tree, { warn: (m) => ctx.log(m, 'warn'), signal: ctx.signal });
  await streamMmdebstrap({ ...plan, target: '-', format: 'tar' }, (tar) => lt.applyLayer(tar, 'mmdebstrap output'), ctx, { tmpdir });
  await mkdir(join(tree, 'dev'), { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  return lt;
}

export async function buildImage(opts: BuildImageOptions, ctx: OpContext): Promise<BuiltImage> {
  const via = opts.via ?? defaultVia();
  buildPreflight(via);
  const { recipe } = opts;
  const staging = await makeStaging(opts.stagingRoot, `build-${opts.id}`);
  const tree = join(staging, 'tree');
  const out = join(staging, 'out');
  let scratch: string | undefined;
  let result: BuiltImage;
  try {
    await mkdir(out, { mode: 0o755 });
    let earlyTar: string | undefined;
    if ((recipe.earlyFiles ?? []).length > 0) {
      earlyTar = join(staging, 'early.tar');
      await writeEarlyTar(earlyTar, recipe.earlyFiles ?? []);
    }
    const plan: MmdebstrapPlan = { recipe, mirror: opts.mirror, target: tree, mode: installMode(), keyring: opts.keyring ?? DEBIAN_KEYRING, ...(earlyTar ? { earlyTar } : {}) };
    // With the tarball, `lt` holds the owners and modes from mmdebstrap; `before` tells later changes apart.
    let lt: LayerTree | undefined;
    let before: Awaited<ReturnType<typeof snapshotTree>> | undefined;
    if (via === 'directory') {
      await ctx.stage('mmdebstrap', `Installing ${recipe.distro} ${recipe.suite} packages (mmdebstrap)`, () => runMmdebstrap(plan, ctx));
    } else {
      let tmpdir: string;
      if (isRoot()) {
        tmpdir = join(staging, 'tmp');
        await mkdir(tmpdir, { mode: 0o700 });
      } else {
        scratch = await makeBuildScratch(opts.stagingRoot, opts.scratchBases);
        tmpdir = scratch;
      }
      const label = `Installing ${recipe.distro} ${recipe.suite} packages (mmdebstrap --mode=${plan.mode}, streamed into the importer)`;
      lt = await ctx.stage('mmdebstrap', label, () => unpackMmdebstrap(plan, tree, tmpdir, ctx));
      if (scratch) {
        await removeBuildScratch(scratch);
        scratch = undefined;
      }
      before = await snapshotTree(lt);
    }
    faultPoint('build.tree');
    throwIfCancelled(ctx.signal);

    if ((recipe.downloads ?? []).length > 0) {
      await ctx.stage('downloads', `Fetching pinned downloads (${(recipe.downloads ?? []).map((d) => d.name).join(', ')})`, () =>
        installDownloads(tree, staging, recipe.downloads ?? [], ctx),
      );
    }
    throwIfCancelled(ctx.signal);

    await ctx.stage('guest_bits', 'Adding banger guest bits', async () => {
      await layGuestBits(tree);
      await writeRecipeFiles(tree, recipe.files ?? []);
      await replaceFile(tree, '/etc/hostname', `${recipe.hostname ?? 'debian'}\n`);
      await replaceFile(tree, '/etc/resolv.conf', '# written at boot from the VM seed disk\n');
      if (lt && before) await reconcileTree(lt, before);
    });
    throwIfCancelled(ctx.signal);

    const boot = await ctx.stage('kernel', 'Copying kernel and initramfs', async () => {
      const files = await findBootFiles(tree);
      await copyOut(files.kernel, join(out, IMAGE_FILES.kernel));
      await copyOut(files.initrd, join(out, IMAGE_FILES.initrd));
      await appendTrimInit(join(out, IMAGE_FILES.initrd), tree, staging, ctx.signal);
      return {
        version: files.version,
        kernelSha: await sha256File(join(out, IMAGE_FILES.kernel)),
        initrdSha: await sha256File(join(out, IMAGE_FILES.initrd)),
      };
    });
    throwIfCancelled(ctx.signal);

    await ctx.stage('work_seed', 'Making the work seed from /root', async () => {
      const home = join(tree, 'root');
      const seed = join(out, IMAGE_FILES.workSeed);
      await workSeedFromDir(home, seed, ctx.signal);
      if (lt) {
        // The tar's owners and modes for what /root holds, at the work seed's root.
        const fixes = fixesFor(lt)
          .filter((f) => f.path.startsWith('/root/'))
          .map((f) => ({ ...f, path: f.path.slice('/root'.length) }));
        await applyInodeFixes(seed, fixes, staging, ctx.signal);
        for (const p of [...lt.meta.keys()]) if (p.startsWith('/root/')) lt.meta.delete(p);
        lt.meta.set('/root', { type: 'dir', uid: 0, gid: 0, mode: 0o700 });
      }
      await emptyDir(home);
      await chmod(home, 0o700);
    });
    throwIfCancelled(ctx.signal);

    const rootfsBytes = await ctx.stage('ext4', 'Making rootfs.ext4', async () => {
      const rootfs = join(out, IMAGE_FILES.rootfs);
      const usage = treeUsage(tree);
      const size = rootfsSize(usage.bytes);
      if (lt) return treeToExt4(lt, rootfs, { label: ROOTFS_LABEL, sizeBytes: size, scratchDir: staging }, ctx);
      const inodes = Math.ceil(usage.inodes * 1.5) + 4096;
      await mkfsFromDir(rootfs, tree, {
        label: ROOTFS_LABEL,
        sizeBytes: size,
        blockSize: 4096,
        inodes: inodes > size / 16384 ? inodes : undefined,
        signal: ctx.signal,
      });
      return size;
    });
    faultPoint('build.ext4');
    throwIfCancelled(ctx.signal);

    result = await ctx.stage('publish', 'Publishing the image', async () => {
      const manifest: ImageManifest = {
        schema: 1,
        id: opts.id,
        name: opts.name,
        distro: recipe.distro,
        suite: recipe.suite,
        arch: 'x86_64',
        source: `build:${recipe.name}`,
        recipe: recipe.name,
        recipeDigest: recipeDigest(recipe),
        kernelVersion: boot.version,
        files: { rootfs: IMAGE_FILES.rootfs, workSeed: IMAGE_FILES.workSeed, kernel: IMAGE_FILES.kernel, initrd: IMAGE_FILES.initrd },
        sha256: { kernel: boot.kernelSha, initrd: boot.initrdSha },
        rootfsSizeBytes: rootfsBytes,
        cmdline: IMAGE_CMDLINE,
        guestBits: { version: GUEST_BITS_VERSION, digest: guestBitsDigest() },
        createdAt: new Date().toISOString(),
      };
      await writeManifest(out, manifest);
      await chmod(out, 0o755);
      await publishDir(out, opts.destDir);
      return { dir: opts.destDir, manifest };
    });
  } catch (err) {
    await removeTree(staging).catch((e: unknown) => ctx.log(`could not remove ${staging}: ${String(e)}`, 'warn'));
    throwIfCancelled(ctx.signal);
    throw err;
  } finally {
    if (scratch) await removeBuildScratch(scratch).catch((e: unknown) => ctx.log(`could not remove ${scratch}: ${String(e)}`, 'warn'));
  }
  await removeTree(staging);
  return result;
}


/** Total bytes of the regular files in an image directory (apparent sizes). */
export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    const st = await stat(join(dir, name));
    if (st.isFile()) total += st.size;
  }
  return total;
}
