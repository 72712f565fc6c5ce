/**
 * A minimal Debian bookworm root filesystem as a tarball, with systemd but without openssh-server
 * (mmdebstrap minbase from the Debian archive, no device nodes): what a Docker-style image that lacks
 * sshd looks like.
 * Built once per cache key under the shared test cache, with the shared image's lock discipline.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../system/exec.js';
import { DEBIAN_KEYRING } from '../services/images/mmdebstrap.js';
import { acquireLock, sharedImageCacheDir } from './shared-image.js';

const MIRROR = 'http://deb.debian.org/debian';
/** What the image has: an init system and what banger's guest bits use (udev, resize2fs), no sshd. */
const INCLUDE = ['systemd-sysv', 'udev', 'e2fsprogs'];
const PREFIX = 'debian-bookworm-nossh-';

function argv(out: string): string[] {
  return [
    'mmdebstrap', '--mode=root', '--variant=minbase', '--format=tar', '--skip=output/dev', `--include=${INCLUDE.join(',')}`,
    `--keyring=${DEBIAN_KEYRING}`, 'bookworm', out, process.env.BANGER_TEST_MIRROR || MIRROR,
  ];
}

/** The tarball's path, built when the cache lacks it (a few minutes). */
export async function debianNoSshTarball(): Promise<string> {
  const dir = join(sharedImageCacheDir(), 'tarballs');
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const key = createHash('sha256').update(JSON.stringify(argv('OUT'))).digest('hex').slice(0, 16);
  const path = join(dir, `${PREFIX}${key}.tar`);
  if (existsSync(path)) return path;
  const release = await acquireLock(`${path}.lock`);
  try {
    if (existsSync(path)) return path;
    for (const old of await readdir(dir)) if (old.startsWith(PREFIX) && !old.endsWith('.lock')) await rm(join(dir, old), { force: true });
    const partial = `${path}.partial`;
    await run(argv(partial), { timeoutMs: 20 * 60_000 });
    await rename(partial, path);
    return path;
  } finally {
    await release();
  }
}
