/** banger context create|ls|use|rm|show: which daemon (local, or remote over ssh://) the commands drive. */
import type { Command } from 'commander';
import { ApiClient } from '../../api/client.js';
import { tryPing } from '../../api/daemon-status.js';
import { BangerError, badRequest } from '../../api/errors.js';
import type { CliContext } from '../context.js';
import { contextDirs } from '../../sdk/contexts/resolve.js';
import { SshTransport } from '../../sdk/contexts/ssh-transport.js';
import { checkContextName, checkSshOption, DEFAULT_CONTEXT, parseSshUrl, readContexts, writeContexts, type StoredContext } from '../../sdk/contexts/store.js';
import { printJson, table } from '../render.js';

interface Row {
  name: string;
  current: boolean;
  host: string;
  socket?: string;
  reachable: boolean;
  running: boolean;
  version?: string;
  error?: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerContext(program: Command, ctx: CliContext): void {
  const context = program
    .command('context')
    .description('Manage contexts: the local daemon (default) or a remote one over ssh')
    .addHelpText(
      'after',
      `
A context names the daemon banger drives. "default" is the local one; an ssh:// context reaches bangerd
on another host through the system ssh (your ssh config, agent, known_hosts and ProxyJump apply), starting
it there on demand. Choose per command with --context NAME or BANGER_CONTEXT, or for good with context use.

Examples:
  banger context create big --host ssh://me@big.example.com
  banger context create lab --host ssh://lab:2222 --ssh-option IdentityFile=~/.ssh/id_lab
  banger context use big            every command now drives big's daemon
  banger --context default vm list  the local daemon, once
  banger context ls                 which exist, which answer, their daemon versions`,
    );

  context
    .command('create')
    .description('Add a context for a daemon on another host (ssh://[user@]host[:port])')
    .argument('<name>')
    .requiredOption('--host <url>', 'ssh://[user@]host[:port]')
    .option('--socket <path>', 'the daemon socket on that host (default: what banger daemon start there reports)')
    .option('--ssh-option <KEY=VALUE>', 'an ssh_config option for this host (repeatable), e.g. IdentityFile=~/.ssh/id_big', collect)
    .option('--use', 'make it the current context')
    .action((name: string, opts: { host: string; socket?: string; sshOption?: string[]; use?: boolean }) => {
      // The root command also has --socket and commander may hand the value to it.
      const socket = opts.socket ?? ctx.globals.socket;
      const o = { ...opts, ...(socket ? { socket } : {}) };
      if (name === DEFAULT_CONTEXT) throw badRequest('"default" is the local daemon and cannot be created', 'pick another name');
      checkContextName(name);
      parseSshUrl(o.host);
      if (o.socket !== undefined && !o.socket.startsWith('/')) throw badRequest(`--socket ${o.socket} is not an absolute path`, 'give the socket path on the remote host, e.g. /run/banger/bangerd.sock');
      for (const opt of o.sshOption ?? []) checkSshOption(opt);
      const { configDir } = contextDirs(ctx.io.env);
      const file = readContexts(configDir);
      if (file.contexts[name]) throw new BangerError('already_exists', `context ${name} already exists`, { hint: `banger context rm ${name} first, or pick another name` });
      const entry: StoredContext = { host: o.host, ...(o.socket ? { socket: o.socket } : {}), ...(o.sshOption?.length ? { sshOptions: o.sshOption } : {}) };
      file.contexts[name] = entry;
      if (o.use) file.current = name;
      writeContexts(configDir, file);
      if (ctx.globals.json) printJson(ctx.io, { name, ...entry, current: Boolean(o.use) });
      else ctx.io.stdout.write(`context ${name} created (${o.host})${o.use ? '; it is now the current context' : `; use it with banger context use ${name}`}\n`);
    });

  context
    .command('list')
    .alias('ls')
    .description('List contexts: the current one marked, whether each daemon answers, and its version')
    .action(async () => {
      const { configDir, runtimeDir } = contextDirs(ctx.io.env);
      const file = readContexts(configDir);
      const current = ctx.context().name;
      const local = async (): Promise<Row> => {
        const ping = await tryPing(new ApiClient(ctx.layout().socketPath), 2000);
        return { name: DEFAULT_CONTEXT, current: current === DEFAULT_CONTEXT, host: 'local', socket: ctx.layout().socketPath, reachable: true, running: Boolean(ping), ...(ping ? { version: ping.version } : {}) };
      };
      const remote = async (name: string, c: StoredContext): Promise<Row> => {
        const p = await new SshTransport({ name, ...c }, runtimeDir, ctx.io.env).probe();
        return { name, current: current === name, host: c.host, ...(c.socket ? { socket: c.socket } : {}), ...p };
      };
      const rows = await Promise.all([local(), ...Object.entries(file.contexts).sort(([a], [b]) => a.localeCompare(b)).map(([n, c]) => remote(n, c))]);
      if (ctx.globals.json) {
        printJson(ctx.io, rows);
        return;
      }
      const status = (r: Row) => (!r.reachable ? 'unreachable' : r.running ? 'running' : 'not running');
      ctx.io.stdout.write(table(rows.map((r) => [r.current ? '*' : '', r.name, r.host, status(r), r.version ?? '-']), ['', 'NAME', 'HOST', 'DAEMON', 'VERSION']));
      for (const r of rows) if (r.error) ctx.note(ctx.err.dim(`${r.name}: ${r.error}`));
    });

  context
    .command('use')
    .description('Make a context the current one ("default" for the local daemon)')
    .argument('<name>')
    .action((name: string) => {
      const { configDir } = contextDirs(ctx.io.env);
      const file = readContexts(configDir);
      if (name !== DEFAULT_CONTEXT) {
        checkContextName(name);
        if (!file.contexts[name]) throw new BangerError('not_found', `context ${name} does not exist`, { hint: 'banger context ls lists them' });
        file.current = name;
      } else delete file.current;
      writeContexts(configDir, file);
      if (ctx.globals.json) printJson(ctx.io, { current: name });
      else ctx.io.stdout.write(`current context: ${name}\n`);
    });

  context
    .command('rm')
    .alias('remove')
    .description('Remove a context (and close its ssh connection)')
    .argument('<name>')
    .action(async (name: string) => {
      if (name === DEFAULT_CONTEXT) throw badRequest('the default context (the local daemon) cannot be removed');
      checkContextName(name);
      const { configDir, runtimeDir } = contextDirs(ctx.io.env);
      const file = readContexts(configDir);
      const entry = file.contexts[name];
      if (!entry) throw new BangerError('not_found', `context ${name} does not exist`, { hint: 'banger context ls lists them' });
      delete file.contexts[name];
      const wasCurrent = file.current === name;
      if (wasCurrent) delete file.current;
      writeContexts(configDir, file);
      await new SshTransport({ name, ...entry }, runtimeDir, ctx.io.env).close();
      if (ctx.globals.json) printJson(ctx.io, { removed: name, current: file.current ?? DEFAULT_CONTEXT });
      else ctx.io.stdout.write(`context ${name} removed${wasCurrent ? '; the current context is default again' : ''}\n`);
    });

  context
    .command('show')
    .description('Show the context in effect and where the choice came from')
    .action(() => {
      const sel = ctx.context();
      const from = { flag: '--context', env: 'BANGER_CONTEXT', file: 'banger context use', default: 'no context chosen' }[sel.source];
      const info = { name: sel.name, source: sel.source, host: sel.remote?.host ?? 'local', ...(sel.remote?.socket ? { socket: sel.remote.socket } : {}), ...(sel.remote?.sshOptions ? { sshOptions: sel.remote.sshOptions } : {}) };
      if (ctx.globals.json) printJson(ctx.io, info);
      else ctx.io.stdout.write(`context: ${sel.name} (${from})\nhost:    ${info.host}\n${info.socket ? `socket:  ${info.socket}\n` : ''}${sel.remote?.sshOptions?.length ? `ssh:     ${sel.remote.sshOptions.join(' ')}\n` : ''}`);
    });
}
