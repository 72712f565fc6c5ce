/**
 * `image build` without root, for real: a throwaway user with subordinate id ranges builds a small
 * recipe from the Debian archive with mmdebstrap --mode=unshare streamed into the importer; the
 * ext4 must carry root's owners, the packages' modes (setuid, setgid, group-owned), xattrs and the
 * recipe's files. Without ranges the build is refused at once; a failed or cancelled build leaves
 * nothing behind, not even files owned by the user's subordinate ids.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkExt4, listDir, readText, stat } from '../../drivers/ext4/index.js';
import { guestBits } from '../../guest/index.js';
import { run, which } from '../../system/exec.js';
import { freeSubidStart } from '../../system/subids.js';
import type { LocalUser } from '../../system/users.js';
import { addThrowawayUser, giveSubids, removeSubids, removeThrowawayUser, runAsUser, throwawayUserSkip, waitForNoProcesses } from '../../testing/throwaway-user.js';
import type { BuildAsUserResult } from '../../testing/image-build-as-user.js';
import { SMALL_RECIPE } from '../../testing/small-recipe.js';
import { DEBIAN_KEYRING } from './mmdebstrap.js';
import type { Recipe } from './recipes.js';

const SCRIPT = fileURLToPath(new URL('../../testing/image-build-as-user.js', import.meta.url));
const MIRROR = process.env.BANGER_TEST_MIRROR || 'http://deb.debian.org/debian';

function skipReason(): string | false {
  const s = throwawayUserSkip();
  if (s) return s;
  for (const t of ['mmdebstrap', 'newuidmap', 'newgidmap', 'unshare', 'usermod', 'mkfs.ext4', 'debugfs', 'e2fsck']) if (!which(t)) return `${t} is not installed`;
  if (!existsSync(DEBIAN_KEYRING)) return `${DEBIAN_KEYRING} is missing`;
  return false;
}
const skip = skipReason();

const tiny: Recipe = SMALL_RECIPE;
const broken: Recipe = { ...tiny, name: 'broken-rootless', packages: [...tiny.packages, 'banger-no-such-package-xyz'] };

let dir = '';
let user: LocalUser | undefined;
let bare: LocalUser | undefined;
let subidStart = 0;

before(async () => {
  if (skip) return;
  dir = await mkdtemp('/tmp/banger-rootless-');
  await chmod(dir, 0o755);
  await writeFile(join(dir, 'recipes.json'), JSON.stringify([tiny, broken]));
  user = await addThrowawayUser('bgrl');
  subidStart = await giveSubids(user);
  bare = await addThrowawayUser('bgrn');
  await removeSubids(bare);
});

after(async () => {
  if (user) {
    await waitForNoProcesses(user);
    await removeSubids(user).catch(() => undefined);
  }
  await removeThrowawayUser(user);
  await removeThrowawayUser(bare);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A directory the user owns, with that mode. */
async function userDir(u: LocalUser, name: string, mode: number): Promise<string> {
  const d = join(dir, name);
  await rm(d, { recursive: true, force: true });
  await mkdir(d);
  await chown(d, u.uid, u.gid);
  await chmod(d, mode);
  return d;
}

