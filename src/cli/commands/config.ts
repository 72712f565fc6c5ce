/** banger config show */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { printJson } from '../render.js';

interface ConfigView {
  file: string | null;
  path: string;
  config: Record<string, unknown>;
  sources: Record<string, string>;
}

export function registerConfig(program: Command, ctx: CliContext): void {
  const config = program
    .command('config')
    .description('Show the effective configuration')
    .addHelpText(
      'after',
      `
Examples:
  banger config show           every key, its value and where it came from
  banger config show --json    the same, for scripts`,
    );
  config
    .command('show')
    .description('Print the effective configuration and the source of each value (file, default, env)')
    .action(async () => {
      const client = await ctx.client();
      const view = await client.get<ConfigView>('/config');
      if (ctx.globals.json) {
        printJson(ctx.io, view);
        return;
      }
      const lines = [`# config file: ${view.file ?? `${view.path} (not present; defaults in use)`}`];
      for (const [k, v] of Object.entries(view.config)) {
        if (k === 'vm_defaults' || k === 'file_sync') continue;
        lines.push(`${k} = ${JSON.stringify(v)}  ${ctx.out.dim(`# ${view.sources[k] ?? 'default'}`)}`);
      }
      lines.push('', '[vm_defaults]');
      for (const [k, v] of Object.entries(view.config.vm_defaults as Record<string, unknown>)) {
        lines.push(`${k} = ${JSON.stringify(v)}  ${ctx.out.dim(`# ${view.sources[`vm_defaults.${k}`] ?? 'file'}`)}`);
      }
      for (const e of view.config.file_sync as { host: string; guest: string; mode?: string }[]) {
        lines.push('', '[[file_sync]]', `host = ${JSON.stringify(e.host)}`, `guest = ${JSON.stringify(e.guest)}`);
        if (e.mode) lines.push(`mode = ${JSON.stringify(e.mode)}`);
      }
      ctx.io.stdout.write(lines.join('\n') + '\n');
    });
}
