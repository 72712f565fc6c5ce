/** /v1/images: list, show, build, pull (catalog names and OCI references), push, cache prune, register, promote, delete. */
import { ROUTES } from '../../api/routes.js';
import { checkClientPaths } from '../client-paths.js';
import type { DaemonContext } from '../context.js';
import type { RouteKit } from '../route-kit.js';

export function imageRoutes(kit: RouteKit, ctx: DaemonContext): void {
  const images = () => ctx.services.images;
  kit.sync(ROUTES.imageList, () => images().list());
  kit.sync(ROUTES.imageRecipes, () => images().recipes());
  kit.sync(ROUTES.imageCatalog, () => images().available());
  kit.operation(ROUTES.imageBuild, ({ body }) => {
    const recipe = body.recipe ?? ctx.loaded.config.default_image_name;
    images().checkBuild(recipe, body.name ? { name: body.name } : {});
    return { target: body.name ?? recipe, run: (oc) => images().build(recipe, body.name ? { name: body.name } : {}, oc) };
  });
  kit.operation(ROUTES.imagePull, async ({ body, c }) => {
    await checkClientPaths(c, [
      { flag: '--kernel', path: body.kernel, kind: 'file' },
      { flag: '--initrd', path: body.initrd, kind: 'file' },
      { flag: '--modules', path: body.modules, kind: 'dir' },
    ]);
    const name = images().pullName(body);
    return { target: name, run: (oc) => images().pull(body, oc) };
  });
  kit.operation(ROUTES.imagePush, ({ params: { name }, body }) => {
    images().checkPush(name, body);
    return { target: name, run: (oc) => images().push(name, body, oc) };
  });
  kit.sync(ROUTES.imageCachePrune, ({ body }) => images().pruneCache(body.dryRun ?? false));
  kit.sync(ROUTES.imageRegister, async ({ body, c }) => {
    await checkClientPaths(c, [
      { flag: '--rootfs', path: body.rootfs, kind: 'file' },
      { flag: '--kernel', path: body.kernel, kind: 'file' },
      { flag: '--initrd', path: body.initrd, kind: 'file' },
      { flag: '--modules', path: body.modules, kind: 'dir' },
    ]);
    return images().register(body);
  });
  kit.sync(ROUTES.imageShow, ({ params }) => images().get(params.name));
  kit.operation(ROUTES.imagePromote, ({ params: { name } }) => {
    images().get(name);
    return { target: name, run: (oc) => images().promote(name, oc) };
  });
  kit.sync(ROUTES.imageDelete, async ({ params }) => {
    const img = images().get(params.name);
    await images().delete(img.id, (id) => ctx.services.vms.usingImage(id));
    await ctx.services.vms.poolForgetImage(img.id);
    return { deleted: img.name };
  });
}
