/**
 * image-build-rootless: the same small recipe (testing/small-recipe.js) built three ways in one run:
 * as root the way root builds (mmdebstrap --mode=root into a directory, mkfs.ext4 -d), as root
 * through the tarball importer, and as a throwaway user with subordinate ids (mmdebstrap
 * --mode=unshare streamed into the importer). Target: the rootless build within 1.5x of root's.
 * Every build downloads its packages from the archive, so network variance shows in all three.
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fmtDur, fmtSecs, passMiss, removeTree, runAsync, say } from './util.mjs';

const TARGET_RATIO = 1.5;

async function load(ctx, rel) {
  return import(pathToFileURL(join(ctx.dist, rel)).href);
}

function stageNote(r) {
  return r.stages.map((s) => `${s.id} ${fmtDur(s.ms)}`).join(', ');
}

export async function benchImageBuildRootless(ctx) {
  if (process.getuid?.() !== 0) throw new Error('image-build-rootless needs root: it builds as root and adds a throwaway user');
  const users = await load(ctx, 'testing/throwaway-user.js');
  const { SMALL_RECIPE } = await load(ctx, 'testing/small-recipe.js');
  const skip = users.throwawayUserSkip();
  if (skip) throw new Error(`image-build-rootless: ${skip}`);
  const script = join(ctx.dist, 'testing/image-build-as-user.js');
  // Outside the bench home (0700): the throwaway user works in here.
  const work = mkdtempSync('/tmp/banger-bench-rootless-');
  chmodSync(work, 0o755);
  const recipes = join(work, 'recipes.json');
  writeFileSync(recipes, JSON.stringify([SMALL_RECIPE]));
  let user;
  try {
    user = await users.addThrowawayUser('bgrb');
    await users.giveSubids(user);
    const build = async (label, asUser, via) => {
      const home = join(work, label);
      const tmp = join(work, `${label}-tmp`);
      mkdirSync(home, { mode: 0o700 });
      mkdirSync(tmp, { mode: 0o711 });
      if (asUser) for (const d of [home, tmp]) chownSync(d, user.uid, user.gid);
      const env = ['env', `HOME=${home}`, `BANGER_HOME=${join(home, 'banger')}`, `TMPDIR=${tmp}`, 'PATH=/usr/sbin:/usr/bin:/sbin:/bin'];
      const argv = [...env, process.execPath, script, JSON.stringify({ recipes, recipe: SMALL_RECIPE.name, name: 'small', ...(via ? { via } : {}) })];
      say(`building ${SMALL_RECIPE.name}: ${label}`);
      const r = await runAsync(ctx, asUser ? users.asUserArgv(user, argv) : argv, { timeoutMs: 20 * 60_000 });
      if (r.code !== 0) throw new Error(`${label}: the build process exited with ${r.code ?? r.signal}: ${r.stderr.slice(-2000)}`);
      const res = JSON.parse(r.stdout.trim().split('\n').pop());
      if (res.error) throw new Error(`${label}: ${res.error.message}`);
      return res;
    };
    const rootDir = await build('root-directory', false, 'directory');
    const rootless = await build('rootless', true);
    const rootTar = await build('root-tarball', false, 'tarball');
    const ratio = rootless.ms / rootDir.ms;
    const ok = ratio <= TARGET_RATIO;
    return {
      title: `image build of ${SMALL_RECIPE.name} (${SMALL_RECIPE.packages.length} packages + essential), root vs rootless, one run each in this order`,
      header: ['measure', 'time', 'target', 'result', 'stages'],
      rows: [
        { cells: ['root: mmdebstrap --mode=root, directory', fmtSecs(rootDir.ms), 'reference', '', stageNote(rootDir)], ok: true },
        { cells: ['rootless: --mode=unshare, tar -> importer', fmtSecs(rootless.ms), `<= ${TARGET_RATIO}x root`, passMiss(ok), stageNote(rootless)], ok },
        { cells: ['root: --mode=root, tar -> importer', fmtSecs(rootTar.ms), '', '', stageNote(rootTar)], ok: true },
        { cells: ['rootless / root', `${ratio.toFixed(2)}x`, `<= ${TARGET_RATIO}x`, passMiss(ok), `root tarball / root directory ${(rootTar.ms / rootDir.ms).toFixed(2)}x`], ok },
      ],
    };
  } finally {
    if (user) await users.removeThrowawayUser(user);
    removeTree(work);
  }
}
