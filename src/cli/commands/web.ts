/** banger web: the web UI's URL (with the install's access token), and opening it in a browser. */
import type { Command } from 'commander';
import { BangerError } from '../../api/errors.js';
import { ROUTES } from '../../api/routes.js';
import type { WebInfo } from '../../api/types.js';
import { spawnDetached, which } from '../../system/exec.js';
import type { CliContext } from '../context.js';
import { printJson } from '../render.js';

const TURN_ON = 'add web_listen_addr = "127.0.0.1:7777" to config.toml (banger config show names the file), then banger daemon stop (the next command starts it again)';

/** The program that opens a URL: $BROWSER, else xdg-open. */
function opener(env: NodeJS.ProcessEnv): string | undefined {
  if (env.BROWSER) return env.BROWSER;
  return which('xdg-open', env.PATH);
}

export function registerWeb(program: Command, ctx: CliContext, webInfo: () => Promise<WebInfo> = async () => (await ctx.client()).call(ROUTES.web, {})): void {
  program
    .command('web')
    .description('Print the URL of the web UI (dashboard, VMs, images, live state), with its access token')
    .option('--open', 'also open it in a browser ($BROWSER, else xdg-open)')
    .addHelpText(
      'after',
      `
The daemon serves the web UI on web_listen_addr (loopback only; off when empty). The URL carries this
install's access token: opening it signs the browser in with a cookie. Treat it like a password.

Examples:
  banger web                 print the URL
  banger web --open          open it in the default browser
  banger --json web          {"enabled":true,"listenAddr":"127.0.0.1:7777","url":"http://..."}

To turn the UI on: ${TURN_ON}.`,
    )
    .action(async (opts: { open?: boolean }) => {
      const info = await webInfo();
      if (!info.enabled || !info.url) {
        if (ctx.globals.json && !opts.open) {
          printJson(ctx.io, info);
          return;
        }
        if (info.error) throw new BangerError('unavailable', `the web UI could not listen on ${info.listenAddr}: ${info.error}`, { hint: 'pick a free port for web_listen_addr in config.toml, then banger daemon stop' });
        throw new BangerError('unavailable', 'the web UI is off (web_listen_addr is empty)', { hint: TURN_ON });
      }
      if (opts.open) {
        const prog = opener(ctx.io.env);
        if (!prog) throw new BangerError('unavailable', 'no browser to open the URL with', { hint: `set BROWSER, or open it yourself: ${info.url}` });
        spawnDetached([prog, info.url], { env: ctx.io.env });
      }
      if (ctx.globals.json) printJson(ctx.io, info);
      else ctx.io.stdout.write(`${info.url}\n`);
    });
}