async function buildAs(u: LocalUser, home: string, tmp: string, req: { recipe: string; name: string; cancelAfter?: string }): Promise<BuildAsUserResult> {
  const argv = ['env', `HOME=${home}`, `BANGER_HOME=${join(home, 'banger')}`, `TMPDIR=${tmp}`, 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', process.execPath, SCRIPT, JSON.stringify({ ...req, recipes: join(dir, 'recipes.json'), mirror: MIRROR })];
  const r = await runAsUser(u, argv, { timeoutMs: 15 * 60_000 });
  assert.equal(r.code, 0, `the build process failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as BuildAsUserResult;
}

/** Entries of /tmp, /var/tmp and `also` owned by the user or by one of its subordinate ids. */
function leftovers(u: LocalUser, also: string[] = []): string[] {
  const out: string[] = [];
  for (const base of ['/tmp', '/var/tmp', ...also]) {
    for (const name of existsSync(base) ? readdirSync(base) : []) {
      const p = join(base, name);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      const mine = st.uid === u.uid || (st.uid >= subidStart && st.uid < subidStart + 65536);
      if (mine && !p.startsWith(dir + '/')) out.push(p);
    }
  }
  return out;
}

async function stagingEntries(home: string): Promise<string[]> {
  return readdir(join(home, 'banger', 'state', 'staging')).catch(() => []);
}

function gidOf(group: string, name: string): number {
  const m = new RegExp(`^${name}:x:(\\d+):`, 'm').exec(group);
  assert.ok(m, `group ${name} in /etc/group`);
  return Number(m[1]);
}

test('a user without root builds an image whose rootfs has root-owned files with the packages\' modes', { skip, timeout: 15 * 60_000 }, async (t) => {
  const home = await userDir(user!, 'home-ok', 0o700);
  // A private TMPDIR (0700) cannot hold mmdebstrap's chroot: its subordinate root could not enter it.
  const tmp = await userDir(user!, 'tmp-private', 0o700);
  const r = await buildAs(user!, home, tmp, { recipe: tiny.name, name: 'tiny' });
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  t.diagnostic(`rootless build of ${tiny.name} in ${(r.ms / 1000).toFixed(1)}s: ${r.stages.map((s) => `${s.id} ${(s.ms / 1000).toFixed(1)}s`).join(', ')}`);
  const img = r.image!;
  assert.equal((await lstat(img.rootfsPath)).uid, user!.uid, 'the image files belong to the user');
  assert.equal((await checkExt4(img.rootfsPath)).clean, true, 'rootfs passes e2fsck -fn');
  assert.equal((await checkExt4(img.workSeedPath)).clean, true, 'work seed passes e2fsck -fn');

  const fs = img.rootfsPath;
  const group = await readText(fs, '/etc/group');
  const shadow = gidOf(group, 'shadow');
  const expect = async (path: string, want: { type?: string; mode: number; uid?: number; gid?: number }): Promise<void> => {
    const st = await stat(fs, path);
    assert.ok(st, `${path} exists`);
    assert.deepEqual(
      { type: st.type, mode: st.mode, uid: st.uid, gid: st.gid },
      { type: want.type ?? 'file', mode: want.mode, uid: want.uid ?? 0, gid: want.gid ?? 0 },
      path,
    );
  };
  await expect('/usr/bin/su', { mode: 0o4755 });
  await expect('/usr/sbin/unix_chkpwd', { mode: 0o2755, gid: shadow });
  await expect('/etc/shadow', { mode: 0o640, gid: shadow });
  await expect('/var/mail', { type: 'dir', mode: 0o2775, gid: gidOf(group, 'mail') });
  await expect('/var/log/btmp', { mode: 0o660, gid: gidOf(group, 'utmp') });
  await expect('/tmp', { type: 'dir', mode: 0o1777 });
  await expect('/usr/bin/ping', { mode: 0o755 });
  await expect('/etc/initramfs-tools/conf.d/banger', { mode: 0o640 });
  await expect('/etc/banger-secret', { mode: 0o600 });
  await expect('/etc/hostname', { mode: 0o644 });
  await expect('/dev', { type: 'dir', mode: 0o755 });
  await expect('/root', { type: 'dir', mode: 0o700 });
  assert.deepEqual(await listDir(fs, '/root'), []);
  assert.equal(await readText(fs, '/etc/hostname'), 'small\n');
  for (const b of guestBits()) {
    const st = await stat(fs, b.path);
    assert.deepEqual({ uid: st?.uid, gid: st?.gid }, { uid: 0, gid: 0 }, `${b.path} root-owned`);
    if (b.type === 'file') assert.equal(st?.mode, b.mode, `${b.path} mode`);
  }
  // The capability iputils-ping's postinst set inside the user namespace, as the guest must see it.
  const ea = await run(['debugfs', '-R', 'ea_list /usr/bin/ping', fs]);
  assert.match(ea.stdout, /security\.capability \(20\) = 01 00 00 02 00 20 00 00/);
  // The early file reached the initramfs build: gzip, not the default zstd.
  const initrd = await run(['file', '-b', img.initrdPath]).catch(() => undefined);
  if (initrd) assert.match(initrd.stdout, /^gzip/);
  const seedRoot = await stat(img.workSeedPath, '/.bashrc');
  assert.deepEqual({ uid: seedRoot?.uid, mode: seedRoot?.mode }, { uid: 0, mode: 0o644 });

  assert.deepEqual(await stagingEntries(home), [], 'staging is empty');
  assert.deepEqual(readdirSync(tmp), [], 'nothing in the private TMPDIR');
  assert.deepEqual(leftovers(user!), [], 'no scratch directory or chroot left in /tmp or /var/tmp');
});

test('without subordinate ids the build is refused at once, with the usermod line', { skip, timeout: 120_000 }, async () => {
  const home = await userDir(bare!, 'home-bare', 0o700);
  const tmp = await userDir(bare!, 'tmp-bare', 0o711);
  const r = await buildAs(bare!, home, tmp, { recipe: tiny.name, name: 'tiny' });
  assert.equal(r.image, undefined);
  assert.equal(r.error?.code, 'unavailable', JSON.stringify(r.error));
  assert.match(r.error.message, new RegExp(`image build without root runs mmdebstrap --mode=unshare as ${bare!.name}`));
  assert.match(r.error.message, new RegExp(`${bare!.name} has no range in /etc/subuid`));
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  const free = freeSubidStart(read('/etc/subuid'), read('/etc/subgid'));
  assert.ok(free >= subidStart + 65536, 'the suggested range lies after every range, the build user\'s too');
  assert.match(r.error.hint!, new RegExp(`usermod --add-subuids ${free}-${free + 65535} --add-subgids ${free}-${free + 65535} ${bare!.name}`));
  assert.deepEqual(r.stages, [], 'no stage started');
  assert.deepEqual(await stagingEntries(home), []);
  assert.deepEqual(readdirSync(tmp), []);
});

test('a failing rootless build (unknown package) leaves no staging, scratch or chroot behind', { skip, timeout: 10 * 60_000 }, async () => {
  const home = await userDir(user!, 'home-broken', 0o700);
  // Searchable by others: the chroot is made here, so whatever is left of it would be too.
  const tmp = await userDir(user!, 'tmp-open', 0o711);
  const r = await buildAs(user!, home, tmp, { recipe: broken.name, name: 'broken' });
  assert.equal(r.error?.code, 'operation_failed', JSON.stringify(r.error));
  assert.match(r.error.message, /mmdebstrap failed for recipe broken-rootless/);
  assert.match(r.error.message, /banger-no-such-package-xyz/);
  assert.deepEqual(await stagingEntries(home), []);
  assert.deepEqual(readdirSync(tmp), [], 'the scratch directory and mmdebstrap\'s chroot are gone');
  assert.deepEqual(leftovers(user!), []);
  assert.ok(!existsSync(join(home, 'banger', 'state', 'images')) || readdirSync(join(home, 'banger', 'state', 'images')).length === 0, 'nothing published');
});

test('cancelling a rootless build mid-download removes everything it made', { skip, timeout: 10 * 60_000 }, async () => {
  const home = await userDir(user!, 'home-cancel', 0o700);
  const tmp = await userDir(user!, 'tmp-cancel', 0o711);
  const r = await buildAs(user!, home, tmp, { recipe: tiny.name, name: 'cancelled', cancelAfter: 'downloading packages' });
  assert.equal(r.error?.name, 'AbortError', JSON.stringify(r.error));
  assert.ok(r.logs.some((l) => l.includes('downloading packages')));
  assert.deepEqual(await stagingEntries(home), []);
  assert.deepEqual(readdirSync(tmp), []);
  assert.deepEqual(leftovers(user!), []);
});
