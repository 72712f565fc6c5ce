/** banger image ... */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { badRequest } from '../../api/errors.js';
import { ROUTES } from '../../api/routes.js';
import type { BuildImageRequest, ImageInfo, PullImageRequest, RegisterImageRequest } from '../../api/types.js';
import { humanSize } from '../../model/size.js';
import type { CliContext } from '../context.js';
import { runOperation } from '../progress.js';
import { age, printJson, table } from '../render.js';

function imageTable(images: ImageInfo[]): string {
  return table(
    images.map((i) => [i.name, i.id.slice(0, 12), i.managed ? 'yes' : 'no', i.distro || '-', humanSize(i.sizeBytes), i.source || '-', age(i.createdAt)]),
    ['NAME', 'ID', 'MANAGED', 'DISTRO', 'SIZE', 'SOURCE', 'AGE'],
  );
}

export function registerImage(program: Command, ctx: CliContext): void {
  const image = program
    .command('image')
    .description('Build and manage images (rootfs + kernel + work seed)')
    .addHelpText(
      'after',
      `
An image is an immutable rootfs.ext4 with its kernel, initrd and a seed for each VM's /root.

Examples:
  banger image build debian-bookworm       build the default image from the Debian archive
  banger image build --list                the recipes banger can build
  banger image list --available            the image catalog
  banger image pull debian-bookworm        a catalog entry (bundle, OCI image or recipe)
  banger image list
  banger image register --name mine --rootfs /srv/rootfs.ext4 --kernel /boot/vmlinuz --initrd /boot/initrd.img
  banger image promote mine                copy it into banger's own storage
  banger image delete mine`,
    );

  image
    .command('build')
    .description('Build an image from a recipe (default: debian-bookworm)')
    .argument('[recipe]', 'recipe name (see --list)')
    .option('--name <name>', 'image name (default: the recipe name)')
    .option('--list', 'list the recipes')
    .addHelpText(
      'after',
      `
debian-bookworm carries build-essential, python3 (venv, pip), git, curl, jq, rsync, unzip, ripgrep,
gnupg, docker (docker.io, started after sshd) and mise (pinned, sha256-checked), with a boot trimmed
for sandboxes (banger.trim=off on the kernel command line turns the trimming off).

Examples:
  banger image build                       build debian-bookworm
  banger image build --list                the recipes this banger can build
  banger image build debian-bookworm --name bookworm-2`,
    )
    .action(async (recipe: string | undefined, o: { name?: string; list?: boolean }) => {
      const client = await ctx.client();
      if (o.list) {
        const recipes = await client.call(ROUTES.imageRecipes, {});
        if (ctx.globals.json) printJson(ctx.io, recipes);
        else ctx.io.stdout.write(table(recipes.map((r) => [r.name, r.description]), ['RECIPE', 'DESCRIPTION']));
        return;
      }
      const body: BuildImageRequest = { recipe: recipe ?? 'debian-bookworm' };
      if (o.name) body.name = o.name;
      const img = await runOperation(ctx, ROUTES.imageBuild, {}, body);
      if (ctx.globals.json) printJson(ctx.io, img);
      else ctx.io.stdout.write(`built image ${img.name} (${img.id.slice(0, 12)}, ${humanSize(img.sizeBytes)})\n`);
    });

  image
    .command('list')
    .alias('ls')
    .description('List images')
    .option('--available', 'list the image catalog (built in, or image_catalog_url) with a pulled/available column')
    .action(async (o: { available?: boolean }) => {
      if (o.available) {
        const cat = await (await ctx.client()).call(ROUTES.imageCatalog, {});
        if (ctx.globals.json) printJson(ctx.io, cat);
        else if (cat.length === 0) ctx.io.stdout.write('the image catalog is empty\n');
        else {
          ctx.io.stdout.write(
            table(
              cat.map((i) => [
                i.name,
                i.pulled ? 'pulled' : 'available',
                i.pulled && i.localSizeBytes !== undefined ? humanSize(i.localSizeBytes) : i.sizeBytes !== undefined ? humanSize(i.sizeBytes) : '-',
                `${i.kind}:${i.from}`,
                i.description,
              ]),
              ['NAME', 'STATE', 'SIZE', 'SOURCE', 'DESCRIPTION'],
            ),
          );
        }
        return;
      }
      const images = await (await ctx.client()).call(ROUTES.imageList, {});
      if (ctx.globals.json) printJson(ctx.io, images);
      else if (images.length === 0) ctx.io.stdout.write('no images yet (build one with banger image build debian-bookworm)\n');
      else ctx.io.stdout.write(imageTable(images));
    });

  image
    .command('show')
    .description('Show one image')
    .argument('<name>')
    .action(async (name: string) => {
      const img = await (await ctx.client()).call(ROUTES.imageShow, { name });
      if (ctx.globals.json) {
        printJson(ctx.io, img);
        return;
      }
      const rows: [string, string | undefined][] = [
        ['name', img.name], ['id', img.id], ['managed', String(img.managed)], ['distro', img.distro], ['arch', img.arch], ['source', img.source],
        ['size', humanSize(img.sizeBytes)], ['rootfs', img.rootfsPath], ['work seed', img.workSeedPath], ['kernel', img.kernelPath],
        ['kernel ref', img.kernelRef], ['initrd', img.initrdPath], ['modules', img.modulesPath], ['created', img.createdAt],
        ['first boot', firstBootLine(img.meta.firstBoot)],
        ['bootable', img.meta.initMissing === true ? 'no: the image has no init system (systemd)' : undefined],
      ];
      ctx.io.stdout.write(rows.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${(k + ':').padEnd(12)}${v}`).join('\n') + '\n');
    });

  image
    .command('delete')
    .alias('rm')
    .description('Delete an image (refused while a VM uses it)')
    .argument('<name>')
    .action(async (name: string) => {
      const r = await (await ctx.client()).call(ROUTES.imageDelete, { name });
      if (ctx.globals.json) printJson(ctx.io, r);
      else ctx.io.stdout.write(`deleted image ${r.deleted}\n`);
    });

  image
    .command('register')
    .description('Register an ext4 rootfs you already have (banger does not copy or change it)')
    .requiredOption('--name <name>', 'image name')
    .requiredOption('--rootfs <path>', 'ext4 root filesystem')
    .option('--kernel <path>', 'kernel (bzImage or vmlinux)')
    .option('--initrd <path>', 'initramfs')
    .option('--modules <dir>', 'kernel modules directory')
    .option('--kernel-ref <name>', 'a kernel from banger kernel list')
    .addHelpText('after', '\nExample:\n  banger image register --name mine --rootfs ./rootfs.ext4 --kernel-ref debian-cloud')
    .action(async (o: { name: string; rootfs: string; kernel?: string; initrd?: string; modules?: string; kernelRef?: string }) => {
      if (o.kernelRef && (o.kernel || o.initrd || o.modules)) throw badRequest('--kernel-ref and --kernel/--initrd/--modules are mutually exclusive', 'use one or the other');
      if (!o.kernelRef && !o.kernel) throw badRequest('an image needs a kernel', 'pass --kernel PATH (and --initrd PATH) or --kernel-ref NAME (see banger kernel list)');
      const body: RegisterImageRequest = { name: o.name, rootfs: resolve(o.rootfs) };
      if (o.kernel) body.kernel = resolve(o.kernel);
      if (o.initrd) body.initrd = resolve(o.initrd);
      if (o.modules) body.modules = resolve(o.modules);
      if (o.kernelRef) body.kernelRef = o.kernelRef;
      const img = await (await ctx.client()).call(ROUTES.imageRegister, {}, body);
      if (ctx.globals.json) printJson(ctx.io, img);
      else ctx.io.stdout.write(`registered image ${img.name} (${img.id.slice(0, 12)})\n`);
    });

  image
    .command('promote')
    .description("Copy a registered image into banger's managed storage")
    .argument('<name>')
    .action(async (name: string) => {
      const img = await runOperation(ctx, ROUTES.imagePromote, { name });
      if (ctx.globals.json) printJson(ctx.io, img);
      else ctx.io.stdout.write(`promoted image ${img.name} (managed)\n`);
    });

  image
    .command('pull')
    .description('Pull an image catalog entry, or an OCI image from a registry, and make it a banger image')
    .argument('<ref>', 'catalog name (banger image list --available), or OCI reference: [registry/]repository[:tag][@sha256:digest]')
    .option('--name <name>', 'image name (default: the catalog name, or from the reference: debian:bookworm -> debian-bookworm)')
    .option('--size <size>', 'rootfs.ext4 size, e.g. 4G (default: content x1.5, at least 1G)')
    .option('--platform <os/arch>', 'platform to take from a multi-platform image', 'linux/amd64')
    .option('--kernel-ref <name>', 'boot it with this kernel from banger kernel list')
    .option('--kernel <path>', 'kernel file to copy into the image')
    .option('--initrd <path>', 'initramfs to copy with --kernel')
    .option('--modules <dir>', 'kernel modules directory to copy with --kernel')
    .addHelpText(
      'after',
      `
A bare name (no registry, tag or digest) is looked up in the image catalog first (built in, or
image_catalog_url): a bundle entry is downloaded and checked against its sha256 and size, an OCI
entry is pulled from its reference, a recipe entry is built on this host. A name the catalog lacks
is tried as an OCI reference (docker.io/library/NAME:latest).

Layers are verified against their digests and kept in a blob cache shared by every pull; an
interrupted pull resumes where it stopped. The root filesystem keeps the layers' owners, modes,
setuid bits and xattrs, whoever runs banger. Credentials come from ~/.docker/config.json of the
user bangerd runs as; registries on 127.0.0.1/localhost and those in insecure_registries are
reached over plain HTTP, every other one over TLS. An image without a kernel in /boot boots with
--kernel-ref, --kernel, or the kernel catalog's default kernel (pulled when missing; the newest
local kernel when the catalog cannot be reached).

An image without openssh-server gets a first-boot installer: the package manager chosen from its
/etc/os-release (apt, apk, dnf, pacman, zypper) installs openssh-server at each VM's first boot,
before banger waits for SSH, its progress shown by vm run/create. The pull names the packages, the
commands and the mirror hosts they need (read from the image's package sources, e.g.
/etc/apt/sources.list(.d)); the VM's first boot opens egress to exactly those hosts for the install
and closes it again afterwards (--nat and --allow stay as given). An image without an init system
(systemd) cannot be booted by banger: the pull says which packages would add it, and vm create
refuses the image until it has them (e.g. a Dockerfile RUN line).

Examples:
  banger image pull debian-bookworm
  banger image pull debian:bookworm
  banger image pull 127.0.0.1:5000/team/base:v3 --name base --kernel-ref cloud
  banger image pull ghcr.io/org/img@sha256:<digest> --size 8G`,
    )
    .action(async (ref: string, o: { name?: string; size?: string; platform?: string; kernelRef?: string; kernel?: string; initrd?: string; modules?: string }) => {
      if (o.kernelRef && (o.kernel || o.initrd || o.modules)) throw badRequest('--kernel-ref and --kernel/--initrd/--modules are mutually exclusive', 'use one or the other');
      const body: PullImageRequest = { ref };
      if (o.name) body.name = o.name;
      if (o.size) body.size = o.size;
      if (o.platform) body.platform = o.platform;
      if (o.kernelRef) body.kernelRef = o.kernelRef;
      if (o.kernel) body.kernel = resolve(o.kernel);
      if (o.initrd) body.initrd = resolve(o.initrd);
      if (o.modules) body.modules = resolve(o.modules);
      const img = await runOperation(ctx, ROUTES.imagePull, {}, body);
      if (ctx.globals.json) printJson(ctx.io, img);
      else ctx.io.stdout.write(`pulled image ${img.name} (${img.id.slice(0, 12)}, ${humanSize(img.sizeBytes)})${img.kernelRef ? `, kernel ${img.kernelRef}` : ''}\n`);
    });

  image
    .command('push')
    .description('Store a managed image in an OCI registry as a banger image artifact')
    .argument('<name>', 'image to push (banger image list)')
    .argument('<ref>', 'where to store it: [registry/]repository[:tag] (tag default latest)')
    .addHelpText(
      'after',
      `
The rootfs, work seed, kernel and initrd go up zstd-compressed as the layers of an OCI artifact
(media types application/vnd.banger.image.*) whose config is the image's manifest; any registry
that speaks the distribution API v2 stores it. 'banger image pull REF' recognises the artifact and
restores the files exactly as pushed, digests checked, without flattening anything. Credentials
come from ~/.docker/config.json of the user bangerd runs as. Images with a kernel modules directory
cannot be pushed yet.

Examples:
  banger image push debian-bookworm 127.0.0.1:5000/team/debian:bookworm
  banger image pull 127.0.0.1:5000/team/debian:bookworm --name debian-team`,
    )
    .action(async (name: string, ref: string) => {
      const r = await runOperation(ctx, ROUTES.imagePush, { name }, { ref });
      if (ctx.globals.json) printJson(ctx.io, r);
      else ctx.io.stdout.write(`pushed image ${r.image} to ${r.ref} (${r.digest}, ${humanSize(r.bytes)})\n`);
    });

  const cache = image.command('cache').description('Manage the OCI blob cache');
  cache
    .command('prune')
    .description('Empty the OCI blob cache (layers are downloaded again by the next pull)')
    .option('--dry-run', 'only report what would be freed')
    .addHelpText('after', '\nExamples:\n  banger image cache prune --dry-run\n  banger image cache prune')
    .action(async (o: { dryRun?: boolean }) => {
      const r = await (await ctx.client()).call(ROUTES.imageCachePrune, {}, o.dryRun ? { dryRun: true } : {});
      if (ctx.globals.json) printJson(ctx.io, r);
      else ctx.io.stdout.write(`${r.dryRun ? 'would free' : 'freed'} ${humanSize(r.bytes)} (${r.blobs} blob${r.blobs === 1 ? '' : 's'}, ${r.flattened} flattened image${r.flattened === 1 ? '' : 's'})\n`);
    });
}

/** What an image's first-boot installer does, from its stored plan. */
function firstBootLine(v: unknown): string | undefined {
  const f = v as { manager?: unknown; packages?: unknown; hosts?: unknown } | undefined;
  if (!f || typeof f.manager !== 'string' || !Array.isArray(f.packages) || !Array.isArray(f.hosts)) return undefined;
  return `installs ${f.packages.join(' ')} with ${f.manager}, egress to ${f.hosts.join(', ')} open meanwhile`;
}
