/** /v1/kernels: list, show, import (files or a Debian package), pull from the catalog, remove; /v1/catalog/kernels. */
import { ROUTES } from '../../api/routes.js';
import { checkClientPaths } from '../client-paths.js';
import type { DaemonContext } from '../context.js';
import type { RouteKit } from '../route-kit.js';

export function kernelRoutes(kit: RouteKit, ctx: DaemonContext): void {
  const kernels = () => ctx.services.kernels;
  kit.sync(ROUTES.kernelList, () => kernels().list());
  kit.sync(ROUTES.kernelCatalog, () => kernels().available());
  kit.operation(ROUTES.kernelPull, ({ params: { name }, body }) => {
    kernels().checkPull(name, body.force ?? false);
    return { target: name, run: (oc) => kernels().pull(name, body.force ?? false, oc) };
  });
  kit.sync(ROUTES.kernelShow, ({ params }) => kernels().get(params.name));
  kit.sync(ROUTES.kernelDelete, async ({ params }) => {
    await kernels().remove(params.name);
    return { deleted: params.name };
  });
  kit.operation(ROUTES.kernelImport, async ({ body, c }) => {
    const { name, deb, kernel, initrd, modules } = body;
    kernels().checkNew(name);
    await checkClientPaths(c, [
      { flag: '--deb', path: deb?.startsWith('/') ? deb : undefined, kind: 'file' },
      { flag: '--kernel', path: kernel, kind: 'file' },
      { flag: '--initrd', path: initrd, kind: 'file' },
      { flag: '--modules', path: modules, kind: 'dir' },
    ]);
    if (deb) return { target: name, run: (oc) => kernels().importDeb(name, deb, oc) };
    const files = { kernel: kernel!, ...(initrd ? { initrd } : {}), ...(modules ? { modules } : {}) };
    return { target: name, run: (oc) => kernels().importFiles(name, files, oc) };
  });
}
