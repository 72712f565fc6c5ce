/** banger vm run: create, boot, wait for SSH, then a shell or a command; --rm cleans up. */
import type { Command } from 'commander';
import { BangerError, badRequest } from '../../../api/errors.js';
import { ROUTES } from '../../../api/routes.js';
import type { CliContext } from '../../context.js';
import { ExitStatus } from '../../context.js';
import { attach, sshTarget } from '../../guest-ssh.js';
import { runOperation } from '../../progress.js';
import { elapsed, printJson } from '../../render.js';
import { addCreateFlags, createBody, type CreateOpts } from './create-flags.js';

interface RunOpts extends CreateOpts {
  rm?: boolean;
  detach?: boolean;
}

export function registerRun(vm: Command, ctx: CliContext): void {
  addCreateFlags(
    vm
      .command('run')
      .description('Create a sandbox VM and open a root shell in it, or run a command and exit with its status')
      .argument('[path]', 'a git checkout to copy in (not yet available)'),
  )
    .option('--rm', 'delete the VM when the shell or command exits')
    .option('-d, --detach', 'return once the VM is ready (no shell)')
    .addHelpText(
      'after',
      `
Everything after -- is the command to run in the VM.

Examples:
  banger vm run                                  boot a sandbox, open a root shell
  banger vm run --name dev                       the same, named dev (ssh dev.vm later)
  banger vm run --rm -- cat /etc/os-release      throwaway VM for one command
  banger vm run -d --name box --vcpu 4 --memory 4G
                                                 start in the background
  banger vm run -d --name web --nat -p 3000      outbound access, guest port 3000
                                                 on http://web.vm:3000
The first run builds the default image (a minute or two); later runs take seconds.`,
    )
    .action(async (path: string | undefined, o: RunOpts) => {
      if (path !== undefined) {
        throw new BangerError('unavailable', 'copying a checkout into the VM (vm run PATH) is not available yet', {
          hint: `run without a path, e.g. banger vm run -- <command>`,
        });
      }
      const command = ctx.passthrough;
      if (o.detach && o.rm) throw badRequest('-d and --rm do not go together', 'a detached VM stays until you delete it');
      if (o.detach && command?.length) throw badRequest('-d runs no command', 'drop -d to run the command, or drop the command');
      if (command && command.length === 0) throw badRequest('nothing after --', 'give the command to run, e.g. banger vm run -- uname -a');
      const t0 = Date.now();
      const info = await runOperation(ctx, ROUTES.vmCreate, {}, createBody(o));
      if (!ctx.globals.json) ctx.note(ctx.err.dim(`ready in ${elapsed(Date.now() - t0)}`));
      if (o.detach) {
        if (ctx.globals.json) printJson(ctx.io, info);
        else ctx.io.stdout.write(`${info.name}\n`);
        ctx.note(`connect with banger vm ssh ${info.name}; stop with banger vm stop ${info.name}`);
        return;
      }
      const client = await ctx.client();
      let status: number;
      try {
        status = await attach(await sshTarget(client, info.name), command, command ? false : 'auto', ctx.transport());
      } finally {
        if (o.rm) {
          await client.run(ROUTES.vmDelete, { name: info.name }, undefined, () => undefined).catch((err: unknown) => {
            ctx.note(`banger: could not delete vm ${info.name}: ${(err as Error).message}`);
          });
        }
      }
      if (!o.rm && !command) ctx.note(`vm ${info.name} is still running (stop with banger vm stop ${info.name})`);
      if (status !== 0) throw new ExitStatus(status);
    });
}
