/** /v1/images: list, show, build, register, promote, delete. */
import { Hono } from 'hono';
import { badRequest } from '../../api/errors.js';
import type { DaemonContext } from '../context.js';
import { jsonBody, optionalString, started } from '../http-util.js';

export function imageRoutes(ctx: DaemonContext): Hono {
  const r = new Hono();
  const images = () => ctx.services.images;
  r.get('/', (c) => c.json(images().list()));
  r.get('/recipes', (c) => c.json(images().recipes()));
  r.post('/build', async (c) => {
    const b = await jsonBody<Record<string, unknown>>(c);
    const recipe = optionalString(b.recipe, 'recipe') ?? ctx.loaded.config.default_image_name;
    const name = optionalString(b.name, 'name');
    return started(c, ctx.ops.begin('image.build', name ?? recipe, (oc) => images().build(recipe, name ? { name } : {}, oc)));
  });
  r.post('/register', async (c) => {
    const b = await jsonBody<Record<string, unknown>>(c);
    const name = optionalString(b.name, 'name');
    const rootfs = optionalString(b.rootfs, 'rootfs');
    if (!name) throw badRequest('name is required');
    if (!rootfs) throw badRequest('rootfs is required', 'pass --rootfs PATH to an ext4 image');
    const req: { name: string; rootfs: string; kernel?: string; initrd?: string; modules?: string; kernelRef?: string } = { name, rootfs };
    for (const k of ['kernel', 'initrd', 'modules', 'kernelRef'] as const) {
      const v = optionalString(b[k], k);
      if (v !== undefined) req[k] = v;
    }
    return c.json(await images().register(req), 201);
  });
  r.get('/:name', (c) => c.json(images().get(c.req.param('name'))));
  r.post('/:name/promote', (c) => {
    const name = c.req.param('name');
    images().get(name);
    return started(c, ctx.ops.begin('image.promote', name, (oc) => images().promote(name, oc)));
  });
  r.delete('/:name', async (c) => {
    const img = images().get(c.req.param('name'));
    await images().delete(img.id, (id) => ctx.services.vms.usingImage(id));
    return c.json({ deleted: img.name });
  });
  return r;
}
