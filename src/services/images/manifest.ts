/** What a managed image directory holds (images/<id>/), and its manifest.json. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { operationFailed } from '../../api/errors.js';
import { isFirstBootPlan, type FirstBootPlan } from '../../model/first-boot.js';

export type { FirstBootPlan };

export const IMAGE_FILES = {
  rootfs: 'rootfs.ext4',
  workSeed: 'work-seed.ext4',
  kernel: 'vmlinuz',
  initrd: 'initrd.img',
  modules: 'modules',
  manifest: 'manifest.json',
} as const;

export const ROOTFS_LABEL = 'bangerroot';
export const WORK_SEED_LABEL = 'bangerwork';

/** Kernel command line an image built by banger boots with (the hypervisor adds its own extras). */
export const IMAGE_CMDLINE = 'console=ttyS0 root=/dev/vda rw rootfstype=ext4';

export interface ImageManifest {
  schema: 1;
  id: string;
  name: string;
  distro: string;
  suite?: string;
  arch: string;
  source: string;
  recipe?: string;
  recipeDigest?: string;
  kernelVersion?: string;
  files: {
    rootfs: string;
    workSeed?: string;
    kernel?: string;
    initrd?: string;
    modules?: string;
  };
  sha256: { kernel?: string; initrd?: string };
  rootfsSizeBytes: number;
  cmdline: string;
  guestBits: { version: number; digest: string };
  /** Set when the image lacks openssh-server and carries the first-boot installer. */
  firstBoot?: FirstBootPlan;
  /** Set when the image has no init system: VMs cannot boot it. */
  initMissing?: boolean;
  createdAt: string;
}

export async function writeManifest(dir: string, m: ImageManifest): Promise<void> {
  await writeFile(join(dir, IMAGE_FILES.manifest), JSON.stringify(m, null, 2) + '\n', { mode: 0o644 });
}

/** Reads an image directory's manifest back; anything that is not a manifest this banger wrote is operation_failed naming the file. */
export async function readManifest(dir: string): Promise<ImageManifest> {
  const path = join(dir, IMAGE_FILES.manifest);
  return parseManifest(await readFile(path, 'utf8'), path);
}

/** Checks a manifest's text field by field (the file is on disk, so it may be damaged or from another version). */
export function parseManifest(text: string, path: string): ImageManifest {
  const fail = (why: string) => operationFailed(`${path} is not a valid image manifest: ${why}`, 'delete the image and build, promote or pull it again');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw fail(`not JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail('not a JSON object');
  const m = v as Record<string, unknown>;
  if (m.schema !== 1) throw fail(`schema ${JSON.stringify(m.schema)} is not 1`);
  for (const k of ['id', 'name', 'distro', 'arch', 'source', 'cmdline', 'createdAt'] as const) {
    if (typeof m[k] !== 'string') throw fail(`${k} is not a string`);
  }
  for (const k of ['suite', 'recipe', 'recipeDigest', 'kernelVersion'] as const) {
    if (m[k] !== undefined && typeof m[k] !== 'string') throw fail(`${k} is not a string`);
  }
  if (typeof m.rootfsSizeBytes !== 'number' || !Number.isSafeInteger(m.rootfsSizeBytes) || m.rootfsSizeBytes < 0) throw fail('rootfsSizeBytes is not a byte count');
  const files = m.files as Record<string, unknown> | undefined;
  if (typeof files !== 'object' || files === null || Array.isArray(files)) throw fail('files is not an object');
  for (const [k, f] of Object.entries(files)) {
    if (!['rootfs', 'workSeed', 'kernel', 'initrd', 'modules'].includes(k)) throw fail(`files.${k} is not a known file`);
    if (f !== undefined && (typeof f !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(f))) throw fail(`files.${k} is not a plain file name in the image directory`);
  }
  if (typeof files.rootfs !== 'string') throw fail('files.rootfs is missing');
  const sha = m.sha256 as Record<string, unknown> | undefined;
  if (typeof sha !== 'object' || sha === null || Array.isArray(sha)) throw fail('sha256 is not an object');
  for (const [k, d] of Object.entries(sha)) if (d !== undefined && (typeof d !== 'string' || !/^[0-9a-f]{64}$/.test(d))) throw fail(`sha256.${k} is not a sha256`);
  const gb = m.guestBits as Record<string, unknown> | undefined;
  if (typeof gb !== 'object' || gb === null || typeof gb.version !== 'number' || typeof gb.digest !== 'string') throw fail('guestBits is not {version, digest}');
  if (m.initMissing !== undefined && typeof m.initMissing !== 'boolean') throw fail('initMissing is not a boolean');
  if (m.firstBoot !== undefined && !isFirstBootPlan(m.firstBoot)) throw fail('firstBoot is not {manager, packages, commands, hosts}');
  return m as unknown as ImageManifest;
}
