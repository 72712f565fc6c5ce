/** The image build pipeline: mmdebstrap a tree, add the guest bits, take the kernel out, make ext4s, publish. */
import { mkdir, chmod, stat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { unavailable } from '../../api/errors.js';
import { mkfsFromDir, roundUpMiB } from '../../drivers/ext4/index.js';
import { layGuestBits, GUEST_BITS_VERSION, guestBitsDigest } from '../../guest/index.js';
import { throwIfCancelled, type OpContext } from '../op-context.js';
import { sha256File } from '../artifacts/digest.js';
import { IMAGE_CMDLINE, IMAGE_FILES, ROOTFS_LABEL, writeManifest, type ImageManifest } from './manifest.js';
import { DEBIAN_KEYRING, installMode, runMmdebstrap } from './mmdebstrap.js';
import { recipeDigest, type Recipe } from './recipes.js';
import { makeStaging, publishDir, removeTree } from '../artifacts/staging.js';
import { copyOut, emptyDir, findBootFiles, replaceFile, treeUsage, writeRecipeFiles } from './tree.js';
import { workSeedFromDir } from './work-seed.js';
import { installDownloads } from './downloads.js';
import { faultPoint } from '../../system/faults.js';

const MiB = 1024 * 1024;

/** Bumped when the pipeline changes what it produces (part of cache keys for prebuilt test images). */
export const IMAGE_BUILD_VERSION = 2;

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
}

export interface BuiltImage {
  dir: string;
  manifest: ImageManifest;
}

/** Root filesystem size: content plus 30%, plus 256MiB of headroom, in whole MiB. */
export function rootfsSize(contentBytes: number): number {
  return roundUpMiB(contentBytes * 1.3 + 256 * MiB);
}

export function buildPreflight(): void {
  if (installMode() !== 'root') {
    throw unavailable(
      'image build needs root: the tree is installed with mmdebstrap --mode=root so file ownership survives into the ext4',
      'run bangerd as root (banger system install), or import an image instead',
    );
  }
}

export async function buildImage(opts: BuildImageOptions, ctx: OpContext): Promise<BuiltImage> {
  buildPreflight();
  const { recipe } = opts;
  const staging = await makeStaging(opts.stagingRoot, `build-${opts.id}`);
  const tree = join(staging, 'tree');
  const out = join(staging, 'out');
  let result: BuiltImage;
  try {
    await mkdir(out, { mode: 0o755 });
    let earlyTree: string | undefined;
    if ((recipe.earlyFiles ?? []).length > 0) {
      earlyTree = join(staging, 'early');
      await mkdir(earlyTree, { mode: 0o755 });
      await chmod(earlyTree, 0o755);
      await writeRecipeFiles(earlyTree, recipe.earlyFiles ?? []);
    }
    await ctx.stage('mmdebstrap', `Installing ${recipe.distro} ${recipe.suite} packages (mmdebstrap)`, async () => {
      await runMmdebstrap(
        { recipe, mirror: opts.mirror, target: tree, mode: installMode(), keyring: opts.keyring ?? DEBIAN_KEYRING, earlyTree },
        ctx,
      );
    });
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
    });
    throwIfCancelled(ctx.signal);

    const boot = await ctx.stage('kernel', 'Copying kernel and initramfs', async () => {
      const files = await findBootFiles(tree);
      await copyOut(files.kernel, join(out, IMAGE_FILES.kernel));
      await copyOut(files.initrd, join(out, IMAGE_FILES.initrd));
      return {
        version: files.version,
        kernelSha: await sha256File(join(out, IMAGE_FILES.kernel)),
        initrdSha: await sha256File(join(out, IMAGE_FILES.initrd)),
      };
    });
    throwIfCancelled(ctx.signal);

    await ctx.stage('work_seed', 'Making the work seed from /root', async () => {
      const home = join(tree, 'root');
      await workSeedFromDir(home, join(out, IMAGE_FILES.workSeed), ctx.signal);
      await emptyDir(home);
      await chmod(home, 0o700);
    });
    throwIfCancelled(ctx.signal);

    const rootfsBytes = await ctx.stage('ext4', 'Making rootfs.ext4', async () => {
      const usage = treeUsage(tree);
      const size = rootfsSize(usage.bytes);
      const inodes = Math.ceil(usage.inodes * 1.5) + 4096;
      await mkfsFromDir(join(out, IMAGE_FILES.rootfs), tree, {
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
