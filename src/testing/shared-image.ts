/**
 * One real debian-bookworm image build shared by every test that needs it: built at most once per cache
 * key (recipe + guest bits + pipeline version), under a lock file so concurrent test processes wait for
 * each other, and reused from the cache directory afterwards.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { which } from '../system/exec.js';
import { guestBitsDigest, TRIM_INIT_SCRIPT } from '../guest/index.js';
import { quietContext, type OpContext } from '../services/op-context.js';
import { buildImage, IMAGE_BUILD_VERSION } from '../services/images/build.js';
import { IMAGE_FILES, readManifest, type ImageManifest } from '../services/images/manifest.js';
import { DEBIAN_KEYRING } from '../services/images/mmdebstrap.js';
import { builtinRecipes, findRecipe, recipeDigest } from '../services/images/recipes.js';
import { removeTree } from '../services/artifacts/staging.js';

export const SHARED_RECIPE = 'debian-bookworm';
const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
const LOCK_WAIT_MS = 20 * 60 * 1000;
const UNUSED_IMAGE_MS = 24 * 3600 * 1000;

export interface SharedImage {
  dir: string;
  manifest: ImageManifest;
  rootfsPath: string;
  workSeedPath: string;
  kernelPath: string;
  initrdPath: string;
  /** True when this call built the image (false: reused from the cache). */
  built: boolean;
  buildMs?: number;
}

export function sharedImageCacheDir(): string {
  return process.env.BANGER_TEST_CACHE || '/var/tmp/banger-test-cache';
}

/** Why the shared image cannot be built here, or undefined when it can. */
export function sharedImageSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'building an image needs root (mmdebstrap --mode=root)';
  for (const tool of ['mmdebstrap', 'mkfs.ext4', 'debugfs', 'e2fsck']) if (!which(tool)) return `${tool} is not installed`;
  if (!existsSync(DEBIAN_KEYRING)) return `${DEBIAN_KEYRING} is missing (apt-get install debian-archive-keyring)`;
  return undefined;
}

export function sharedImageKey(): string {
  const recipe = findRecipe(builtinRecipes(), SHARED_RECIPE);
  return createHash('sha256')
    // The trimmed /init is appended to the image's initramfs: a change to it is a different image.
    .update(`${recipeDigest(recipe)}\n${guestBitsDigest()}\n${IMAGE_BUILD_VERSION}\n${TRIM_INIT_SCRIPT}`)
    .digest('hex')
    .slice(0, 16);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireLock(path: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o644);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => unlink(path).catch(() => undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (!holder || !alive(holder)) {
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${path} (held by pid ${holder})`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function describe(dir: string, built: boolean, buildMs?: number): Promise<SharedImage> {
  return {
    dir,
    manifest: await readManifest(dir),
    rootfsPath: join(dir, IMAGE_FILES.rootfs),
    workSeedPath: join(dir, IMAGE_FILES.workSeed),
    kernelPath: join(dir, IMAGE_FILES.kernel),
    initrdPath: join(dir, IMAGE_FILES.initrd),
    built,
    buildMs,
  };
}

let memo: Promise<SharedImage> | undefined;

/** The shared image, built on first use. Check sharedImageSkipReason() first. */
export function sharedImage(ctx: OpContext = quietContext()): Promise<SharedImage> {
  memo ??= obtain(ctx);
  memo.catch(() => (memo = undefined));
  return memo;
}

/** Marks a cached image as in use (its directory's time), so no other key's build removes it for a day. */
async function used(dir: string): Promise<string> {
  const now = new Date();
  await utimes(dir, now, now).catch(() => undefined);
  return dir;
}

async function obtain(ctx: OpContext): Promise<SharedImage> {
  const cache = sharedImageCacheDir();
  const key = sharedImageKey();
  const name = `${SHARED_RECIPE}-${key}`;
  const dest = join(cache, 'images', name);
  await mkdir(join(cache, 'images'), { recursive: true, mode: 0o755 });
  if (existsSync(join(dest, IMAGE_FILES.manifest))) return describe(await used(dest), false);
  const release = await acquireLock(join(cache, `${name}.lock`));
  try {
    if (existsSync(join(dest, IMAGE_FILES.manifest))) return describe(await used(dest), false);
    // Images of other keys go once nothing has used them for a day (another checkout may be testing with one now).
    for (const old of await readdir(join(cache, 'images'))) {
      const path = join(cache, 'images', old);
      if (old.startsWith(`${SHARED_RECIPE}-`) && old !== name && Date.now() - (await stat(path)).mtimeMs > UNUSED_IMAGE_MS) await rm(path, { recursive: true, force: true });
    }
    const staging = join(cache, 'staging', name);
    await removeTree(staging);
    const started = Date.now();
    await buildImage(
      {
        recipe: findRecipe(builtinRecipes(), SHARED_RECIPE),
        id: key,
        name: SHARED_RECIPE,
        mirror: process.env.BANGER_TEST_MIRROR || DEFAULT_MIRROR,
        stagingRoot: staging,
        destDir: dest,
      },
      ctx,
    );
    return await describe(dest, true, Date.now() - started);
  } finally {
    await release();
  }
}
