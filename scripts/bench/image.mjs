/**
 * image-build: `banger image build debian-bookworm` stage by stage, against mmdebstrap alone with the
 * same recipe writing a tarball. What banger adds after mmdebstrap (guest bits, kernel, work seed,
 * ext4, publish) should cost at most 15% of what mmdebstrap alone takes.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { check, diskUsage, fmtBytes, fmtDur, fmtSecs, passMiss, removeTree, runAsync, say } from './util.mjs';

export const IMAGE = 'debian-bookworm';
const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const TARGET_OVERHEAD = 0.15;

/** The recipe banger builds from: the copy in the build under test, else the one in src/. */
function loadRecipe(ctx) {
  for (const p of [join(ctx.dist, 'services/images/recipes', `${IMAGE}.json`), join(ctx.root, 'src/services/images/recipes', `${IMAGE}.json`)]) {
    if (existsSync(p)) return { recipe: JSON.parse(readFileSync(p, 'utf8')), from: p };
  }
  throw new Error(`recipe ${IMAGE}.json not found in ${ctx.dist} or src/`);
}

/** banger's own argv builder from the build under test, so both runs install the same thing. */
async function mmdebstrapArgvFor(ctx, plan) {
  const m = await import(pathToFileURL(join(ctx.dist, 'services/images/mmdebstrap.js')).href);
  return { argv: m.mmdebstrapArgv(plan), how: 'mmdebstrapArgv() of the build' };
}

/** The image's record, or undefined when the bench's BANGER_HOME has none yet. */
export async function showImage(ctx) {
  const r = await runAsync(ctx, ctx.banger('--json', 'image', 'show', IMAGE));
  if (r.code !== 0) {
    if (/not_found|not found/.test(r.stderr)) return undefined;
    check(r, `banger image show ${IMAGE}`);
  }
  return JSON.parse(r.stdout);
}

/**
 * Builds the image with progress as NDJSON on stderr; returns the stage times, the wall time and the
 * image record.
 */
async function buildWithStages(ctx) {
  const stages = [];
  const starts = new Map();
  const r = await runAsync(ctx, ctx.banger('--json', 'image', 'build', IMAGE), {
    onStderrLine: (line) => {
      let ev;
      try {
        ev = JSON.parse(line);
      } catch {
        return;
      }
      if (ev.type === 'stage') {
        starts.set(ev.stage, Date.now());
        say(`banger: ${ev.stage}`);
      } else if (ev.type === 'stage_done') {
        stages.push({ stage: ev.stage, ms: Number(ev.elapsedMs ?? Date.now() - (starts.get(ev.stage) ?? Date.now())) });
      }
    },
  });
  check(r, `banger image build ${IMAGE}`);
  return { stages, ms: r.ms, image: JSON.parse(r.stdout) };
}

/** The image the VM benches boot: built now (untimed) unless an earlier bench built it. */
export async function ensureImage(ctx) {
  if (ctx.image) return ctx.image;
  let img = await showImage(ctx);
  const dir = process.env.BANGER_BENCH_IMAGE_DIR;
  if (!img && dir) {
    // An image built earlier (e.g. the test suite's cache): registered, so VM benches skip the build.
    say(`registering ${IMAGE} from ${dir} (BANGER_BENCH_IMAGE_DIR)`);
    const files = ['--rootfs', join(dir, 'rootfs.ext4'), '--kernel', join(dir, 'vmlinuz'), ...(existsSync(join(dir, 'initrd.img')) ? ['--initrd', join(dir, 'initrd.img')] : [])];
    check(await runAsync(ctx, ctx.banger('image', 'register', '--name', IMAGE, ...files)), `banger image register ${IMAGE}`);
    img = await showImage(ctx);
  }
  if (!img) {
    say(`building image ${IMAGE} first (not timed; takes minutes)`);
    img = (await buildWithStages(ctx)).image;
  }
  ctx.image = img;
  return img;
}

export async function benchImageBuild(ctx) {
  ctx.startDaemon();
  if (await showImage(ctx)) throw new Error(`image ${IMAGE} already exists in ${ctx.home}; image-build needs to build it`);
  const { recipe, from } = loadRecipe(ctx);
  const mode = process.getuid?.() === 0 ? 'root' : 'unshare';

  // mmdebstrap alone, with its scratch space inside the bench's home so cleanup removes it.
  const work = join(ctx.home, 'mmdebstrap-alone');
  const tmp = join(work, 'tmp');
  mkdirSync(tmp, { recursive: true, mode: 0o755 });
  const tar = join(work, 'rootfs.tar');
  const plan = { recipe, mirror: DEFAULT_MIRROR, target: tar, mode, keyring: DEBIAN_KEYRING };
  const built = await mmdebstrapArgvFor(ctx, plan);
  const argv = built.argv.map((a) => (a === '--format=directory' ? '--format=tar' : a));
  if (!argv.includes('--format=tar')) argv.splice(1, 0, '--format=tar');
  say(`mmdebstrap alone (${recipe.packages.length} packages, ${mode} mode) -> ${tar}`);
  const alone = await runAsync(ctx, argv, { env: { ...ctx.env, TMPDIR: tmp } });
  check(alone, 'mmdebstrap (alone)');
  const tarBytes = statSync(tar).size;
  removeTree(work);

  say(`banger image build ${IMAGE}`);
  const b = await buildWithStages(ctx);
  ctx.image = b.image;
  const img = (await showImage(ctx)) ?? b.image;
  const rootfs = img.rootfsPath ? diskUsage(img.rootfsPath) : undefined;

  const mmStage = b.stages.find((s) => s.stage === 'mmdebstrap');
  if (!mmStage) throw new Error(`banger reported no mmdebstrap stage (stages: ${b.stages.map((s) => s.stage).join(', ') || 'none'})`);
  const overhead = b.ms - mmStage.ms;
  const limit = alone.ms * TARGET_OVERHEAD;
  const ok = overhead <= limit;
  const stageSum = b.stages.reduce((n, s) => n + s.ms, 0);

  const rows = [
    { cells: ['mmdebstrap alone (tar)', fmtSecs(alone.ms), '', '', `tarball ${fmtBytes(tarBytes)}`], ok: true },
    ...b.stages.map((s) => ({ cells: [`  banger stage ${s.stage}`, fmtDur(s.ms), '', '', ''], ok: true })),
    { cells: ['banger image build (wall)', fmtSecs(b.ms), '', '', `stages sum ${fmtSecs(stageSum)}; outside stages ${fmtDur(b.ms - stageSum)}`], ok: true },
    {
      cells: [
        'banger minus mmdebstrap',
        fmtDur(overhead),
        `<= 15% of alone (${fmtSecs(limit)})`,
        passMiss(ok),
        `${((overhead / alone.ms) * 100).toFixed(1)}% of mmdebstrap alone`,
      ],
      ok,
    },
    { cells: ['image size (sizeBytes)', fmtBytes(img.sizeBytes), '', '', 'banger image show'], ok: true },
  ];
  if (rootfs) rows.push({ cells: ['rootfs.ext4 on disk (du)', fmtBytes(rootfs.allocated), '', '', `apparent ${fmtBytes(rootfs.apparent)}`], ok: true });
  return {
    title: `image build (${IMAGE}; recipe ${from}; mmdebstrap argv from ${built.how}; one run each, alone first)`,
    header: ['measure', 'time/size', 'target', 'result', 'note'],
    rows,
  };
}
