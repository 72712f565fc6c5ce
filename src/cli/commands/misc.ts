/** version, completion and the hidden completion helper. */
import type { Command } from 'commander';
import { Argument } from 'commander';
import { ApiClient } from '../../api/client.js';
import { buildInfo } from '../../api/build-info.js';
import { badRequest } from '../../api/errors.js';
import { ROUTES, type SyncRoute } from '../../api/routes.js';
import type { CliContext } from '../context.js';
import { printJson } from '../render.js';
import { completionScript, SHELLS, type Shell } from '../completion.js';

export function registerMisc(program: Command, ctx: CliContext): void {
  program
    .command('version')
    .description('Print version, commit and build time')
    .action(() => {
      const b = buildInfo();
      if (ctx.globals.json) printJson(ctx.io, b);
      else ctx.io.stdout.write(`banger ${b.version}\ncommit: ${b.commit}\nbuilt:  ${b.builtAt}\n`);
    });

  program
    .command('completion')
    .description('Print a shell completion script')
    .addArgument(new Argument('<shell>', 'shell to complete for').choices(SHELLS))
    .addHelpText(
      'after',
      `
Examples:
  banger completion bash > /etc/bash_completion.d/banger
  banger completion zsh > "\${fpath[1]}/_banger"
  banger completion fish > ~/.config/fish/completions/banger.fish`,
    )
    .action((shell: string) => {
      if (!(SHELLS as readonly string[]).includes(shell)) throw badRequest(`unknown shell ${shell}`, `use one of ${SHELLS.join(', ')}`);
      ctx.io.stdout.write(completionScript(shell as Shell));
    });

  program
    .command('__complete', { hidden: true })
    .argument('[words...]')
    .allowUnknownOption(true)
    .helpOption(false)
    .action(async (words: string[]) => {
      const out = await complete(program, words, ctx);
      if (out.length) ctx.io.stdout.write(out.join('\n') + '\n');
    });
}

/** Where the completion of each command's name argument comes from. */
const NAME_SOURCES: Record<string, SyncRoute<'/vms' | '/images' | '/kernels', undefined, { name: string }[]>> = {
  'vm start': ROUTES.vmList, 'vm stop': ROUTES.vmList, 'vm restart': ROUTES.vmList, 'vm kill': ROUTES.vmList, 'vm delete': ROUTES.vmList, 'vm rm': ROUTES.vmList,
  'vm pause': ROUTES.vmList, 'vm resume': ROUTES.vmList, 'vm suspend': ROUTES.vmList, 'vm fork': ROUTES.vmList,
  'vm show': ROUTES.vmList, 'vm logs': ROUTES.vmList, 'vm stats': ROUTES.vmList, 'vm set': ROUTES.vmList, 'vm ssh': ROUTES.vmList, 'vm exec': ROUTES.vmList, 'vm health': ROUTES.vmList,
  'image show': ROUTES.imageList, 'image delete': ROUTES.imageList, 'image promote': ROUTES.imageList, 'image push': ROUTES.imageList,
  'kernel show': ROUTES.kernelList, 'kernel rm': ROUTES.kernelList,
};

async function complete(program: Command, words: string[], ctx: CliContext): Promise<string[]> {
  const partial = words.length ? words[words.length - 1]! : '';
  let cmd = program;
  const path: string[] = [];
  for (const w of words.slice(0, -1)) {
    if (w.startsWith('-')) continue;
    const sub = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (!sub) break;
    cmd = sub;
    path.push(sub.name());
  }
  const cands: string[] = [];
  if (partial.startsWith('-')) {
    for (const o of [...cmd.options, ...program.options]) {
      if (o.long) cands.push(o.long);
    }
  } else {
    for (const c of cmd.commands) {
      if (c.name().startsWith('__')) continue;
      cands.push(c.name());
    }
    const source = NAME_SOURCES[path.join(' ')];
    if (source) {
      try {
        const client = new ApiClient(ctx.transport()?.forwardPath ?? ctx.layout().socketPath);
        const rows = await client.call(source, {}, undefined, { timeoutMs: 1000 });
        cands.push(...rows.map((r) => r.name));
      } catch {
        /* daemon down: nothing to add */
      }
    }
  }
  return cands.filter((c) => c.startsWith(partial)).sort();
}
