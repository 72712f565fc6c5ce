/** banger config show */
import type { Command } from 'commander';
import { ROUTES } from '../../api/routes.js';
import type { ConfigKeyView } from '../../api/types.js';
import type { CliContext } from '../context.js';
import { printJson } from '../render.js';

export const NOT_IN_EFFECT_MARK = '(not in effect yet)';

export function registerConfig(program: Command, ctx: CliContext): void {
  const config = program
    .command('config')
    .description('Show the effective configuration')
    .addHelpText(
      'after',
      `
Keys marked ${NOT_IN_EFFECT_MARK} are accepted and checked, but nothing uses them yet.

Examples:
  banger config show           every key, its value and where it came from
  banger config show --json    the same, for scripts (each key with "inEffect")`,
    );
  config
    .command('show')
    .description('Print the effective configuration and the source of each value (file, default, env)')
    .action(async () => {
      const view = await (await ctx.client()).call(ROUTES.config, {});
      if (ctx.globals.json) {
        printJson(ctx.io, view);
        return;
      }
      const out = ctx.out;
      const dim = (t: string) => out.dim(t);
      const comment = (k: ConfigKeyView) => dim(`# ${k.source}${k.inEffect ? '' : ` ${NOT_IN_EFFECT_MARK}`}`);
      const lines = [`# config file: ${view.file ?? `${view.path} (not present; defaults in use)`}`];
      const top = view.keys.filter((k) => !k.key.includes('.') && k.key !== 'file_sync');
      for (const k of top) lines.push(`${k.key} = ${JSON.stringify(k.value)}  ${comment(k)}`);
      lines.push('', '[vm_defaults]');
      for (const k of view.keys.filter((x) => x.key.startsWith('vm_defaults.'))) {
        lines.push(`${k.key.slice('vm_defaults.'.length)} = ${JSON.stringify(k.value)}  ${comment(k)}`);
      }
      const sync = view.keys.find((k) => k.key === 'file_sync');
      const entries = (sync?.value ?? []) as { host: string; guest: string; mode?: string }[];
      if (sync && !sync.inEffect && entries.length > 0) lines.push('', dim(`# [[file_sync]] ${NOT_IN_EFFECT_MARK}`));
      for (const e of entries) {
        lines.push('', '[[file_sync]]', `host = ${JSON.stringify(e.host)}`, `guest = ${JSON.stringify(e.guest)}`);
        if (e.mode) lines.push(`mode = ${JSON.stringify(e.mode)}`);
      }
      const allow = view.keys.find((k) => k.key === 'egress.allow');
      if (allow) lines.push('', '[egress]', `allow = ${JSON.stringify(allow.value)}  ${comment(allow)}`);
      ctx.io.stdout.write(lines.join('\n') + '\n');
    });
}
