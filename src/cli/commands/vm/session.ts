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
import { DEFAULT_DETACH_KEYS, describeDetachKeys, parseDetachKeys } from '../../detach-keys.js';
import { attachInteractive, inTerminal, terminalSize } from './session-attach.js';
import type { VM } from '../../../sdk/vm.js';

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
    ['terminal', s.tty ? 'yes' : 'no'], ['unit', s.unit ?? '-'], ['guest dir', s.guestDir],
  ];
  ctx.io.stdout.write(rows.map(([k, v]) => `${(k + ':').padEnd(13)}${v}`).join('\n') + '\n');
}

function detachKeysOption(v: string): string {
  parseDetachKeys(v);
  return v;
}

async function attachLines(ctx: CliContext, vm: VM, name: string, session: string, o: { tail?: boolean }) {
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
    return await vm.sessions.attach(session, { input, output: ctx.io.stdout as unknown as import('node:stream').Writable, signal: detach.signal, ...(o.tail ? { tail: true } : {}) });
  } finally {
    process.removeListener('SIGQUIT', onQuit);
    process.removeListener('SIGINT', onInt);
    ctx.io.stdin.pause();
  }
}

/** Attaches: interactive for a terminal session from a terminal, line by line otherwise. */
async function attachSession(ctx: CliContext, name: string, session: string, o: { detachKeys: string; tail?: boolean }): Promise<void> {
  const vm = await ctx.sdk().vms.get(name);
  const s = await vm.sessions.show(session);
  const interactive = Boolean(s.tty) && inTerminal(ctx);
  if (!s.tty && inTerminal(ctx) && s.state === 'running') ctx.note(ctx.err.dim(`banger: session ${session} has no terminal (start one with --tty for an interactive attach); line mode`));
  const r = interactive ? await attachInteractive(ctx, vm, session, o) : await attachLines(ctx, vm, name, session, o);
  if (ctx.globals.json) return printJson(ctx.io, r);
  ctx.note(r.reason === 'ended' ? `banger: session ${session} ended: ${stateOf(r.session)}` : `banger: detached from ${session}; it keeps running`);
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

A session started with --tty runs on a terminal in the guest; attach from your terminal is then
interactive like tmux attach: every key reaches it (Ctrl-C too), its size follows your window, and
Ctrl-] (--detach-keys) detaches while it keeps running.

Examples:
  banger vm session start dev --name web -- python3 -m http.server 8000
  banger vm session start dev --cwd /root/repo -- make watch
  banger vm session start dev -t --attach --name agent --cwd /root/repo -- claude
  banger vm session attach dev agent         interactive; Ctrl-] detaches, it keeps running
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
    .option('-t, --tty', 'run it on a terminal (your size and TERM when banger runs in one, else 24x80), for an interactive attach')
    .option('-a, --attach', 'attach right away (interactive with --tty from a terminal)')
    .option('--detach-keys <keys>', `with --attach: the keys that detach (default ${DEFAULT_DETACH_KEYS})`, detachKeysOption)
    .addHelpText(
      'after',
      `
With --tty the command sees a terminal (isatty, TERM, a window size): full-screen programs and coding
agents behave as in a local terminal, and its output (with the terminal's escape sequences) goes to the
session's output file as without.

Examples:
  banger vm session start dev --name agent --cwd /root/repo -- ./run-agent.sh
  banger vm session start dev -t -a --name agent --cwd /root/repo -- claude
  banger vm session start dev -t --name top -- top
  banger --json vm session start dev -- sleep infinity`,
    )
    .action(async (name: string, o: { name?: string; cwd?: string; tty?: boolean; attach?: boolean; detachKeys?: string }) => {
      const command = ctx.passthrough;
      if (!command?.length) throw badRequest('vm session start needs a command after --', `e.g. banger vm session start ${name} -- python3 -m http.server`);
      const term = ctx.io.env.TERM && /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/.test(ctx.io.env.TERM) && ctx.io.env.TERM !== 'dumb' ? ctx.io.env.TERM : undefined;
      const tty = o.tty ? (inTerminal(ctx) ? { ...terminalSize(ctx), ...(term ? { term } : {}) } : true) : undefined;
      const body = { command, ...(o.name !== undefined ? { name: o.name } : {}), ...(o.cwd !== undefined ? { cwd: o.cwd } : {}), ...(tty !== undefined ? { tty } : {}) };
      const s = await runOperation(ctx, ROUTES.vmSessionStart, { name }, body, { quiet: true });
      if (o.attach) return attachSession(ctx, name, s.name, { detachKeys: o.detachKeys ?? DEFAULT_DETACH_KEYS });
      if (ctx.globals.json) return printJson(ctx.io, s);
      ctx.io.stdout.write(`${s.name}\n`);
      if (s.tty) ctx.note(ctx.err.dim(`banger: attach with banger vm session attach ${name} ${s.name} (${describeDetachKeys(DEFAULT_DETACH_KEYS)} detaches)`));
      else ctx.note(ctx.err.dim(`banger: output: banger vm session logs ${name} ${s.name} -f; input: banger vm session send ${name} ${s.name} TEXT`));
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
    .description("Show a session's output live and forward your input to it; it keeps running when you detach")
    .argument('<vm>')
    .argument('<session>')
    .option('--tail', 'only what it writes from now on, not its output so far')
    .option('--detach-keys <keys>', `keys that detach an interactive attach (default ${DEFAULT_DETACH_KEYS}; e.g. ctrl-p,ctrl-q)`, detachKeysOption)
    .addHelpText(
      'after',
      `
A session started with --tty, attached from a terminal: your terminal goes raw and every key goes to
the session (Ctrl-C interrupts its program, not banger), its window follows yours, the last 32 KiB
of its output are shown first, and Ctrl-] (--detach-keys) detaches; the session keeps running.

Otherwise your terminal stays in line mode: a line goes to the session when you press Enter. Ctrl-C
sends SIGINT to the session's command; Ctrl-\\ or Ctrl-D detaches (the session keeps running).
When the session ends, attach ends with it.

Examples:
  banger vm session attach dev agent
  banger vm session attach dev agent --detach-keys ctrl-p,ctrl-q
  banger vm session attach dev repl
  banger vm session attach dev web --tail`,
    )
    .action(async (name: string, session: string, o: { tail?: boolean; detachKeys?: string }) => {
      noPassthrough(ctx);
      await attachSession(ctx, name, session, { detachKeys: o.detachKeys ?? DEFAULT_DETACH_KEYS, ...(o.tail ? { tail: true } : {}) });
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
