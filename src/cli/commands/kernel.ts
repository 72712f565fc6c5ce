/** banger kernel ... */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { badRequest } from '../../api/errors.js';
import { ROUTES } from '../../api/routes.js';
import type { ImportKernelRequest } from '../../api/types.js';
import type { CliContext } from '../context.js';
import { runOperation } from '../progress.js';
import { age, printJson, table } from '../render.js';
import { humanSize } from '../../model/size.js';

export function registerKernel(program: Command, ctx: CliContext): void {
  const kernel = program
    .command('kernel')
    .description('Manage kernels')
    .addHelpText(
      'after',
      `
Examples:
  banger kernel import debian-cloud --deb linux-image-cloud-amd64
  banger kernel import mine --kernel ./bzImage --initrd ./initrd.img
  banger kernel list --available           the kernel catalog
  banger kernel pull debian-cloud-6.1      download a catalog kernel (verified by sha256)
  banger kernel list
  banger kernel rm mine`,
    );

  kernel
    .command('list')
    .alias('ls')
    .description('List kernels')
    .option('--available', 'list the kernel catalog (built in, or kernel_catalog_url) with a pulled/available column')
    .action(async (o: { available?: boolean }) => {
      if (o.available) {
        const cat = await (await ctx.client()).call(ROUTES.kernelCatalog, {});
        if (ctx.globals.json) printJson(ctx.io, cat);
        else if (cat.length === 0) ctx.io.stdout.write('the kernel catalog is empty\n');
        else {
          ctx.io.stdout.write(
            table(
              cat.map((k) => [k.name + (k.default ? ' (default)' : ''), k.pulled ? 'pulled' : 'available', humanSize(k.sizeBytes), k.kind, k.description]),
              ['NAME', 'STATE', 'SIZE', 'KIND', 'DESCRIPTION'],
            ),
          );
        }
        return;
      }
      const ks = await (await ctx.client()).call(ROUTES.kernelList, {});
      if (ctx.globals.json) printJson(ctx.io, ks);
      else if (ks.length === 0) ctx.io.stdout.write('no kernels yet (import one with banger kernel import)\n');
      else ctx.io.stdout.write(table(ks.map((k) => [k.name, k.kernelVersion || '-', k.initrdPath ? 'yes' : 'no', k.sha256.slice(0, 12), k.source, age(k.importedAt)]), ['NAME', 'VERSION', 'INITRD', 'SHA256', 'SOURCE', 'AGE']));
    });

  kernel
    .command('show')
    .description('Show one kernel')
    .argument('<name>')
    .action(async (name: string) => {
      const k = await (await ctx.client()).call(ROUTES.kernelShow, { name });
      if (ctx.globals.json) printJson(ctx.io, k);
      else ctx.io.stdout.write(Object.entries(k).map(([key, v]) => `${(key + ':').padEnd(15)}${String(v)}`).join('\n') + '\n');
    });

  kernel
    .command('rm')
    .alias('delete')
    .description('Delete a kernel')
    .argument('<name>')
    .action(async (name: string) => {
      const r = await (await ctx.client()).call(ROUTES.kernelDelete, { name });
      if (ctx.globals.json) printJson(ctx.io, r);
      else ctx.io.stdout.write(`deleted kernel ${r.deleted}\n`);
    });

  kernel
    .command('import')
    .description('Import a kernel from files or from a Debian kernel package')
    .argument('<name>')
    .option('--kernel <path>', 'kernel image (bzImage or vmlinux)')
    .option('--initrd <path>', 'initramfs')
    .option('--modules <dir>', 'modules directory')
    .option('--deb <file-or-package>', 'a .deb file, or a package name fetched with apt-get download')
    .action(async (name: string, o: { kernel?: string; initrd?: string; modules?: string; deb?: string }) => {
      if (o.deb && (o.kernel || o.initrd || o.modules)) throw badRequest('--deb and --kernel/--initrd/--modules are mutually exclusive');
      if (!o.deb && !o.kernel) throw badRequest('nothing to import', 'pass --kernel PATH or --deb FILE|PACKAGE');
      const body: ImportKernelRequest = { name };
      if (o.kernel) body.kernel = resolve(o.kernel);
      if (o.initrd) body.initrd = resolve(o.initrd);
      if (o.modules) body.modules = resolve(o.modules);
      if (o.deb) body.deb = o.deb.includes('/') || o.deb.endsWith('.deb') || existsSync(o.deb) ? resolve(o.deb) : o.deb;
      const k = await runOperation(ctx, ROUTES.kernelImport, {}, body);
      if (ctx.globals.json) printJson(ctx.io, k);
      else ctx.io.stdout.write(`imported kernel ${k.name} (${k.kernelVersion || 'unknown version'})\n`);
    });

  kernel
    .command('pull')
    .description('Download a kernel from the kernel catalog')
    .argument('<name>', 'catalog entry (banger kernel list --available)')
    .option('--force', 'download it again and replace a kernel of that name')
    .addHelpText(
      'after',
      `
The download is checked against the size and sha256 the catalog gives, and nothing is kept unless it
matches. A Debian kernel package gets banger's initramfs (virtio, ext4, vsock) as with kernel import
--deb. The catalog is built into banger; kernel_catalog_url in config.toml points at a mirror's.

Examples:
  banger kernel pull debian-cloud-6.1
  banger kernel pull debian-cloud-6.1 --force`,
    )
    .action(async (name: string, o: { force?: boolean }) => {
      const k = await runOperation(ctx, ROUTES.kernelPull, { name }, o.force ? { force: true } : {});
      if (ctx.globals.json) printJson(ctx.io, k);
      else ctx.io.stdout.write(`pulled kernel ${k.name} (${k.kernelVersion || 'unknown version'})\n`);
    });
}
