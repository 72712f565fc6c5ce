/**
 * An image build in a process of its own, for tests that run it as another user (setpriv): an
 * ImageService over BANGER_HOME builds one recipe from a JSON file and prints one JSON line with the
 * image, the stage timings and the log, or the error. `cancelAfter` aborts the build once a log
 * line contains that text; `via` runs the pipeline directly in a chosen way (benches compare them).
 *
 *   node image-build-as-user.js '{"recipes":"/x/recipes.json","recipe":"tiny","name":"tiny"}'
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '../config/load.js';
import { resolveLayout } from '../config/paths.js';
import { openStore } from '../store/db.js';
import type { OpContext } from '../services/op-context.js';
import { ImageService } from '../services/images/image-service.js';
import { checkRecipe } from '../services/images/recipes.js';
import { buildImage, type BuildVia } from '../services/images/build.js';

export interface BuildAsUserRequest {
  /** A JSON file holding an array of recipes. */
  recipes: string;
  recipe: string;
  name: string;
  mirror?: string;
  cancelAfter?: string;
  /** Build with buildImage this way (directory or tarball) into BANGER_HOME's staging, without the image store. */
  via?: BuildVia;
}

export interface BuildAsUserResult {
  image?: { id: string; name: string; rootfsPath: string; workSeedPath: string; kernelPath: string; initrdPath: string };
  error?: { name: string; code?: string; message: string; hint?: string };
  stages: { id: string; ms: number }[];
  logs: string[];
  ms: number;
}

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? '{}') as BuildAsUserRequest;
  const started = Date.now();
  const layout = resolveLayout({ env: process.env });
  const config = resolveConfig(req.mirror ? { debian_mirror: req.mirror } : {}, '/nonexistent/config.toml', {}, false).config;
  const db = openStore(layout.dbPath);
  const recipes = (JSON.parse(readFileSync(req.recipes, 'utf8')) as unknown[]).map((r) => checkRecipe(r));
  const svc = new ImageService({ db, layout, config, recipes });
  const ac = new AbortController();
  const out: BuildAsUserResult = { stages: [], logs: [], ms: 0 };
  const ctx: OpContext = {
    signal: ac.signal,
    async stage(id, _label, fn) {
      const t0 = Date.now();
      try {
        return await fn();
      } finally {
        out.stages.push({ id, ms: Date.now() - t0 });
      }
    },
    progress: () => undefined,
    log(message) {
      out.logs.push(message);
      if (req.cancelAfter && message.includes(req.cancelAfter)) ac.abort();
    },
  };
  try {
    if (req.via) {
      const recipe = recipes.find((r) => r.name === req.recipe)!;
      const id = `bench-${req.via}`;
      const built = await buildImage({ recipe, id, name: req.name, mirror: config.debian_mirror, stagingRoot: layout.stagingDir, destDir: join(layout.imagesDir, id), via: req.via }, ctx);
      const f = (k: keyof typeof built.manifest.files) => join(built.dir, built.manifest.files[k] ?? '');
      out.image = { id, name: req.name, rootfsPath: f('rootfs'), workSeedPath: f('workSeed'), kernelPath: f('kernel'), initrdPath: f('initrd') };
      return;
    }
    const info = await svc.build(req.recipe, { name: req.name }, ctx);
    const rec = svc.find(info.id)!;
    out.image = { id: info.id, name: info.name, rootfsPath: rec.rootfsPath, workSeedPath: rec.workSeedPath!, kernelPath: rec.kernelPath!, initrdPath: rec.initrdPath! };
  } catch (err) {
    const e = err as Error & { code?: string; hint?: string };
    out.error = { name: e.name, message: e.message, ...(e.code ? { code: e.code } : {}), ...(e.hint ? { hint: e.hint } : {}) };
  } finally {
    db.close();
    out.ms = Date.now() - started;
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
}

await main();
