/** Unpacking a Debian kernel package into a staged kernel directory, with banger's initramfs. */
import { mkdir, copyFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { badRequest } from '../../api/errors.js';
import type { OpContext } from '../op-context.js';
import { classifyDebInput, debFields, downloadPackage, extractDeb, findPackagedKernel, kernelDependency, type DebFields } from './deb.js';
import { buildInitramfs } from './initramfs.js';
import { inspectKernel } from '../artifacts/kernel-file.js';
import { INITRAMFS_MODULES, REQUIRED_MODULES, planModules, readModuleTree } from './modules.js';
import type { StagedKernel } from './staged.js';

export async function importDebInto(debOrPackage: string, out: string, staging: string, ctx: OpContext): Promise<StagedKernel> {
  const input = classifyDebInput(debOrPackage);
  const dl = join(staging, 'download');
  await mkdir(dl);
  let deb = input.kind === 'file' ? input.path : '';
  if (input.kind === 'package') {
    deb = await ctx.stage('fetch', `Downloading ${input.name}`, () => downloadPackage(input.name, dl, ctx.signal));
  }
  let fields: DebFields = await debFields(deb);
  let root = join(staging, 'pkg');
  let found = await ctx.stage('extract', `Unpacking ${fields.package || deb}`, async () => {
    await extractDeb(deb, root, ctx.signal);
    return findPackagedKernel(root);
  });
  const dep = kernelDependency(fields.depends);
  if (!found && input.kind === 'package' && dep) {
    ctx.log(`${fields.package} is a meta package; using ${dep}`);
    deb = await ctx.stage('fetch', `Downloading ${dep}`, () => downloadPackage(dep, dl, ctx.signal));
    fields = await debFields(deb);
    root = join(staging, 'pkg2');
    found = await ctx.stage('extract', `Unpacking ${fields.package}`, async () => {
      await extractDeb(deb, root, ctx.signal);
      return findPackagedKernel(root);
    });
  }
  if (!found) {
    throw badRequest(
      `${fields.package || deb} is not a kernel package (no boot/vmlinuz-*)`,
      dep ? `it depends on ${dep}; import that package` : 'give a linux-image-* package',
    );
  }
  const info = await inspectKernel(found.kernel);
  if (!info) throw badRequest(`${found.kernel.slice(root.length)} in ${fields.package} is not a Linux kernel`);
  await copyFile(found.kernel, join(out, 'vmlinuz'));

  let initramfsModules: string[] = [];
  let initrdFile: string | undefined;
  let modulesDir: string | undefined;
  if (found.modulesDir) {
    const modDir = found.modulesDir;
    await ctx.stage('initramfs', 'Building the initramfs', async () => {
      const tree = await readModuleTree(modDir);
      const plan = await planModules(tree, INITRAMFS_MODULES);
      const fatal = plan.missing.filter((m) => REQUIRED_MODULES.includes(m));
      if (fatal.length > 0 && tree.hasBuiltinList) {
        throw badRequest(`kernel ${found.version} has no ${fatal.join(' or ')} (neither a module nor built in); a VM could not mount its disks`);
      }
      for (const m of plan.missing) ctx.log(`module ${m} is not available in ${fields.package}`, 'warn');
      await buildInitramfs({
        modules: plan.order.map((n) => [n, tree.files.get(n)!]),
        out: join(out, 'initrd.img'),
        scratchDir: staging,
        signal: ctx.signal,
      });
      initramfsModules = plan.order;
    });
    initrdFile = 'initrd.img';
    await rename(modDir, join(out, 'modules'));
    modulesDir = 'modules';
  } else {
    ctx.log(`${fields.package} ships no modules; assuming virtio and ext4 are built in`, 'warn');
  }
  return {
    kernelFile: 'vmlinuz',
    initrdFile,
    modulesDir,
    distro: 'debian',
    kernelVersion: info.version || found.version,
    source: `deb:${fields.package}_${fields.version}`,
    extra: { initramfsModules },
  };
}
