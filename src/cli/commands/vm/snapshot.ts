/** banger vm snapshot create|list|show|delete, and banger vm fork */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import type { SnapshotInfo } from '../../../api/types.js';
import { MAX_FORK_CHILDREN } from '../../../api/requests.js';
import type { CliContext } from '../../context.js';
import { intOption, nameOption } from '../../options.js';
import { runOperation } from '../../progress.js';
import { age, printJson, table } from '../../render.js';
import { noPassthrough } from './shared.js';

function mib(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)}G` : `${Math.round(bytes / 1024 ** 2)}M`;
}

/** What `show` says of a snapshot's memory checksum. */
const CHECKSUM_LINES: Record<string, string> = {
  recorded: 'sha256 recorded (checked on restore)',
  pending: 'pending (the daemon is hashing its memory in the background)',
  missing: 'missing: its memory was never fully hashed, so it cannot be restored (delete it and take it again)',
};

export function snapshotTable(snaps: SnapshotInfo[]): string {
  return table(
    snaps.map((s) => [s.name, s.sourceVm, s.imageName ?? s.imageId, mib(s.sizeBytes), `${s.memoryMiB}M`, age(s.createdAt), s.usedBy.join(',') || '-']),
    ['NAME', 'SOURCE', 'IMAGE', 'SIZE', 'MEMORY', 'CREATED', 'USED BY'],
  );
}

export function registerSnapshot(vm: Command, ctx: CliContext): void {
  const snap = vm
    .command('snapshot')
    .description('Save running VMs (memory, devices, disks) and restore them with vm create|run --from')
    .addHelpText(
      'after',
      `
Examples:
  banger vm snapshot create dev --name warm      save dev; it keeps running with a new host key
  banger vm snapshot create dev --stop           save dev, then leave it stopped
  banger vm run --from warm -- make test         a new VM restored from the snapshot
  banger vm snapshot list
  banger vm snapshot delete warm`,
    );

  snap
    .command('create')
    .description("Pause a running VM, save its memory, device state and disks, then resume it (or stop it with --stop)")
    .argument('<vm>')
    .option('--name <name>', 'snapshot name (a DNS label; default: <vm>-<time>)', nameOption)
    .option('--stop', 'leave the VM stopped after saving it')
    .addHelpText('after', '\nExamples:\n  banger vm snapshot create dev --name warm\n  banger vm snapshot create dev --stop')
    .action(async (ref: string, o: { name?: string; stop?: boolean }) => {
      noPassthrough(ctx);
      const info = await runOperation(ctx, ROUTES.vmSnapshotCreate, { name: ref }, { ...(o.name ? { name: o.name } : {}), ...(o.stop ? { stop: true } : {}) });
      if (ctx.globals.json) printJson(ctx.io, info);
      else ctx.io.stdout.write(`${info.name}\n`);
    });

  snap
    .command('list')
    .alias('ls')
    .description('List snapshots (NAME SOURCE IMAGE SIZE MEMORY CREATED USED BY)')
    .action(async () => {
      const list = await (await ctx.client()).call(ROUTES.snapshotList, {});
      if (ctx.globals.json) printJson(ctx.io, list);
      else if (list.length === 0) ctx.io.stdout.write('no snapshots yet (take one with banger vm snapshot create VM)\n');
      else ctx.io.stdout.write(snapshotTable(list));
    });

  snap
    .command('show')
    .description('One snapshot: source, machine, driver and version, size, the VMs restored from it')
    .argument('<snapshot>')
    .action(async (ref: string) => {
      const s = await (await ctx.client()).call(ROUTES.snapshotShow, { name: ref });
      if (ctx.globals.json) printJson(ctx.io, s);
      else {
        ctx.io.stdout.write(
          [
            `name:      ${s.name} (${s.id})`,
            `source:    ${s.sourceVm}`,
            `image:     ${s.imageName ?? s.imageId}`,
            `machine:   ${s.vcpu} vcpu, ${s.memoryMiB} MiB`,
            `driver:    ${s.driver} (${s.driverVersion})`,
            `size:      ${mib(s.sizeBytes)}`,
            `created:   ${s.createdAt}`,
            `checksum:  ${CHECKSUM_LINES[s.checksum] ?? s.checksum}`,
            `used by:   ${s.usedBy.join(', ') || '-'}`,
            `directory: ${s.dir}`,
          ].join('\n') + '\n',
        );
      }
    });

  snap
    .command('delete')
    .alias('rm')
    .description('Remove a snapshot (refused while VMs restored from it exist)')
    .argument('<snapshot>')
    .action(async (ref: string) => {
      const r = await (await ctx.client()).call(ROUTES.snapshotDelete, { name: ref });
      if (ctx.globals.json) printJson(ctx.io, r);
      else ctx.io.stdout.write(`deleted ${r.deleted}\n`);
    });

  vm.command('fork')
    .description('Snapshot a running VM and start N children restored from it (concurrently); the parent keeps running')
    .argument('<vm>')
    .option('-n, --count <n>', `how many children (1-${MAX_FORK_CHILDREN})`, intOption('--count', 1, MAX_FORK_CHILDREN), 1)
    .option('--name-prefix <prefix>', 'children are named <prefix>-1, <prefix>-2, ... (default: the parent name)')
    .option('--branch <name>', 'a guest branch per child in the workspace, from the parent\'s HEAD; {n} is the child number')
    .addHelpText(
      'after',
      `
