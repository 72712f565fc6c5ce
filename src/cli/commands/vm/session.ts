/** banger vm session ...: long-running guest commands that outlive the CLI and the daemon. */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { badRequest } from '../../../api/errors.js';
import { ROUTES } from '../../../api/routes.js';
import type { SessionInfo } from '../../../api/sessions.js';
import type { VMSignal } from '../../../api/types.js';
import { ExitStatus, type CliContext } from '../../context.js';
import { runOperation } from '../../progress.js';
import { age, printJson, table } from '../../render.js';
import { noPassthrough, signalOption } from './shared.js';

function secondsOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 3600) throw new InvalidArgumentError('give whole seconds from 0 to 3600');
  return n;
}

/** The command as a shell would read it back (for display). */
function shellJoin(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+,./:=-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function stateOf(s: SessionInfo): string {
  return s.state === 'exited' ? `exited (${s.exitStatus ?? '?'})` : s.state;
}

function sessionTable(list: SessionInfo[]): string {
  return table(
    list.map((s) => [s.name, stateOf(s), age(s.startedAt), s.endedAt ? age(s.endedAt) : '-', shellJoin(s.command)]),
    ['NAME', 'STATE', 'STARTED', 'ENDED', 'COMMAND'],
  );
}

function printSession(ctx: CliContext, s: SessionInfo): void {
  if (ctx.globals.json) return printJson(ctx.io, s);
  const rows: [string, string][] = [
    ['name', s.name], ['vm', s.vm], ['state', stateOf(s)], ['command', shellJoin(s.command)], ['cwd', s.cwd ?? '~'],
    ['started', s.startedAt], ['ended', s.endedAt ?? '-'], ['exit status', s.exitStatus !== undefined ? String(s.exitStatus) : '-'],
    ['unit', s.unit ?? '-'], ['guest dir', s.guestDir],
  ];
  ctx.io.stdout.write(rows.map(([k, v]) => `${(k + ':').padEnd(13)}${v}`).join('\n') + '\n');
}

export function registerSession(vm: Command, ctx: CliContext): void {
  const group = vm
    .command('session')
    .description('Long-running commands in a VM that survive the CLI and the daemon: start, list, logs, send, attach, stop')
    .addHelpText(
      'after',
      `
A session runs in the guest as a systemd unit (banger-session-NAME) with its stdout and stderr in
~/.cache/banger/sessions/NAME/output, its stdin a FIFO there, and its exit status written there when
it ends; banger's store records it. The VM must be running for every verb but list, show and rm.

Examples:
  banger vm session start dev --name web -- python3 -m http.server 8000
  banger vm session start dev --cwd /root/repo -- make watch
  banger vm session list dev
  banger vm session logs dev web -f           follow until it ends (Ctrl-C stops following)
  banger vm session send dev web "print(1)"   one line to its stdin
  banger vm session attach dev web            output and input live; Ctrl-\\ detaches
  banger vm session stop dev web              SIGTERM, SIGKILL after 10 s
  banger vm session rm dev web`,
    );

  group
    .command('start')
    .description('Start a command in the guest that keeps running after banger exits')
    .argument('<vm>')
    .option('--name <name>', 'session name (lowercase a-z, 0-9, -; default: generated)')
    .option('--cwd <dir>', "working directory in the guest (default: root's home)")
    .addHelpText('after', '\nExamples:\n  banger vm session start dev --name agent --cwd /root/repo -- ./run-agent.sh\n  banger --json vm session start dev -- sleep infinity')
    .action(async (name: string, o: { name?: string; cwd?: string }) => {
      const command = ctx.passthrough;
      if (!command?.length) throw badRequest('vm session start needs a command after --', `e.g. banger vm session start ${name} -- python3 -m http.server`);
      const s = await runOperation(ctx, ROUTES.vmSessionStart, { name }, { command, ...(o.name !== undefined ? { name: o.name } : {}), ...(o.cwd !== undefined ? { cwd: o.cwd } : {}) }, { quiet: true });
      if (ctx.globals.json) return printJson(ctx.io, s);
      ctx.io.stdout.write(`${s.name}\n`);
      ctx.note(ctx.err.dim(`banger: output: banger vm session logs ${name} ${s.name} -f; input: banger vm session send ${name} ${s.name} TEXT`));
    });

  group
    .command('list')
    .alias('ls')
    .description("A VM's sessions and their state (read from the guest when it runs)")
    .argument('<vm>')
    .action(async (name: string) => {
      noPassthrough(ctx);
      const list = await (await ctx.client()).call(ROUTES.vmSessionList, { name });
      if (ctx.globals.json) return printJson(ctx.io, list);
      ctx.io.stdout.write(list.length === 0 ? `no sessions in ${name}\n` : sessionTable(list) + '\n');
    });

  group
    .command('show')
    .description('One session in detail')
    .argument('<vm>')
    .argument('<session>')
    .action(async (name: string, session: string) => {
      noPassthrough(ctx);
      printSession(ctx, await (await ctx.client()).call(ROUTES.vmSessionShow, { name, session }));
    });

  group
    .command('logs')
    .description("Print a session's output (stdout and stderr together)")
    .argument('<vm>')
    .argument('<session>')
    .option('-f, --follow', 'keep printing until the session ends')
    .action(async (name: string, session: string, o: { follow?: boolean }) => {
      noPassthrough(ctx);
      const vm = await ctx.sdk().vms.get(name);
      const stop = new AbortController();
      const onSigint = () => stop.abort();
      process.once('SIGINT', onSigint);
      try {
        const s = await vm.sessions.logs(session, { follow: Boolean(o.follow), signal: stop.signal });
        const copy = async (from: AsyncIterable<Buffer>, to: NodeJS.WritableStream) => {
          for await (const chunk of from) to.write(chunk);
        };
        const [status] = await Promise.all([s.exit.catch((err: unknown) => {
            if (stop.signal.aborted) return 0;
            throw err;
          }), copy(s.stdout, ctx.io.stdout), copy(s.stderr, ctx.io.stderr)]);
        if (status !== 0) throw new ExitStatus(1);
      } finally {
        process.removeListener('SIGINT', onSigint);
      }
    });

  group
    .command('send')
    .description("Write a line to a session's stdin (without TEXT: banger's own stdin, as is)")
    .argument('<vm>')
    .argument('<session>')
    .argument('[text]')
    .option('-n, --no-newline', 'do not add a newline after TEXT')
    .addHelpText('after', '\nExamples:\n  banger vm session send dev repl "print(6*7)"\n  printf "a\\nb\\n" | banger vm session send dev repl')
    .action(async (name: string, session: string, text: string | undefined, o: { newline: boolean }) => {
      noPassthrough(ctx);
      const vm = await ctx.sdk().vms.get(name);
      let data: string | Buffer;
      if (text !== undefined) data = o.newline ? `${text}\n` : text;
      else {
        const chunks: Buffer[] = [];
        for await (const c of ctx.io.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
        data = Buffer.concat(chunks);
      }
      await vm.sessions.send(session, data);
    });

  group
    .command('attach')
    .description('Show a session\'s output live and forward your input to it; Ctrl-\\ (or end of input) detaches, it keeps running')
    .argument('<vm>')
    .argument('<session>')
    .option('--tail', 'only what it writes from now on, not its output so far')
    .addHelpText(
      'after',
      `
Your terminal stays in line mode: a line goes to the session when you press Enter. Ctrl-C sends
SIGINT to the session's command; Ctrl-\\ or Ctrl-D detaches (the session keeps running). When the
session ends, attach ends with it.

Examples:
  banger vm session attach dev repl
  banger vm session attach dev web --tail`,
    )
    .action(async (name: string, session: string, o: { tail?: boolean }) => {
      noPassthrough(ctx);
      const vm = await ctx.sdk().vms.get(name);
      const detach = new AbortController();
      const onQuit = () => detach.abort();
      const onInt = () => {
        void vm.sessions.kill(session, 'SIGINT').catch(() => undefined);
      };
      process.on('SIGQUIT', onQuit);
      process.on('SIGINT', onInt);
      if (ctx.io.stdin.isTTY) ctx.note(ctx.err.dim(`banger: attached to ${session} in ${name}; Ctrl-\\ detaches, Ctrl-C interrupts it`));
      try {
        const input = ctx.io.stdin as unknown as import('node:stream').Readable;
        const r = await vm.sessions.attach(session, { input, output: ctx.io.stdout as unknown as import('node:stream').Writable, signal: detach.signal, ...(o.tail ? { tail: true } : {}) });
        if (ctx.globals.json) return printJson(ctx.io, r);
        ctx.note(r.reason === 'ended' ? `banger: session ${session} ended: ${stateOf(r.session)}` : `banger: detached from ${session}; it keeps running`);
      } finally {
        process.removeListener('SIGQUIT', onQuit);
        process.removeListener('SIGINT', onInt);
        ctx.io.stdin.pause();
      }
    });

  group
    .command('stop')
    .description('SIGTERM the session, SIGKILL after the timeout; prints its exit status')
    .argument('<vm>')
    .argument('<session>')
    .option('-t, --timeout <seconds>', 'seconds to wait before SIGKILL (default 10)', secondsOption)
    .action(async (name: string, session: string, o: { timeout?: number }) => {
      noPassthrough(ctx);
      const s = await runOperation(ctx, ROUTES.vmSessionStop, { name, session }, o.timeout !== undefined ? { timeoutSeconds: o.timeout } : {}, { quiet: true });
      if (ctx.globals.json) return printJson(ctx.io, s);
      ctx.io.stdout.write(`${s.name} ${stateOf(s)}\n`);
    });

  group
    .command('kill')
    .description("Send a signal to the session's command (default SIGKILL)")
    .argument('<vm>')
    .argument('<session>')
    .option('-s, --signal <signal>', 'signal to send', signalOption, 'SIGKILL')
    .action(async (name: string, session: string, o: { signal: VMSignal }) => {
      noPassthrough(ctx);
      const s = await runOperation(ctx, ROUTES.vmSessionKill, { name, session }, { signal: o.signal }, { quiet: true });
      if (ctx.globals.json) return printJson(ctx.io, s);
      ctx.io.stdout.write(`${s.name} ${stateOf(s)}\n`);
    });

  group
    .command('rm')
    .description('Forget a session that has ended and remove its files in the guest')
    .argument('<vm>')
    .argument('<session>')
    .action(async (name: string, session: string) => {
      noPassthrough(ctx);
      const r = await (await ctx.client()).call(ROUTES.vmSessionDelete, { name, session });
      if (ctx.globals.json) return printJson(ctx.io, r);
      ctx.io.stdout.write(`${r.deleted}\n`);
    });
}
