/** /v1/kernels: list, show, import (files or a Debian package), remove. */
import { Hono } from 'hono';
import { badRequest } from '../../api/errors.js';
import type { DaemonContext } from '../context.js';
import { jsonBody, optionalString, started } from '../http-util.js';

export function kernelRoutes(ctx: DaemonContext): Hono {
  const r = new Hono();
  const kernels = () => ctx.services.kernels;
  r.get('/', (c) => c.json(kernels().list()));
  r.get('/:name', (c) => c.json(kernels().get(c.req.param('name'))));
  r.delete('/:name', async (c) => {
    const name = c.req.param('name');
    await kernels().remove(name);
    return c.json({ deleted: name });
  });
  r.post('/import', async (c) => {
    const b = await jsonBody<Record<string, unknown>>(c);
    const name = optionalString(b.name, 'name');
    if (!name) throw badRequest('name is required');
    const deb = optionalString(b.deb, 'deb');
    const kernel = optionalString(b.kernel, 'kernel');
    const initrd = optionalString(b.initrd, 'initrd');
    const modules = optionalString(b.modules, 'modules');
    if (deb && kernel) throw badRequest('give either deb or kernel, not both');
    if (!deb && !kernel) throw badRequest('nothing to import', 'pass --kernel PATH or --deb FILE|PACKAGE');
    const op = deb
      ? ctx.ops.begin('kernel.import', name, (oc) => kernels().importDeb(name, deb, oc))
      : ctx.ops.begin('kernel.import', name, (oc) =>
          kernels().importFiles(name, { kernel: kernel!, ...(initrd ? { initrd } : {}), ...(modules ? { modules } : {}) }, oc),
        );
    return started(c, op);
  });
  return r;
}
