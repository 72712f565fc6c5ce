/** banger ssh-config [--install|--uninstall] */
import type { Command } from 'commander';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { badRequest } from '../../api/errors.js';
import { ROUTES } from '../../api/routes.js';
import { includeLine, installInclude, isIncludeInstalled, uninstallInclude, userSSHConfigPath } from '../ssh-include.js';
import type { CliContext } from '../context.js';
import { printJson } from '../render.js';

export function registerSshConfig(program: Command, ctx: CliContext): void {
  program
    .command('ssh-config')
    .description('Set up `ssh <name>.vm` for banger VMs')
    .option('--install', 'add an Include of banger\'s ssh_config to ~/.ssh/config')
    .option('--uninstall', 'remove that Include again')
    .addHelpText(
      'after',
      `
banger keeps its own ssh_config (key, pinned host keys); your ~/.ssh is only touched by --install.

Examples:
  banger ssh-config              show the file and the Include line
  banger ssh-config --install    add the Include line (idempotent)
  banger ssh-config --uninstall  remove it`,
    )
    .action(async (o: { install?: boolean; uninstall?: boolean }) => {
      if (o.install && o.uninstall) throw badRequest('--install and --uninstall do not go together');
      if (await ctx.delegate(['ssh-config', ...(o.install ? ['--install'] : []), ...(o.uninstall ? ['--uninstall'] : [])])) return;
      const layout = ctx.layout();
      const home = ctx.io.env.HOME ?? homedir();
      const keyPath = layout.sshKeyPath;
      await (await ctx.client()).call(ROUTES.sshConfig, {});
      const userConfig = userSSHConfigPath(home);
      if (o.install) {
        const r = await installInclude(home, layout.sshConfigPath);
        if (ctx.globals.json) printJson(ctx.io, { installed: true, ...r });
        else ctx.io.stdout.write(r.changed ? `added the banger Include to ${r.path}\n` : `${r.path} already includes banger's ssh_config\n`);
        return;
      }
      if (o.uninstall) {
        const r = await uninstallInclude(home);
        if (ctx.globals.json) printJson(ctx.io, { installed: false, ...r });
        else ctx.io.stdout.write(r.changed ? `removed the banger Include from ${r.path}\n` : `${r.path} had no banger Include\n`);
        return;
      }
      const installed = await isIncludeInstalled(home);
      if (ctx.globals.json) {
        printJson(ctx.io, { path: layout.sshConfigPath, include: includeLine(layout.sshConfigPath), userConfig, installed });
        return;
      }
      ctx.io.stdout.write(
        [
          `banger ssh_config: ${layout.sshConfigPath}`,
          `include line:      ${includeLine(layout.sshConfigPath)}`,
          `in ${userConfig}: ${installed ? 'yes' : 'no (add it with banger ssh-config --install)'}`,
          `client key:        ${keyPath}`,
          `known hosts:       ${join(layout.sshDir, 'known_hosts')}`,
        ].join('\n') + '\n',
      );
    });
}
