/** banger vm run: create, boot, wait for SSH, then a shell or a command; --rm cleans up. */
import type { Command } from 'commander';
import { badRequest } from '../../../api/errors.js';
import { ROUTES } from '../../../api/routes.js';
import type { CliContext } from '../../context.js';
import { ExitStatus } from '../../context.js';
import { attach, sshTarget } from '../../guest-ssh.js';
import { runOperation } from '../../progress.js';
import { elapsed, printJson } from '../../render.js';
import { addCreateFlags, createBody, type CreateOpts } from './create-flags.js';
import { prepareWorkspace } from '../../../sdk/workspace/prepare.js';
import { inDir, terminalEnv } from './in-workspace.js';
import { addWorkspaceFlags, bootstrapAfterPrepare, prepareOptions, reportPrepare, type WorkspaceFlags } from './workspace-flags.js';

interface RunOpts extends CreateOpts, WorkspaceFlags {
  rm?: boolean;
  detach?: boolean;
}

export function registerRun(vm: Command, ctx: CliContext): void {
  addWorkspaceFlags(addCreateFlags(
    vm
      .command('run')
      .description('Create a sandbox VM and open a root shell in it, or run a command and exit with its status')
      .argument('[path]', 'a git checkout to copy in (to /root/repo); the shell or command starts there'),
  ), '--branch-from')
    .option('--rm', 'delete the VM when the shell or command exits')
    .option('-d, --detach', 'return once the VM is ready (no shell)')
    .addHelpText(
      'after',
      `
Everything after -- is the command to run in the VM. In a terminal it gets one (same size, TERM,
COLORTERM, Ctrl-C reaches it), so interactive tools such as coding agents work as in a local shell;
their credentials go in with [[file_sync]] in config.toml, copied before the command runs.

Examples:
  banger vm run                                  boot a sandbox, open a root shell
  banger vm run --name dev                       the same, named dev (ssh dev.vm later)
  banger vm run --rm -- cat /etc/os-release      throwaway VM for one command
  banger vm run --driver firecracker --network bridge   the same sandbox on Firecracker
  banger vm run ./repo                           a copy of the checkout at /root/repo, shell there
  banger vm run ./repo -- make test              the same, run the tests, exit with their status
  banger vm run ./repo --nat -- claude           a coding agent on the checkout, in your terminal
  banger vm run ./repo --dry-run                 list the files that would be copied
  banger vm run ./repo --branch fix --branch-from main
                                                 a guest-only branch fix, started at main
  banger vm run --from warm                      restore snapshot warm instead of booting
  banger vm run --cold -- true                   boot from the image, skipping the warm pool
  banger vm run -d --name box --vcpu 4 --memory 4G
                                                 start in the background
  banger vm run -d --name web -p 3000            guest port 3000 on http://web.vm:3000
  banger vm run ./repo --nat -- npm ci           outbound HTTP(S) through banger's proxy
  banger vm run --allow registry.npmjs.org       only that name (user mode: HTTP(S) via
                                                 the proxy; bridge mode: all traffic)
The first run builds the default image (a minute or two). With warm_pool = true (the default, QEMU in
user mode) the first cold boot of an image and shape (vcpu, memory) saves a template in the background,
and later runs of that image and shape are restored from it in seconds: the progress says "restored from
warm pool" or "cold boot" and why (see banger vm pool).`,
    )
    .action(async (path: string | undefined, o: RunOpts) => {
      const wsFlags = ['guestPath', 'includeUntracked', 'submodules', 'branch', 'branchFrom', 'dryRun'] as const;
      if (path === undefined && (wsFlags.some((f) => o[f] !== undefined) || o.bootstrap === false)) {
        throw badRequest('--guest-path, --include-untracked, --submodules, --branch, --branch-from, --dry-run and --no-bootstrap need a checkout path', 'e.g. banger vm run ./repo --include-untracked');
      }
      const command = ctx.passthrough;
      if (o.detach && o.rm) throw badRequest('-d and --rm do not go together', 'a detached VM stays until you delete it');
      if (o.detach && command?.length) throw badRequest('-d runs no command', 'drop -d to run the command, or drop the command');
      if (command && command.length === 0) throw badRequest('nothing after --', 'give the command to run, e.g. banger vm run -- uname -a');
      // The checkout is checked (and on --dry-run listed) before a VM exists.
      // On vm run, --from names a snapshot; the branch base is --branch-from.
      const { from: _snapshot, ...wsFlagValues } = o;
      const wsOpts = prepareOptions(wsFlagValues, ctx);
      if (path !== undefined) {
        const preview = await prepareWorkspace(undefined, path, { ...wsOpts, dryRun: true });
        if (o.dryRun) return reportPrepare(ctx, '-', preview);
      }
      const t0 = Date.now();
      const info = await runOperation(ctx, ROUTES.vmCreate, {}, createBody(o));
      if (!ctx.globals.json) ctx.note(ctx.err.dim(`ready in ${elapsed(Date.now() - t0)}`));
      const client = await ctx.client();
      const removeIfAsked = async () => {
        if (!o.rm) return;
        await client.run(ROUTES.vmDelete, { name: info.name }, undefined, () => undefined).catch((err: unknown) => {
          ctx.note(`banger: could not delete vm ${info.name}: ${(err as Error).message}`);
        });
      };
      let dir: string | undefined;
      if (path !== undefined) {
        try {
          const target = await ctx.sdk().vms.get(info.name);
          const r = await target.workspace.prepare(path, { ...wsOpts, dryRun: false });
          if (!ctx.globals.json) reportPrepare(ctx, info.name, r);
          dir = r.workspace.guestPath;
          await bootstrapAfterPrepare(ctx, target, r, o);
        } catch (err) {
          if (o.rm) await removeIfAsked();
          else ctx.note(`banger: vm ${info.name} is kept; copy again with banger vm workspace prepare ${info.name} ${path}, or remove it with banger vm delete ${info.name}`);
          throw err;
        }
      }
      if (o.detach) {
        if (ctx.globals.json) printJson(ctx.io, path !== undefined ? (await ctx.sdk().vms.get(info.name)).info : info);
        else ctx.io.stdout.write(`${info.name}\n`);
        ctx.note(`connect with banger vm ssh ${info.name}; stop with banger vm stop ${info.name}`);
        return;
      }
      let status: number;
      try {
        // In a terminal the command gets one too (its size, TERM, Ctrl-C reaching it), as in a local shell;
        // with output redirected it gets none, so the output stays as the command wrote it.
        const tty = command ? Boolean(ctx.io.stdin.isTTY && ctx.io.stdout.isTTY) : 'auto';
        status = await attach(await sshTarget(client, info.name), inDir(command, dir, tty === true ? terminalEnv(ctx.io.env) : {}), tty, ctx.transport());
      } finally {
        await removeIfAsked();
      }
      if (!o.rm && !command) ctx.note(`vm ${info.name} is still running (stop with banger vm stop ${info.name})`);
      if (status !== 0) throw new ExitStatus(status);
    });
}