Children restore concurrently (up to 4 at a time) and each gets the parent's workspace, so banger vm diff
and banger vm workspace export work on it. If one child fails, all of them (and the fork's snapshot) are
removed, and the error names the child that failed; the parent keeps running either way.

Examples:
  banger vm fork dev -n 3                             dev-1, dev-2, dev-3
  banger vm fork dev -n 2 --name-prefix try           try-1, try-2
  banger vm fork dev -n 4 --name-prefix a --branch a-{n}   each child on its own branch a-1..a-4
  banger vm workspace export a-2 -o a-2.patch          what the second child did`,
    )
    .action(async (ref: string, o: { count: number; namePrefix?: string; branch?: string }) => {
      noPassthrough(ctx);
      const r = await runOperation(ctx, ROUTES.vmFork, { name: ref }, { count: o.count, ...(o.namePrefix ? { namePrefix: o.namePrefix } : {}), ...(o.branch !== undefined ? { branch: o.branch } : {}) });
      if (ctx.globals.json) printJson(ctx.io, r);
      else ctx.io.stdout.write(r.children.map((c) => `${c.name}${c.workspace?.branch && o.branch !== undefined ? `\t${c.workspace.branch}` : ''}\n`).join(''));
    });

  vm.command('pool')
    .description('The warm pool: a saved template per image and machine shape that vm run and vm create restore from')
    .option('--clear', 'cancel template builds and remove the templates (one still in use by VMs goes when they do)')
    .addHelpText(
      'after',
      `
With warm_pool = true (config.toml, the default) the first cold boot of an image with a machine shape
(vcpu, memory) builds a template in the background: a hidden VM boots, is saved and removed. Later VMs of
that image and shape are restored from it (the work disk is grown when more is asked for), each with its
own hostname, host key, address and entropy. A template whose image, kernel, driver or guest bits changed
is stale: never used, and rebuilt after the next cold boot. QEMU VMs in user-mode networking, and
Firecracker VMs in bridge mode (each restored VM takes its own MAC and address over the vsock guest channel).

Examples:
  banger vm pool                 list templates (image, shape, size, created, ready or stale)
  banger vm pool --json
  banger vm pool --clear         remove them (the next cold boot builds one again)
  banger vm run --cold           boot from the image, skipping the pool`,
    )
    .action(async (o: { clear?: boolean }) => {
      noPassthrough(ctx);
      const client = await ctx.client();
      if (o.clear) {
        const r = await client.call(ROUTES.poolClear, {});
        if (ctx.globals.json) printJson(ctx.io, r);
        else {
          ctx.io.stdout.write(`removed ${r.removed.length} template${r.removed.length === 1 ? '' : 's'}${r.cancelled ? `, cancelled ${r.cancelled} build${r.cancelled === 1 ? '' : 's'}` : ''}\n`);
          if (r.retired.length) ctx.note(`kept until the VMs restored from them are deleted: ${r.retired.join(', ')}`);
        }
        return;
      }
      const list = await client.call(ROUTES.poolList, {});
      if (ctx.globals.json) return printJson(ctx.io, list);
      if (list.length === 0) {
        ctx.note('the warm pool is empty: the next cold boot of an image and shape builds a template (warm_pool = true)');
        return;
      }
      ctx.io.stdout.write(
        table(
          list.map((t) => [t.imageName, `${t.vcpu} vcpu ${t.memoryMiB}M`, t.diskSizeBytes ? mib(t.diskSizeBytes) : '-', t.sizeBytes ? mib(t.sizeBytes) : '-', t.createdAt ? age(t.createdAt) : '-', t.status, t.usedBy.join(',') || '-']),
          ['IMAGE', 'SHAPE', 'DISK', 'SIZE', 'CREATED', 'STATUS', 'USED BY'],
        ),
      );
    });
}
